"""The actual limit of a network: one-shot global magnitude pruning of ``w*``.

Kept ratio ``rho`` = kept / ``D``; three criteria (see :func:`pruning_curve`), judged on the
training loss and the validation split, never on the test set. A curve whose unpruned point
makes the limits meaningless is named so (:func:`curve_verdict`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from prunelimit.config.settings import HessianSettings, LimitSettings, TheorySettings, TrainSettings
from prunelimit.curvature.memory import choose_chunk
from prunelimit.data import DatasetSplits
from prunelimit.limit.local_model import local_model_along_curve
from prunelimit.limit.prediction import loss_tolerance, spectrum_of, theory_of, training_tensors
from prunelimit.limit.search import find_limit
from prunelimit.limit.theory import (
    check_eps,
)
from prunelimit.pruning import (
    Masks,
    PathOf,
    flat_mask,
    keep_count,
    magnitude_path,
    masked,
    prunable_weights,
)
from prunelimit.training.loop import evaluate, l1_norm

CRITERIA = ("loss", "objective", "acc")

# A pruning curve is broken when its unpruned network's training loss is above ln(classes), worse
# than a uniform guess (no trained network is there; every criterion then holds almost anywhere),
# or more than BROKEN_FACTOR times the training loss of most of its pruned points (rho < 1).
# Removing weights from a trained network raises its training loss, or leaves it within noise
# of the unpruned one where the weights removed are near zero; no sane curve has half its pruned
# points at half the unpruned loss. Both flag an evaluation that does not match training (e.g.
# BatchNorm statistics barely updated: 110 unpruned, 2.3 at 0.1 % kept).
BROKEN_FACTOR = 2.0


def pruning_curve(
    model: nn.Module,
    data: DatasetSplits,
    eps: float,
    resolution: float,
    coarse_points: int,
    rho_min: float,
    l1: float = 0.0,
    mask: Masks | None = None,
    path_of: PathOf = magnitude_path,
) -> dict:
    """One-shot pruning of ``model`` (no fine-tuning) along kept ratios: global magnitude
    pruning, or the nested masks of any ``path_of(weights, mask) -> path`` (``path(keep)``: the
    masks keeping ``keep`` weights, nested in ``keep``; a registered method's
    :attr:`~prunelimit.methods.registry.Method.path`).

    ``mask`` (prunable weight name -> bool, True = surviving): prune only among the surviving
    weights, the others zero at every point of the curve (as they are in a pruned network);
    ``rho`` and ``D`` are then over the surviving weights (``D_total``: all prunable weights).

    Finds the actual limit under three criteria, each with
    :func:`prunelimit.limit.search.find_limit` on the same (shared, cached) evaluations:

    * ``loss``: the training cross-entropy ``L(w_rho) <= L(w*) + eps`` (the split ``eps`` is
      measured on);
    * ``objective``: the l1-regularised objective ``L(w_rho) + l1 ||w_rho||_1 <= L(w*) +
      l1 ||w*||_1 + eps`` (the norm over every parameter, as in training; ``l1`` is the strength
      the network was trained with, 0 for a dense network, where it equals ``loss``);
    * ``acc``: validation accuracy not below the unpruned network's (the test set is never used
      to choose), reported with the binomial standard error of the unpruned validation accuracy.

    ``verdict``: :func:`curve_verdict` of the curve (a WARNING is printed when broken).
    Nothing is saved but the measured curve; the weights are restored after every point.
    """
    _check_inputs(data, eps)
    original = {n: w.detach().clone() for n, w in prunable_weights(model).items()}
    D_total = sum(w.numel() for w in original.values())
    D = D_total if mask is None else sum(int(m.sum()) for m in mask.values())
    base = unpruned(model, data, l1)
    path = path_of(original, mask)  # e.g. one sort for every point of the curve
    rows: dict[int, dict] = {}

    def measure(i: int) -> dict:
        if i not in rows:
            row = pruned_point(model, data, original, path, keep_count(i * resolution, D), D)
            row["objective"] = row["train_loss"] + l1 * (base["l1_norm"] - row["removed_l1"])
            rows[i] = _report(row)
        return rows[i]

    feasible = {
        "loss": lambda i: measure(i)["train_loss"] <= base["train_loss"] + eps,
        "objective": lambda i: measure(i)["objective"] <= base["objective"] + eps,
        "acc": lambda i: measure(i)["val_acc"] >= base["val_acc"],
    }
    found = {c: find_limit(feasible[c], resolution, coarse_points, rho_min) for c in CRITERIA}
    curve = [rows[i] for i in sorted(rows)]
    result = _curve_result(found, base, curve, len(data.val))
    result.update(D=D, D_total=D_total, eps=eps, l1=l1, resolution=resolution)
    result["verdict"] = _warned(curve_verdict(base, curve, data.num_classes))
    return result


def _curve_result(found: dict, base: dict, curve: list[dict], n_val: int) -> dict:
    """The limits ``found`` under each criterion, the ``base`` (unpruned) point with its
    validation accuracy's standard error over ``n_val`` samples, and the measured ``curve``."""
    acc = base["val_acc"]
    return {
        **{f"rho_{c}": found[c].rho for c in CRITERIA},
        "unpruned": base,
        **{"val_samples": n_val, "val_acc_se": math.sqrt(acc * (1 - acc) / n_val)},
        **{f"isolated_feasible_{c}": found[c].isolated_feasible for c in CRITERIA},
        "evaluations": len(curve),
        "curve": curve,
    }


