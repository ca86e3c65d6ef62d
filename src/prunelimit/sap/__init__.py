"""SAP and the PQ Index (Diao, Wang, Zhang, Yang, Ding, Tarokh, ICLR 2023).

- :mod:`~prunelimit.sap.pqi`: the PQ Index ``I_{p,q}`` and its pruning bound;
- :mod:`~prunelimit.sap.strategies`: the strategy interface and registry (``sap``, ``lt``, ``os``);
- :mod:`~prunelimit.sap.iterative`: the rewind-train-prune driver that runs any registered
  strategy.
"""
