"""Neural tangent kernel (NTK) of randomly pruned ReLU networks (Yang & Wang, AISTATS 2023), in
the NTK parametrisation of Arora et al. (2019): :mod:`~prunelimit.ntk.analytic` (the dense
infinite-width limit and its scaling under pruning), :mod:`~prunelimit.ntk.network` (the pruned
MLP, its weights and masks), :mod:`~prunelimit.ntk.kernels` (empirical NTKs),
:mod:`~prunelimit.ntk.sweep` (seeded sweeps over width, pruning probability and draws) and
:mod:`~prunelimit.tables.ntk` (width needed, deviation table, summary numbers; no torch); each
module states its conventions, and every public name is re-exported here.
"""

from prunelimit.ntk.analytic import analytic_ntk, analytic_ntk_gram, limit_scale, two_unit_inputs
from prunelimit.ntk.kernels import Mode, empirical_ntk, mlp_ntk, naive_ntk, ntk_from_fn
from prunelimit.ntk.network import (
    PrunedMLP,
    derive_seed,
    init_weights,
    kept_fraction,
    pruned_mlp,
    random_masks,
)
from prunelimit.ntk.sweep import Method, gram_distances, ntk_sweep, real_input_scale
from prunelimit.tables.ntk import (
    deviation_caption,
    deviation_table,
    sweep_summary,
    width_needed,
    width_needed_fit,
)

__all__ = [
    "Method",
    "Mode",
    "PrunedMLP",
    "analytic_ntk",
    "analytic_ntk_gram",
    "derive_seed",
    "deviation_caption",
    "deviation_table",
    "empirical_ntk",
    "gram_distances",
    "init_weights",
    "kept_fraction",
    "limit_scale",
    "mlp_ntk",
    "naive_ntk",
    "ntk_from_fn",
    "ntk_sweep",
    "pruned_mlp",
    "random_masks",
    "real_input_scale",
    "sweep_summary",
    "two_unit_inputs",
    "width_needed",
    "width_needed_fit",
]
