"""Neural tangent kernel (NTK) of randomly pruned ReLU networks (Yang & Wang, AISTATS 2023), in
the NTK parametrisation of Arora et al. (2019):

- :mod:`~prunelimit.ntk.analytic`: the dense infinite-width limit and its scaling under pruning;
- :mod:`~prunelimit.ntk.network`: the pruned MLP, its weights and masks;
- :mod:`~prunelimit.ntk.kernels`: empirical NTKs;
- :mod:`~prunelimit.ntk.sweep`: seeded sweeps over width, pruning probability and draws;
- :mod:`~prunelimit.ntk.width` (no torch): the width needed for a tolerance, swept and fitted.

Each module states its conventions. Nothing is imported here, so the torch-free module stays
torch-free.
"""