def _warned(verdict: dict) -> dict:
    """``verdict`` (:func:`curve_verdict`), after a WARNING line when the curve is broken."""
    if verdict["broken"]:
        print(f"WARNING: broken pruning curve: {verdict['reason']}", flush=True)
    return verdict


def curve_verdict(unpruned: dict, curve: list[dict], num_classes: int) -> dict:
    """Is the pruning ``curve`` (rows with ``rho`` and ``train_loss``) of the ``unpruned``
    network (its ``train_loss``) meaningless (see :data:`BROKEN_FACTOR`)? Returns ``broken``,
    ``reason`` ('' when not), the counts behind it and the ``rule``."""
    loss, chance_loss = unpruned["train_loss"], math.log(num_classes)
    pruned = [r["train_loss"] for r in curve if r["rho"] < 1]
    below = sum(1 for v in pruned if v * BROKEN_FACTOR < loss)
    reasons = []
    if not loss <= chance_loss:  # NaN: broken too
        reasons.append(
            f"the unpruned network's training loss {loss:.4g} is above ln({num_classes}) = "
            f"{chance_loss:.4g}, a uniform guess's"
        )
    if below > len(pruned) / 2:
        reasons.append(
            f"{below} of {len(pruned)} pruned points have less than 1/{BROKEN_FACTOR:g} of the "
            f"unpruned training loss {loss:.4g} (lowest {min(pruned):.4g})"
        )
    if reasons:
        reasons.append(
            "the limits measured from it mean nothing (an evaluation that does not match "
            "training, e.g. BatchNorm statistics not updated, or an untrained network)"
        )
    return {
        "broken": bool(reasons),
        "reason": "; ".join(reasons),
        "unpruned_loss": loss,
        "chance_loss": chance_loss,
        "pruned_points": len(pruned),
        "pruned_below": below,
        "rule": (
            f"unpruned training loss > ln(classes), or > {BROKEN_FACTOR:g} x the training loss "
            "of more than half the pruned points"
        ),
    }


def _check_inputs(data: DatasetSplits, eps: float) -> None:
    if len(data.val) == 0:
        raise ValueError(
            "the accuracy criterion needs a validation split: set data.val_fraction "
            "> 0 (the test set is never used to choose the limit)"
        )
    check_eps(eps)


def unpruned(model: nn.Module, data: DatasetSplits, l1: float) -> dict:
    """The unpruned network's training loss and accuracy, its l1 norm (over every parameter, as
    the training objective) and objective at strength ``l1``, and its validation accuracy."""
    with torch.no_grad():
        l1_total = float(l1_norm(model))
    loss, acc = evaluate(model, data.train)
    return {
        "train_loss": loss,
        "train_acc": acc,
        "objective": loss + l1 * l1_total,
        "l1_norm": l1_total,
        "val_acc": evaluate(model, data.val)[1],
    }


def pruned_point(
    model: nn.Module,
    data: DatasetSplits,
    original: dict[str, torch.Tensor],
    path,
    keep: int,
    D: int,
) -> dict:
    """One point of the curve: ``model`` with ``path(keep)`` of its ``original`` weights (e.g.
    the ``keep`` largest: :func:`prunelimit.pruning.magnitude_path`), evaluated on every split;
    the l1 norm of the removed weights (``removed_l1``). ``model`` is restored on return."""
    masks = path(keep)
    removed_l1 = sum(float(original[n].abs()[~m].sum()) for n, m in masks.items())
    with masked(model, masks):
        loss, acc = evaluate(model, data.train)
        val = evaluate(model, data.val)[1]
        test = evaluate(model, data.test)[1]
    row = {"rho": keep / D, "train_loss": loss, "removed_l1": removed_l1, "train_acc": acc}
    row.update(val_acc=val, test_acc=test)
    if not all(math.isfinite(v) for v in row.values()):
        raise FloatingPointError(f"non-finite evaluation of the pruned network: {row}")
    return row


