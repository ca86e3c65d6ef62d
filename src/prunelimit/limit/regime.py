"""Is an l1-trained network in the regime where the pruning limit is decided by the loss?

Derivation (ours; docs/theory.md, "The l1 regime"). Plain SGD on ``L + lambda ||w||_1`` moves a
weight by ``lr_t * lambda`` per step through the l1 subgradient, ``lr_t * lambda / (1 - mu)`` at
the steady state of momentum ``mu``. Over the whole run a weight can therefore drift towards zero
by at most the **drift budget**

    drift = sum_over_steps lr_t * lambda / (1 - mu)

(the schedule enters through ``lr_t``: warm-up, cosine, multistep). Only weights that the loss
does not defend and whose initial magnitude is below about ``drift`` can reach zero. With
Kaiming-normal init a layer's weights are ``N(0, s^2)``, ``s = sqrt(2 / fan_in)``, so a cut at
the drift keeps the fraction ``2 (1 - Phi(drift / s))`` of them: the **drift-cut kept ratio**
``drift_kept`` (over all prunable weights, each layer weighted by its size) is the kept ratio
the budget alone would allow.

Verdict (our rule): a run is ``in_regime`` when ``drift_kept <= MAX_DRIFT_KEPT`` (1 %: the budget
could bring at least 99 % of the weights to zero, so any limit above 1 % is set by the loss, not
by how far the weights could move; the paper's limits are 0.8-4.3 %) **and** the l1 objective
(cross-entropy + l1 term) has plateaued (the plateau test of training). The first condition
needs only the settings and the architecture, so it can be checked before training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from prunelimit.pruning import prunable_weights

#: the largest drift-cut kept ratio (fraction of D) of a run in the regime
MAX_DRIFT_KEPT = 0.01
#: magnitude below which a weight counts as zero in ``near_zero``
NEAR_ZERO = 1e-3


def drift_budget(
    epoch_lrs: Sequence[float], steps_per_epoch: int, l1: float, momentum: float
) -> float:
    """``sum_t lr_t * lambda / (1 - mu)`` over every SGD step (``epoch_lrs``: lr of each epoch)."""
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    return float(sum(epoch_lrs)) * steps_per_epoch * l1 / (1.0 - momentum)


def kaiming_std(shape: Sequence[int]) -> float:
    """Init std ``sqrt(2 / fan_in)`` of a Linear/Conv weight of ``shape`` (Kaiming normal)."""
    fan_in = math.prod(shape[1:])
    return math.sqrt(2.0 / fan_in)


def gaussian_cut_kept(std: float, cut: float) -> float:
    """Fraction of ``N(0, std^2)`` samples with magnitude above ``cut``: ``2 (1 - Phi(cut/s))``."""
    return math.erfc(cut / (std * math.sqrt(2.0)))


def drift_diagnostic(shapes: Mapping[str, Sequence[int]], drift: float) -> dict:
    """Per prunable layer: size, init std, ``drift / std`` and the drift-cut kept fraction; and
    ``drift_kept``, the size-weighted kept ratio over all of them."""
    layers, kept, D = {}, 0.0, 0
    for name, shape in shapes.items():
        n, s = math.prod(shape), kaiming_std(shape)
        k = gaussian_cut_kept(s, drift)
        layers[name] = {"size": n, "init_std": s, "drift_over_std": drift / s, "drift_kept": k}
        kept += n * k
        D += n
    ratios = [v["drift_over_std"] for v in layers.values()]
    return {
        "drift": drift,
        "drift_kept": kept / D,
        "min_drift_over_std": min(ratios),
        "max_drift_over_std": max(ratios),
        "layers": layers,
    }


def near_zero(weights: Sequence[torch.Tensor], tol: float = NEAR_ZERO) -> float:
    """Fraction of the entries of ``weights`` with magnitude below ``tol``."""
    total = sum(w.numel() for w in weights)
    small = sum(int((w.detach().abs() < tol).sum()) for w in weights)
    return small / total


def stationarity(
    grads: Sequence[torch.Tensor],
    weights: Sequence[torch.Tensor],
    l1: float,
    tol: float = NEAR_ZERO,
) -> dict:
    """How far ``w*`` is from a minimiser of ``L + l1 ||w||_1`` on the prunable weights, from the
    full-batch gradient ``g`` of ``L`` (subgradient optimality, in units of ``l1``): on the
    weights with ``|w| >= tol``, ``g + l1 sign(w)`` vanishes at a minimiser (``nonzero_rms``,
    ``nonzero_median``: RMS and median of ``|g + l1 sign w| / l1``); on the others ``|g| <= l1``
    holds (``zero_violating``: the fraction with ``|g| > l1``). Unlike the plateau test this does
    not depend on the learning rate, which a schedule decaying to 0 drives to 0 anyway."""
    res_nz, viol, n_zero = [], 0, 0
    for g, w in zip(grads, weights, strict=True):
        g, w = g.detach().double().reshape(-1), w.detach().double().reshape(-1)
        big = w.abs() >= tol
        res_nz.append(((g[big] + l1 * torch.sign(w[big])) / l1).abs())
        viol += int((g[~big].abs() > l1).sum())
        n_zero += int((~big).sum())
    r = torch.cat(res_nz)
    return {
        "nonzero_rms": float(r.square().mean().sqrt()) if r.numel() else math.nan,
        "nonzero_median": float(r.median()) if r.numel() else math.nan,
        "zero_violating": viol / n_zero if n_zero else math.nan,
        "nonzero_weights": int(r.numel()),
    }


def verdict(drift_kept: float, objective_plateau: bool | None, collapsed: bool = False) -> dict:
    """``in_regime`` and the reasons it fails (empty when in the regime).

    ``objective_plateau`` None means unknown (settings only): then only the drift rule decides
    ``drift_ok``, and ``in_regime`` is None. A run that ``collapsed`` (learned, then fell back
    to chance: :func:`prunelimit.training.convergence.collapse`) is never in the regime: its
    weights drifted to zero because it stopped learning, not under the loss's control.
    """
    reasons = []
    drift_ok = drift_kept <= MAX_DRIFT_KEPT
    if not drift_ok:
        reasons.append(
            f"the drift budget is too small: a cut at it keeps {drift_kept:.1%} of the weights "
            f"(at most {MAX_DRIFT_KEPT:.0%} in the regime); the drift grows with "
            "lr * l1 * epochs / (1 - momentum): raise the l1 strength, the learning rate or "
            "the epochs"
        )
    if objective_plateau is False:
        reasons.append("the l1 objective (cross-entropy + l1 term) has not plateaued: train longer")
    if collapsed:
        reasons.append("the run collapsed to chance accuracy after learning (verdict COLLAPSED)")
    in_regime = None if objective_plateau is None else (drift_ok and objective_plateau)
    in_regime = False if collapsed else in_regime
    return {
        "rule": f"drift_kept <= {MAX_DRIFT_KEPT} and the l1 objective plateaued",
        "drift_ok": drift_ok,
        "objective_plateau": objective_plateau,
        "in_regime": in_regime,
        "reasons": reasons,
    }


def regime_diagnostic(
    shapes: Mapping[str, Sequence[int]],
    epoch_lrs: Sequence[float],
    steps_per_epoch: int,
    l1: float,
    momentum: float,
    weights: Sequence[torch.Tensor] | None = None,
    objective_plateau: bool | None = None,
    grads: Sequence[torch.Tensor] | None = None,
    collapsed: bool = False,
) -> dict:
    """Everything the regime verdict rests on, for one l1 run.

    ``shapes``: the prunable weight tensors' shapes; ``epoch_lrs``/``steps_per_epoch``: the
    schedule as run; ``weights``: the prunable weights at ``w*`` (for ``near_zero``), if known;
    ``grads``: the full-batch gradient of the training loss there (for :func:`stationarity`);
    ``collapsed``: the run's collapse verdict (:func:`verdict`).
    """
    drift = drift_budget(epoch_lrs, steps_per_epoch, l1, momentum)
    out = {
        "steps": steps_per_epoch * len(epoch_lrs),
        "l1": l1,
        "momentum": momentum,
        **drift_diagnostic(shapes, drift),
    }
    if weights is not None:
        out["near_zero"] = near_zero(weights)
        out["near_zero_tol"] = NEAR_ZERO
        if grads is not None and l1 > 0:
            out["stationarity"] = stationarity(grads, weights, l1)
    out.update(verdict(out["drift_kept"], objective_plateau, collapsed))
    return out


def warning(diag: dict) -> str | None:
    """A one-paragraph warning for a run out of the regime (None when in it or unknown)."""
    if diag.get("in_regime") is not False:
        return None
    return (
        "WARNING: this l1 run is out of the regime where the pruning limit is decided by the "
        f"loss (drift budget {diag['drift']:.3g} = {diag['min_drift_over_std']:.2g}-"
        f"{diag['max_drift_over_std']:.2g} init stds; drift-cut kept ratio "
        f"{diag['drift_kept']:.1%}): " + "; ".join(diag["reasons"]) + ". Its theory-vs-actual "
        "comparison does not test the theory (docs/theory.md, 'The l1 regime')."
    )


def layer_magnitudes(model: nn.Module) -> dict[str, dict]:
    """Per prunable layer: size, fraction below ``NEAR_ZERO`` and magnitude quantiles."""
    out = {}
    for name, w in prunable_weights(model).items():
        mag = w.detach().abs().reshape(-1).double()
        q = torch.quantile(mag, torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64))
        out[name] = {
            "size": mag.numel(),
            "near_zero": float((mag < NEAR_ZERO).double().mean()),
            "median": float(q[0]),
            "q90": float(q[1]),
            "q99": float(q[2]),
            "max": float(mag.max()),
        }
    return out


def weights_only_regime(model: nn.Module, settings_diagnostic: dict | None) -> dict:
    """What the regime diagnostic can say of imported weights: the fraction near zero and the
    magnitudes per layer; with the training settings (``settings_diagnostic``: the drift part of
    :func:`prunelimit.limit.regime.regime_diagnostic`), the drift rule too, but the plateau of the
    l1 objective stays unknown, so ``in_regime`` is None."""
    out = {
        "near_zero": near_zero(list(prunable_weights(model).values())),
        "near_zero_tol": NEAR_ZERO,
        "layer_magnitudes": layer_magnitudes(model),
        "in_regime": None,
    }
    if settings_diagnostic is None:
        out["note"] = (
            "trained elsewhere and no `train:` block given: the regime verdict needs the "
            "training settings (lr, l1, epochs, schedule, momentum, batch size); only the "
            "magnitudes are reported"
        )
    else:
        out.update({k: v for k, v in settings_diagnostic.items() if k != "in_regime"})
        out["note"] = (
            "trained elsewhere: the drift rule uses the given `train:` settings; whether the "
            "l1 objective plateaued is unknown, so in_regime is not decided"
        )
    return out
