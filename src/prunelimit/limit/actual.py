"""The actual limit of an experiment's network: one-shot global magnitude pruning of ``w*``.

Kept ratio ``rho`` = kept / ``D``; three criteria (see :func:`pruning_curve`), judged on the
training loss and the validation split, never on the test set.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from prunelimit.config.kinds import settings_for
from prunelimit.config.settings import HessianSettings, LimitSettings, TheorySettings
from prunelimit.curvature.memory import auto_chunk
from prunelimit.data import DatasetSplits
from prunelimit.limit.local_model import local_model_along_curve
from prunelimit.limit.prediction import loss_tolerance, spectrum_of, theory_of, training_tensors
from prunelimit.limit.search import find_limit
from prunelimit.limit.theory import (
    check_eps,
)
from prunelimit.pruning import (
    Masks,
    flat_mask,
    keep_count,
    magnitude_path,
    prunable_weights,
)
from prunelimit.training.loop import evaluate, l1_norm

CRITERIA = ("loss", "objective", "acc")


def pruning_curve(
    model: nn.Module,
    data: DatasetSplits,
    eps: float,
    resolution: float,
    coarse_points: int,
    rho_min: float,
    l1: float = 0.0,
    mask: Masks | None = None,
) -> dict:
    """One-shot global magnitude pruning of ``model`` (no fine-tuning) along kept ratios.

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

    Nothing is saved but the measured curve; the weights are restored afterwards.
    """

    if len(data.val) == 0:
        raise ValueError(
            "the accuracy criterion needs a validation split: set data.val_fraction "
            "> 0 (the test set is never used to choose the limit)"
        )
    check_eps(eps)
    weights = prunable_weights(model)
    original = {n: w.detach().clone() for n, w in weights.items()}
    D_total = sum(w.numel() for w in original.values())
    D = D_total if mask is None else sum(int(m.sum()) for m in mask.values())
    with torch.no_grad():
        base_l1 = float(l1_norm(model))  # over every parameter, as the training objective
    base_loss, base_acc = evaluate(model, data.train)
    base_obj = base_loss + l1 * base_l1
    base_val = evaluate(model, data.val)[1]
    n_val = len(data.val)
    rows: dict[int, dict] = {}
    magnitude_masks = magnitude_path(original, mask)  # one sort for every point of the curve

    def measure(i: int) -> dict:
        if i not in rows:
            keep = keep_count(i * resolution, D)
            masks = magnitude_masks(keep)
            removed_l1 = 0.0
            with torch.no_grad():
                for n, w in weights.items():
                    w.copy_(original[n] * masks[n])
                    removed_l1 += float(original[n].abs()[~masks[n]].sum())
            loss, acc = evaluate(model, data.train)
            val = evaluate(model, data.val)[1]
            test = evaluate(model, data.test)[1]
            objective = loss + l1 * (base_l1 - removed_l1)
            rows[i] = {
                "rho": keep / D,
                "train_loss": loss,
                "objective": objective,
                "removed_l1": removed_l1,
                "train_acc": acc,
                "val_acc": val,
                "test_acc": test,
            }
            if not all(math.isfinite(v) for v in rows[i].values()):
                raise FloatingPointError(f"non-finite evaluation of the pruned network: {rows[i]}")
            print(
                f"  rho {keep / D:8.4%}  train loss {loss:.4f}  objective {objective:.4f}  "
                f"val acc {val:.4f}  test acc {test:.4f}",
                flush=True,
            )
        return rows[i]

    feasible = {
        "loss": lambda i: measure(i)["train_loss"] <= base_loss + eps,
        "objective": lambda i: measure(i)["objective"] <= base_obj + eps,
        "acc": lambda i: measure(i)["val_acc"] >= base_val,
    }
    try:
        found = {c: find_limit(feasible[c], resolution, coarse_points, rho_min) for c in CRITERIA}
    finally:
        with torch.no_grad():
            for n, w in weights.items():
                w.copy_(original[n])
    curve = [rows[i] for i in sorted(rows)]
    return {
        **{f"rho_{c}": found[c].rho for c in CRITERIA},
        "D": D,
        "D_total": D_total,
        "eps": eps,
        "l1": l1,
        "unpruned": {
            "train_loss": base_loss,
            "train_acc": base_acc,
            "objective": base_obj,
            "l1_norm": base_l1,
            "val_acc": base_val,
        },
        "val_samples": n_val,
        "val_acc_se": math.sqrt(base_val * (1 - base_val) / n_val),
        **{f"isolated_feasible_{c}": found[c].isolated_feasible for c in CRITERIA},
        "evaluations": len(rows),
        "resolution": resolution,
        "curve": curve,
    }


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
    the surviving ``D``).
    """
    mask = None if masks is None else flat_mask(model, masks)
    spectrum = spectrum_of(model, data, hessian, theory, batch_size, seed, mask=mask)
    th = theory_of(
        model,
        data,
        spectrum,
        theory.eps,
        theory.negative,
        batch_size,
        seed,
        theory.convergence_tol,
        mask=mask,
    )
    actual = pruning_curve(
        model,
        data,
        th["inputs"]["eps"],
        limit.resolution,
        limit.coarse_points,
        limit.rho_min,
        l1=l1,
        mask=masks,
    )
    return {
        "theory": th,
        "actual": actual,
        "train_loss": th["inputs"]["train_loss"],
        "train_acc": th["inputs"]["train_acc"],
        "test_acc": evaluate(model, data.test)[1],
    }


