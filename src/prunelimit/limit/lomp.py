"""LOMP beside the iterative methods: the l1-trained network, one-shot magnitude pruned.

Zhang et al. (NeurIPS 2024) compare LOMP (l1 training + one-shot global magnitude pruning, no
retraining) with iterative pruning at matched sparsity. Here LOMP's test accuracy is read at
the remaining-weight levels where the SAP stage compares SAP, Lottery Ticket and One Shot, from
the l1 network's actual-limit curve (``limit.json``, ``l1.curve``: rows of ``rho`` and
``test_acc`` of :func:`prunelimit.limit.actual.pruning_curve`, the same pruning masks and
evaluation). A level is taken from the curve when a row has its exact kept count, linearly
interpolated in ``rho`` between the two rows around it when they are within ``bracket``
(relative) of each other, and otherwise evaluated anew: the same global magnitude masks
(:func:`prunelimit.pruning.magnitude_path`) and the same test-split evaluation as the curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from prunelimit.data import DatasetSplits
from prunelimit.pruning import keep_count, magnitude_path, masked, prunable_weights
from prunelimit.training.loop import evaluate

# Interpolate between two curve rows only when they are this close (relative, in rho)
BRACKET = 0.02


def lomp_levels(levels: list[float], lt_rate: float, iterations: int) -> list[float]:
    """Percent-remaining levels LOMP is read at: the table's ``levels`` and the One Shot /
    Lottery Ticket schedule ``100 (1 - lt_rate)^t``, ``t = 0..T`` (the figure's x positions of
    the iterative methods), largest first, duplicates (to 1e-9) once."""
    values = [float(v) for v in levels] + [
        100.0 * (1.0 - lt_rate) ** t for t in range(iterations + 1)
    ]
    out: list[float] = []
    for v in sorted(values, reverse=True):
        if not out or abs(out[-1] - v) > 1e-9 * max(1.0, v):
            out.append(v)
    return out


def from_curve(curve: list[dict], keep: int, D: int, bracket: float = BRACKET) -> dict | None:
    """``test_acc`` at ``keep`` kept weights from the curve rows (``rho = kept / D``): the row
    with that kept count (``source: curve``), or the linear interpolation in ``rho`` between the
    nearest rows below and above when ``rho_hi / rho_lo - 1 <= bracket`` (``interpolated``);
    None when the curve does not bracket it that closely."""
    rows = sorted(curve, key=lambda r: r["rho"])
    kept = [int(round(r["rho"] * D)) for r in rows]
    if keep in kept:
        row = rows[kept.index(keep)]
        return {"test_acc": float(row["test_acc"]), "source": "curve"}
    below = [i for i, k in enumerate(kept) if k < keep]
    above = [i for i, k in enumerate(kept) if k > keep]
    if not below or not above:
        return None
    lo, hi = rows[below[-1]], rows[above[0]]
    if lo["rho"] <= 0 or hi["rho"] / lo["rho"] - 1 > bracket:
        return None
    t = (keep / D - lo["rho"]) / (hi["rho"] - lo["rho"])
    acc = (1 - t) * float(lo["test_acc"]) + t * float(hi["test_acc"])
    return {"test_acc": acc, "source": "interpolated"}


def one_shot_test(model: nn.Module, data: DatasetSplits) -> Callable[[int], dict]:
    """``f(keep)``: test loss and accuracy of ``model`` with only its ``keep`` largest-magnitude
    prunable weights (global, as the limit curve), weights restored after each call."""
    path = magnitude_path({n: w.detach() for n, w in prunable_weights(model).items()})

    def measure(keep: int) -> dict:
        with masked(model, path(keep)):
            loss, acc = evaluate(model, data.test)
        return {"test_loss": loss, "test_acc": acc, "source": "evaluated"}

    return measure


def lomp_records(
    model: nn.Module,
    data: DatasetSplits,
    curve: list[dict],
    levels: list[float],
    bracket: float = BRACKET,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """LOMP's test accuracy at each percent-remaining level (largest first), one record per
    level in the SAP records' columns: ``iteration`` (the level's index), ``kept``,
    ``percent``, ``test_acc`` (``test_loss`` where evaluated, else NaN), ``source``
    (``curve``, ``interpolated`` or ``evaluated``)."""
    D = sum(w.numel() for w in prunable_weights(model).values())
    measure = one_shot_test(model, data)
    records = []
    for i, level in enumerate(sorted(levels, reverse=True)):
        keep = keep_count(level / 100.0, D)
        got = from_curve(curve, keep, D, bracket) or measure(keep)
        records.append(
            {
                "iteration": i,
                "kept": keep,
                "percent": 100.0 * keep / D,
                "test_loss": got.get("test_loss", math.nan),
                "test_acc": got["test_acc"],
                "source": got["source"],
            }
        )
        log(f"[lomp] {100 * keep / D:.3f} % kept: test acc {got['test_acc']:.4f} ({got['source']})")
    return records
