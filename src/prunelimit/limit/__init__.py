"""The fundamental pruning limit (Zhang, Zhang, Sun, Liu, NeurIPS 2024) and its interpretations
of pruning heuristics.

- :mod:`~prunelimit.limit.prediction`: the prediction of a network: its Hessian spectrum,
  ``eps`` and ``rho_th`` with every input; the Hessian rows at the magnitude thresholds;
- :mod:`~prunelimit.limit.actual`: the actual limit by one-shot magnitude pruning under its
  three criteria, and the local model along that path;
- :mod:`~prunelimit.limit.theory`: ``R(rho)``, ``delta``, ``rho_th`` and its bounds;
- :mod:`~prunelimit.limit.search`: the actual limit on a kept-ratio grid;
- :mod:`~prunelimit.limit.regime`: the l1 drift budget and the ``in_regime`` rule (what the
  weights alone show for weights trained elsewhere);
- :mod:`~prunelimit.limit.hessian_rows`: the Hessian rows of the weights at the thresholds;
- :mod:`~prunelimit.limit.local_model`: the loss's local model along the pruning path;
- :mod:`~prunelimit.limit.gradual`, :mod:`~prunelimit.limit.gradual_plan` (no torch): gradual
  pruning through the limit, on the SAP stage's Lottery Ticket run;
- :mod:`~prunelimit.limit.lomp`: LOMP beside the iterative methods;
- :mod:`~prunelimit.limit.weights` (no torch): the weights' magnitude distribution, the distance
  between seeds, where a kept ratio cuts it;
- :mod:`~prunelimit.limit.paper` (no torch): the paper's published numbers.

Nothing is imported here, so the torch-free modules stay torch-free.
"""
