"""Linear-region-guided layer sparsity on a trained ReLU MLP (Cai et al., CPAIOR 2023).

The bound and the density allocation are in :mod:`prunelimit.regions.bound` (no torch); here the
allocations become masks (:mod:`prunelimit.pruning`, one tie rule) and are compared after
masked fine-tuning. The linear regions of each pruned network on a plane of the input space
are counted exactly, as Cai et al. count them on a plane through three data points
(:func:`~prunelimit.partition.exact.exact_partition`), and, beside them, as the distinct codes
of the plane's grid points (the early-bird stage's sampling, which misses regions narrower
than its step).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from prunelimit.partition.codes import distinct_codes, partition_bits
from prunelimit.partition.exact import try_exact
from prunelimit.pruning import Masks, apply_masks, global_magnitude_masks, layer_magnitude_masks
from prunelimit.regions.bound import (
    ALLOCATIONS,
    allocate,
    hidden_sizes,
    kept_counts,
    log_region_bound,
)
from prunelimit.training.loop import evaluate, fit

if TYPE_CHECKING:
    from prunelimit.config.settings import TrainSettings
    from prunelimit.data import DatasetSplits
    from prunelimit.partition.plane import Plane

# beyond: the exact count is NaN (the grid's is kept). FC5's 1.26 M regions on the MNIST-1D
# plane take ~160 s and 1.6 GB with the geometry kept; counts alone keep one chunk in memory.
MAX_REGIONS = 2_000_000


def mlp_dims(model: nn.Module) -> tuple[int, list[int], list[str]]:
    """(n_0, hidden widths, hidden weight names) of an MLP: its Linear layers in order, all but
    the last followed by a ReLU. Raises ValueError for any other architecture."""
    mods = list(model.named_modules())
    linear = [(n, m) for n, m in mods if isinstance(m, nn.Linear)]
    allowed = (nn.Linear, nn.ReLU, nn.Flatten, nn.Sequential)
    others = [n for n, m in mods[1:] if not isinstance(m, allowed)]
    relus = sum(isinstance(m, nn.ReLU) for _, m in mods)
    if others or len(linear) < 2 or relus != len(linear) - 1:
        raise ValueError("the linear-region bound needs a plain ReLU MLP (Linear/ReLU layers)")
    n0 = linear[0][1].in_features
    widths = [m.out_features for _, m in linear[:-1]]
    return n0, widths, [f"{n}.weight" for n, _ in linear[:-1]]


def allocation_masks(
    weights: dict[str, torch.Tensor], n0: int, widths: Sequence[int], rho: float, allocation: str
) -> tuple[Masks, np.ndarray, float]:
    """Masks of the hidden weights at global density ``rho`` for ``allocation``:
    ``bound`` (maximise the region bound), ``uniform`` (same density per layer) or ``global``
    (global magnitude ranking over the hidden weights). Returns (masks, realised densities,
    log bound at the realised densities)."""
    sizes = hidden_sizes(n0, widths)
    total = int(round(rho * sum(sizes)))
    if allocation == "global":
        masks = global_magnitude_masks(weights, total)
    elif allocation in ("uniform", "bound"):
        dens = np.full(len(sizes), rho) if allocation == "uniform" else allocate(n0, widths, rho)[0]
        masks = layer_magnitude_masks(weights, kept_counts(dens, sizes, total))
    else:
        raise ValueError(f"allocation must be bound, uniform or global, got {allocation!r}")
    realised = np.array([float(m.float().mean()) for m in masks.values()])
    return masks, realised, log_region_bound(n0, widths, realised)


def compare_allocations(
    model: nn.Module,
    data: DatasetSplits,
    densities: Sequence[float],
    finetune: TrainSettings,
    seed: int,
    allocations: Sequence[str] = ALLOCATIONS,
    plane: Plane | None = None,
) -> list[dict]:
    """Prune the trained MLP ``model`` to each global density of its hidden weights with each
    allocation (layer-wise magnitude within a layer; ``global``: one magnitude ranking), the
    output layer left dense; then fine-tune with the masks held (``finetune``: a
    :class:`~prunelimit.config.settings.TrainSettings`, ``epochs = 0`` for none; the data order of
    every run is seeded with ``seed``, the same for all allocations). One row per (density,
    allocation) with the realised per-layer densities, the log bound, and accuracies before
    (``oneshot_*``) and after (``*``) fine-tuning. With ``plane`` (a
    :class:`~prunelimit.partition.plane.Plane`), also the linear regions on it, before and
    after: ``regions`` counted exactly (NaN beyond :data:`MAX_REGIONS`), ``grid_regions`` the
    distinct codes of its grid points."""
    n0, widths, names = mlp_dims(model)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    counter = None if plane is None else _PlaneCounter(plane)
    rows = []
    for rho in densities:
        for allocation in allocations:
            model.load_state_dict(start)
            params = dict(model.named_parameters())
            weights = {n: params[n].detach() for n in names}
            masks, realised, log_bound = allocation_masks(weights, n0, widths, rho, allocation)
            apply_masks(model, masks)
            row = {
                "rho": rho,
                "allocation": allocation,
                "kept": sum(int(m.sum()) for m in masks.values()),
            }
            row["hidden_weights"] = int(sum(hidden_sizes(n0, widths)))
            row["log_bound"] = log_bound
            oneshot = _accuracies(model, data, counter, "oneshot_", train=False)
            regions = {k: oneshot.pop(k) for k in list(oneshot) if k.endswith("regions")}
            row.update(oneshot)
            row.update({f"density_{i + 1}": float(p) for i, p in enumerate(realised)})
            row.update(regions)  # the columns in their order: accuracies, densities, regions
            if finetune.epochs > 0:
                fit(model, data, finetune, seed=seed, masks=masks, log=lambda _msg: None)
            row.update(_accuracies(model, data, counter, "", train=True))
            print(
                f"rho {rho:.4f} {allocation:7s} densities {np.round(realised, 4).tolist()} "
                f"log bound {log_bound:.3f} test acc {row['oneshot_test_acc']:.4f} -> "
                f"{row['test_acc']:.4f}"
                + (f", regions {row['oneshot_regions']} -> {row['regions']}" if counter else ""),
                flush=True,
            )
            rows.append(row)
    model.load_state_dict(start)
    return rows


def _accuracies(
    model: nn.Module, data: DatasetSplits, counter: _PlaneCounter | None, prefix: str, train: bool
) -> dict:
    """``model``'s accuracies (validation NaN without a validation split), with ``train`` its
    training loss and accuracy, and with ``counter`` its linear regions on the plane (exact and
    on the grid); each key after ``prefix``."""
    out = {}
    if train:
        out["train_loss"], out["train_acc"] = evaluate(model, data.train)
    out["val_acc"] = evaluate(model, data.val)[1] if len(data.val) else math.nan
    out["test_acc"] = evaluate(model, data.test)[1]
    if counter is not None:
        out["regions"], out["grid_regions"] = counter.count(model)
    return {prefix + k: v for k, v in out.items()}


class _PlaneCounter:
    """Counts a network's linear regions on a plane, exactly and on its grid; a network whose
    parameters were counted before (the same masks and fine-tuning, e.g. the bound and uniform
    allocations at equal densities) is not enumerated again."""

    def __init__(self, plane: Plane):
        self.plane, self.inputs, self.seen = plane, plane.inputs(), {}

    def count(self, model: nn.Module) -> tuple[float, int]:
        """(exact count, NaN beyond :data:`MAX_REGIONS`; distinct codes on the grid)."""
        digest = hashlib.sha256()
        for v in model.state_dict().values():
            digest.update(v.detach().cpu().contiguous().numpy().tobytes())
        key = digest.hexdigest()
        if key not in self.seen:
            plane = self.plane
            exact, _ = try_exact(model, plane.anchors, plane.margin, MAX_REGIONS, geometry=False)
            bits = [b.numpy() for b in partition_bits(model, self.inputs)]
            self.seen[key] = (math.nan if exact is None else exact.regions, distinct_codes(bits))
        return self.seen[key]
