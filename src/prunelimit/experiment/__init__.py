"""The glue between a config's experiments and the library, for the workflow's scripts: no
science here.

- :mod:`~prunelimit.experiment.runs`: train, import, reload and prune an experiment's networks
  (dense, l1, l2) for one seed, and write a run's outputs;
- :mod:`~prunelimit.experiment.checks`: the import-path models of a config, built and run on
  one batch before any job.
"""