def actual_limit_of(
    exp: dict,
    data: DatasetSplits,
    models: dict[str, nn.Module],
    eps_l1: float,
    eps: float | str,
    limit: LimitSettings,
    seed: int,
    rho_th: float | None = None,
    hessian_batch: int | str = 1024,
    memory_gb: float = 16.0,
    kind_eps: dict[str, float] | None = None,
) -> dict:
    """The actual limits of an experiment's networks (``models``: kind -> network, ``l1``
    first): the l1 network at the theory's ``eps_l1``, the others (dense, l2) at the eps of
    their own theory (``kind_eps``: kind -> eps) or, without one, at their own ``eps`` (the
    theory setting: a number or ``auto``). The headline ``rho_*`` are the l1's;
    ``local_model`` sets the l1 curve beside its first- and second-order model at ``w*`` (the
    quadratic term at the three limits and at ``rho_th``, the theory's limit, if given; Hessian
    products over chunks of ``hessian_batch`` samples; ``auto``: the largest chunk whose
    measured memory fits ``memory_gb`` GB, as :func:`prunelimit.curvature.memory.auto_chunk`)."""
    result: dict = {"experiment": exp["name"], "seed": seed, "dense": None}  # l2: if trained
    for kind, model in models.items():
        if kind == "l1":
            eps_value = eps_l1
        elif kind in (kind_eps or {}):
            eps_value = kind_eps[kind]
        else:
            batch = settings_for(exp, kind).batch_size
            eps_value, _ = loss_tolerance(model, data, eps, batch, seed)
        print(f"{kind}: eps = {eps_value:.4g}", flush=True)
        result[kind] = pruning_curve(
            model,
            data,
            eps_value,
            limit.resolution,
            limit.coarse_points,
            limit.rho_min,
            l1=settings_for(exp, kind).l1,  # the strength it was trained with (dense: 0)
        )
    for c in CRITERIA:
        result[f"rho_{c}"] = result["l1"][f"rho_{c}"]
    x, y = training_tensors(data, None, seed)  # the whole training split, as the curve
    if hessian_batch == "auto":  # one vector at a time, no Lanczos basis
        choice = auto_chunk(models["l1"], x, y, memory_gb, probes=1, steps=0)
        hessian_batch = choice.batch_size
        print(choice.reason(), flush=True)
    curve = result["l1"]
    marks = {f"rho_{c}": curve[f"rho_{c}"] for c in CRITERIA}
    if rho_th is not None:
        marks["rho_th"] = rho_th
    result["local_model"] = local_model_along_curve(
        models["l1"],
        x,
        y,
        curve["curve"],
        curve["unpruned"],
        eps_l1,
        curve["l1"],
        marks,
        batch_size=hessian_batch,
    )
    print(
        f"local model at {len(curve['curve'])} points: {result['local_model']['seconds']:.2f} s",
        flush=True,
    )
    return result
