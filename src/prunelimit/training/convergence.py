"""Verdicts on a training history: the plateau of the loss (``converged``), divergence and
collapse.

Plateau: the mean of the last ``window`` epochs against the mean of the ``window`` before.
Divergence: see :data:`DIVERGED_FACTOR`. Collapse: see :data:`LEARNED_FRACTION`.
"""

from __future__ import annotations

import math

from torch import nn

from prunelimit.config.settings import TrainSettings
from prunelimit.data import DatasetSplits
from prunelimit.training.loop import final_metrics


def plateau(
    losses: list[float], window: int, rtol: float, atol: float = 1e-3
) -> tuple[bool, float]:
    """Has the loss plateaued? Compares the mean of the last ``window`` epochs with the mean of
    the ``window`` before: converged when the change (a drop or a rise) is below ``rtol`` of the
    earlier mean or below ``atol`` (nats) outright (cross-entropy on separable data decays for
    ever in relative terms). Returns (converged, relative drop: negative for a rise); (False,
    nan) if the history is too short."""
    if len(losses) < 2 * window:
        return False, math.nan
    prev = sum(losses[-2 * window : -window]) / window
    last = sum(losses[-window:]) / window
    rel = (prev - last) / max(abs(prev), 1e-12)
    return (abs(rel) < rtol or abs(prev - last) < atol), rel


# A run has diverged when its last epoch's training loss is more than DIVERGED_FACTOR times the
# smaller of its first epoch's loss and ln(classes) (the loss of a uniform guess): far above
# where any sensible run starts, whether it blew up in the first epoch or later.
DIVERGED_FACTOR = 10.0


def divergence(train_loss: list[float], num_classes: int) -> dict:
    """The divergence verdict of a training history (see :data:`DIVERGED_FACTOR`)."""
    first = train_loss[0] if train_loss else math.nan
    last = train_loss[-1] if train_loss else math.nan
    threshold = DIVERGED_FACTOR * min(first, math.log(num_classes))
    return {
        "diverged": bool(train_loss) and not last <= threshold,  # NaN/inf: diverged
        "first_loss": first,
        "last_loss": last,
        "threshold": threshold,
        "rule": f"last epoch's loss > {DIVERGED_FACTOR:g} x min(first epoch's, ln(classes))",
    }


# A run has collapsed when it had learned and has forgotten it: its best epoch's training
# accuracy is above chance + LEARNED_FRACTION of the way from chance (1 / classes) to 1 (0.55 on
# ten classes: no run at chance gets there by noise, every run worth pruning does), and its last
# epoch is back at chance: accuracy within AT_CHANCE_MARGIN of the way from chance to 1 (0.19 on
# ten classes: above what predicting the commonest class scores on a near-balanced set, far below
# the 0.55 it had reached) or a loss of at least ln(classes), no better than a uniform guess. A
# run that never learned is not collapsed (it is NOT converged or too short, said otherwise).
LEARNED_FRACTION = 0.5
AT_CHANCE_MARGIN = 0.1


def collapse(train_loss: list[float], train_acc: list[float], num_classes: int) -> dict:
    """The collapse verdict of a training history (see :data:`LEARNED_FRACTION`); ``best_epoch``
    is 1-based, as the history's ``epoch`` (None without accuracies: never collapsed)."""
    chance = 1.0 / num_classes
    if not train_acc:
        best_acc, best_epoch, final_acc = math.nan, None, math.nan
    else:
        best_epoch = max(range(len(train_acc)), key=lambda i: train_acc[i]) + 1
        best_acc, final_acc = train_acc[best_epoch - 1], train_acc[-1]
    final_loss = train_loss[-1] if train_loss else math.nan
    learned = best_acc > chance + LEARNED_FRACTION * (1 - chance)
    at_chance = final_acc <= chance + AT_CHANCE_MARGIN * (1 - chance) or (
        final_loss >= math.log(num_classes)
    )
    return {
        "collapsed": bool(learned and at_chance),
        "best_acc": best_acc,
        "best_epoch": best_epoch,
        "final_acc": final_acc,
        "final_loss": final_loss,
        "chance": chance,
        "rule": (
            f"best epoch's training accuracy > chance + {LEARNED_FRACTION:g} x (1 - chance), "
            f"last epoch's <= chance + {AT_CHANCE_MARGIN:g} x (1 - chance) or its loss >= "
            "ln(classes)"
        ),
    }


def training_summary(
    history: dict, s: TrainSettings, data: DatasetSplits, model: nn.Module
) -> dict:
    """Final metrics plus verdicts: ``converged`` is the plateau of the training cross-entropy
    (never true of a diverged or collapsed run); ``objective_plateau`` the same test on
    cross-entropy + l1 term; ``divergence`` (:func:`divergence`); ``collapse``
    (:func:`collapse`); ``verdict`` says which, in words."""
    tol = (s.plateau_window, s.plateau_rtol, s.plateau_atol)
    converged, rel = plateau(history["train_loss"], *tol)
    obj_conv, obj_rel = plateau(history["train_objective"], *tol)
    div = divergence(history["train_loss"], data.num_classes)
    col = collapse(history["train_loss"], history.get("train_acc", []), data.num_classes)
    converged = converged and not div["diverged"] and not col["collapsed"]
    advice = (
        f"lr={s.lr}, l1={s.l1}): lower the learning rate or the l1 strength, or add warm-up epochs"
    )
    if div["diverged"]:
        verdict = (
            f"DIVERGED (training loss {div['first_loss']:.4g} in the first epoch, "
            f"{div['last_loss']:.4g} in the last; {advice}"
        )
    elif col["collapsed"]:
        verdict = (
            f"COLLAPSED (training accuracy {col['best_acc']:.4g} at epoch {col['best_epoch']}, "
            f"{col['final_acc']:.4g} at the last, chance {col['chance']:.4g}, final loss "
            f"{col['final_loss']:.4g}; {advice} (its limits are left out of the tables' means)"
        )
        print(f"WARNING: {verdict}", flush=True)
    elif converged:
        verdict = "converged"
    elif math.isnan(rel):
        verdict = f"NOT converged (fewer than {2 * s.plateau_window} epochs: too short to judge)"
    else:
        verdict = "NOT converged (loss " + ("still falling)" if rel > 0 else "rising)")
    return {
        "final": final_metrics(model, data),
        "converged": converged,
        "verdict": verdict,
        "divergence": div,
        "collapse": col,
        "plateau": {
            "window": s.plateau_window,
            "rtol": s.plateau_rtol,
            "atol": s.plateau_atol,
            "rel_change": rel,
        },
        "objective_plateau": {"converged": obj_conv, "rel_change": obj_rel},
        "mean_samples_per_s": (
            sum(history["samples_per_s"]) / len(history["samples_per_s"])
            if history["samples_per_s"]
            else math.nan
        ),
    }
