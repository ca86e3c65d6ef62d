"""Linear-region-guided layer sparsity (Cai et al., CPAIOR 2023).

- :mod:`~prunelimit.regions.bound` (no torch): the rank-aware bound on the linear regions of a
  sparse ReLU MLP and the density allocation that maximises it;
- :mod:`~prunelimit.regions.sparsity`: the allocations as masks, fine-tuned and compared;
- :mod:`~prunelimit.regions.stage`: the region stage of an experiment's dense MLP.
"""
