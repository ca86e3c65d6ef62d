"""A config: its schema, its typed settings and their defaults, its validation, its kinds.

- :mod:`~prunelimit.config.schema`: the JSON schema and its errors, each naming the key;
- :mod:`~prunelimit.config.settings`: the typed settings of every section, the one source of
  every default;
- :mod:`~prunelimit.config.validate`: a config validated once (schema, then every rule a schema
  cannot express) into its settings; the files it names;
- :mod:`~prunelimit.config.kinds`: the kinds of network an experiment trains (``dense``, ``l1``,
  ``l2``) and the training settings of each;
- :mod:`~prunelimit.config.docs`: ``config/README.md``'s key tables, generated;
- :mod:`~prunelimit.config.rehearsal`: the paper grid shrunk to a CPU rehearsal.

No torch in this package: the workflow reads it when it parses a config.
"""
