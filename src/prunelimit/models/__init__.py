"""Networks: the registry's architectures and any ``nn.Module`` by import path.

- :mod:`~prunelimit.models.registry`: ``MODELS`` and :func:`build_model` (a registry name or an
  import path), the one way a network is built;
- :mod:`~prunelimit.models.networks`: the registry's architectures and their initialisation;
- :mod:`~prunelimit.models.import_path`: any ``nn.Module`` by import path, checked.
"""