def _report(row: dict) -> dict:
    print(
        f"  rho {row['rho']:8.4%}  train loss {row['train_loss']:.4f}  objective "
        f"{row['objective']:.4f}  val acc {row['val_acc']:.4f}  test acc {row['test_acc']:.4f}",
        flush=True,
    )
    return row


def limits_of(
    model: nn.Module,
    data: DatasetSplits,
    hessian: HessianSettings,
    theory: TheorySettings,
    limit: LimitSettings,
    batch_size: int,
    seed: int,
    l1: float = 0.0,
    masks: Masks | None = None,
) -> dict:
    """Spectrum, theoretical limit and actual limit of ``model``'s weights in one call.

    The actual limit uses the theory's ``eps``. Returns both results (``theory``,
    ``actual``) and the unpruned network's training loss and accuracy and test accuracy.
    ``masks``: both over the surviving weights only (pruned ones held at zero; fractions of
    the surviving ``D``). The theory's magnitude scaling is not computed here.
    """
    mask = None if masks is None else flat_mask(model, masks)
    theory = replace(theory, magnitude_factors=[])
    spectrum = spectrum_of(model, data, hessian, theory, batch_size, seed, mask=mask)
    th = theory_of(model, data, spectrum, theory, batch_size, seed, mask=mask)
    eps = th["inputs"]["eps"]
    actual = pruning_curve(
        model, data, eps, limit.resolution, limit.coarse_points, limit.rho_min, l1=l1, mask=masks
    )
    return {
        "theory": th,
        "actual": actual,
        "train_loss": th["inputs"]["train_loss"],
        "train_acc": th["inputs"]["train_acc"],
        "test_acc": evaluate(model, data.test)[1],
    }


def actual_limit_of(
    models: dict[str, nn.Module],
    trainings: dict[str, TrainSettings],
    data: DatasetSplits,
    eps: dict[str, float | str],
    limit: LimitSettings,
    seed: int,
    rho_th: float | None = None,
    hessian_batch: int | str = 1024,
    memory_gb: float | str = 16.0,
    path_of: PathOf = magnitude_path,
) -> dict:
    """The actual limits of an experiment's networks (``models``: kind -> network, ``l1``
    first), each trained with ``trainings[kind]`` (its l1 strength, and the batch size of
    ``eps: auto``) and pruned at ``eps[kind]`` (the eps of its theory, or without one the
    theory setting: a number or ``auto``). The headline ``rho_*`` are the l1's;
    ``local_model`` sets the l1 curve beside its first- and second-order model at ``w*`` (the
    quadratic term at the three limits and at ``rho_th``, the theory's limit, if given; Hessian
    products over chunks of ``hessian_batch`` samples, or ``auto`` within ``memory_gb``:
    :func:`prunelimit.curvature.memory.choose_chunk`). ``path_of``: the nested masks every
    curve prunes with (:func:`pruning_curve`; global magnitude by default; with another the
    local model, which follows magnitude pruning, is None)."""
    result: dict = {"seed": seed, "dense": None}  # l2: if trained
    for kind, model in models.items():
        s = trainings[kind]
        eps_value, _ = loss_tolerance(model, data, eps[kind], s.batch_size, seed)
        print(f"{kind}: eps = {eps_value:.4g}", flush=True)
        result[kind] = pruning_curve(model, data, eps_value, limit.resolution,
                                     limit.coarse_points, limit.rho_min, l1=s.l1,
                                     path_of=path_of)  # fmt: skip
    for c in CRITERIA:
        result[f"rho_{c}"] = result["l1"][f"rho_{c}"]
    magnitude = path_of is magnitude_path  # the local model follows global magnitude pruning
    result["local_model"] = local_model_of(
        models["l1"], data, result["l1"], rho_th, seed, hessian_batch, memory_gb
    ) if magnitude else None  # fmt: skip
    return result


def local_model_of(
    model: nn.Module,
    data: DatasetSplits,
    curve: dict,
    rho_th: float | None,
    seed: int,
    hessian_batch: int | str,
    memory_gb: float | str,
) -> dict:
    """The pruning ``curve`` of ``model`` beside its local model at ``w*``
    (:func:`prunelimit.limit.local_model.local_model_along_curve`), over the whole training
    split as the curve, marked at the curve's limits and at ``rho_th``."""
    x, y = training_tensors(data, None, seed)
    chunk, _ = choose_chunk(model, x, y, hessian_batch, memory_gb, vectors=1)  # no basis
    marks = {f"rho_{c}": curve[f"rho_{c}"] for c in CRITERIA}
    if rho_th is not None:
        marks["rho_th"] = rho_th
    out = local_model_along_curve(
        model, x, y, curve["curve"], curve["unpruned"], curve["eps"], curve["l1"], marks, chunk
    )
    print(f"local model at {len(curve['curve'])} points: {out['seconds']:.2f} s", flush=True)
    return out
