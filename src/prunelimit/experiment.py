"""An experiment (dataset + model + training settings) run for one seed: train, reload.

This is the glue between the config's experiment dicts and the library; the workflow scripts
call it so they stay free of science.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from prunelimit.data import DatasetSpec, DatasetSplits
from prunelimit.io import load_torch, save_torch, write_json
from prunelimit.models import build_model
from prunelimit.pruning import (
    count_prunable,
    flat_prunable,
    global_magnitude_masks,
    keep_count,
    prunable_weights,
    sorted_magnitudes,
)
from prunelimit.regime import regime_diagnostic, warning
from prunelimit.search import find_limit
from prunelimit.spectrum import estimate_spectrum, hessian_samples
from prunelimit.theory import (
    CONVERGENCE_TOL,
    auto_eps,
    check_eps,
    converged_check,
    lanczos_convergence,
    pruning_limit,
    theory_curve,
)
from prunelimit.training import (
    TrainSettings,
    evaluate,
    fingerprint,
    fit,
    l1_norm,
    loss_gradient,
    lr_at_epoch,
    minibatch_losses,
    summarise,
)

KINDS = ("dense", "l1")


def settings_for(exp: dict, kind: str) -> TrainSettings:
    """Training settings of ``kind``: ``dense`` is the experiment's ``train`` block with l1 = 0;
    ``l1`` is ``train`` updated by the optional ``l1_train`` block (its own lr, l1 strength,
    epochs...: the l1 run is chosen by the regime rule, the dense run need not change). An
    experiment of imported ``weights`` without ``train`` gets the defaults (batch size 128, the
    batch size of ``eps``; l1 strength 0, so the objective criterion equals the loss one)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    # imported weights without a `train` block: defaults (batch 128 for eps, l1 strength 0)
    train = dict(exp.get("train") or {"epochs": 0})
    if kind == "dense":
        train["l1"] = 0.0
    else:
        train.update(exp.get("l1_train") or {})
    return TrainSettings.from_dict(train)


def new_model(exp: dict, data: DatasetSplits | DatasetSpec, seed: int | None = None) -> nn.Module:
    """The experiment's model for ``data``'s input shape and classes (a prepared dataset or
    just its :class:`~prunelimit.data.DatasetSpec`), initialised from ``seed``."""
    return build_model(
        exp["model"], data.input_shape, data.num_classes, seed=seed, **exp.get("model_args", {})
    )


def load_trained(
    exp: dict,
    data: DatasetSplits | DatasetSpec,
    path: str | Path,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Rebuild the experiment's model and load a saved state dict (eval mode)."""
    model = new_model(exp, data)
    try:
        model.load_state_dict(load_torch(path))
    except RuntimeError as err:
        raise RuntimeError(
            f"{path} does not hold weights of experiment {exp['name']!r} "
            f"({exp['model']} on {exp['dataset']}); delete it to retrain: {err}"
        ) from err
    return model.to(device).eval()


def metrics_header(exp: dict, kind: str, seed: int, model: nn.Module) -> dict:
    """What every ``{kind}_metrics.json`` starts with: the run and the network's size."""
    return {
        "experiment": exp["name"],
        "kind": kind,
        "seed": seed,
        "dataset": exp["dataset"],
        "model": exp["model"],
        "D": count_prunable(model),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


def train_experiment(
    exp: dict,
    kind: str,
    seed: int,
    data: DatasetSplits,
    device: torch.device,
    model_out: str | Path,
    metrics_out: str | Path,
    checkpoint: str | Path | None = None,
) -> dict:
    """Train ``exp`` (dense or l1) for ``seed``; write the state dict and the metrics JSON.

    Initial weights depend only on ``seed`` (dense and l1 runs start from the same point). The
    checkpoint is removed once both outputs are written.
    """
    s = settings_for(exp, kind)
    model = new_model(exp, data, seed=seed).to(device)
    run_id = fingerprint(exp=exp, kind=kind, seed=seed, data=data.meta, settings=repr(s))
    print(
        f"training {exp['name']} ({exp['model']} on {exp['dataset']}), {kind}, seed {seed}, "
        f"D = {count_prunable(model)}, device {device}",
        flush=True,
    )
    history = fit(model, data, s, seed=seed, checkpoint=checkpoint, run_id=run_id)
    summary = summarise(history, s, data, model)
    if not math.isfinite(summary["final"]["train_loss"]):
        raise RuntimeError(f"{exp['name']} {kind} seed {seed}: final training loss is not finite")
    metrics = {
        **metrics_header(exp, kind, seed, model),
        "settings": s.__dict__,
        **summary,
        "history": history,
    }
    if s.l1 > 0:
        metrics["regime"] = regime_of(model, s, data, summary)
        message = warning(metrics["regime"])
        print(message or "in the l1 regime: " + metrics["regime"]["rule"], flush=True)
    save_torch(model_out, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    write_json(metrics_out, metrics)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    verdict = "converged" if summary["converged"] else "NOT converged (loss still falling)"
    print(
        f"done: train loss {summary['final']['train_loss']:.4f}, test acc "
        f"{summary['final']['test_acc']:.4f}, {verdict}",
        flush=True,
    )
    return metrics


def _schedule(model: nn.Module, s: TrainSettings, n_train: int) -> dict:
    """The arguments of :func:`prunelimit.regime.regime_diagnostic` that the settings and the
    architecture determine: prunable shapes, the lr of each epoch, steps, l1, momentum."""
    return {
        "shapes": {n: tuple(w.shape) for n, w in prunable_weights(model).items()},
        "epoch_lrs": [lr_at_epoch(s, e) for e in range(s.epochs)],
        "steps_per_epoch": math.ceil(n_train / s.batch_size),
        "l1": s.l1,
        "momentum": s.momentum,
    }


def regime_of(model: nn.Module, s: TrainSettings, data: DatasetSplits, summary: dict) -> dict:
    """The l1-regime diagnostic (:mod:`prunelimit.regime`) of a finished l1 run of ``model``,
    with the stationarity of ``w*`` from one full-batch gradient of the training loss."""
    weights = prunable_weights(model)
    grads = loss_gradient(model, data.train)
    return regime_diagnostic(
        **_schedule(model, s, len(data.train)),
        weights=list(weights.values()),
        objective_plateau=summary["objective_plateau"]["converged"],
        grads=[grads[n] for n in weights],
    )


def import_experiment(
    exp: dict,
    kind: str,
    seed: int,
    data: DatasetSplits,
    source: str | Path,
    model_out: str | Path,
    metrics_out: str | Path,
) -> dict:
    """Check and import weights trained elsewhere for ``exp`` (:mod:`prunelimit.imported`):
    written where a trained run would be, with the weights-only regime diagnostic (and the
    drift rule when the experiment's ``train`` block describes how they were made)."""
    from prunelimit.imported import import_weights

    model = new_model(exp, data, seed=seed)
    diagnostic = None
    if kind == "l1" and exp.get("train"):
        diagnostic = regime_diagnostic(**_schedule(model, settings_for(exp, "l1"), len(data.train)))
    metrics = import_weights(
        exp,
        kind,
        data,
        model,
        source,
        model_out,
        metrics_out,
        metrics_header(exp, kind, seed, model),
        diagnostic,
    )
    print(
        f"imported {kind} weights of {exp['name']} from {source} (sha256 "
        f"{metrics['source_sha256'][:12]}...): train loss {metrics['final']['train_loss']:.4f}, "
        f"test acc {metrics['final']['test_acc']:.4f}",
        flush=True,
    )
    return metrics


def training_tensors(
    data: DatasetSplits, samples: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (normalised, unaugmented) training samples used for the Hessian."""

    idx = hessian_samples(len(data.train), samples, seed).to(data.train.x.device)
    return data.train.get(idx)


def spectrum_of(
    model: nn.Module,
    data: DatasetSplits,
    h: dict,
    theory: dict | None = None,
    batch_size: int = 128,
    seed: int = 0,
) -> dict:
    """Hessian spectrum of the training loss at ``model``'s weights (``h``: hessian settings).

    ``lanczos_steps: auto`` continues the Lanczos run in blocks of ``lanczos_block`` steps until
    ``rho_th`` has converged (:func:`prunelimit.theory.converged_check`, with the ``eps`` that
    the theory will use: ``theory`` settings, training ``batch_size``, run ``seed``) or
    ``max_lanczos_steps`` is reached.
    """

    x, y = training_tensors(data, h["samples"], h["seed"])
    steps, converged = h["lanczos_steps"], None
    if steps == "auto":
        if theory is None:
            raise ValueError("lanczos_steps: auto needs the theory settings (eps, negative)")
        steps = h.get("max_lanczos_steps", 480)
        eps, _ = loss_tolerance(model, data, theory["eps"], batch_size, seed)
        mags = sorted_magnitudes(flat_prunable(model).cpu())
        converged = converged_check(
            mags, eps, theory["negative"], theory.get("convergence_tol", CONVERGENCE_TOL)
        )
    print(
        f"Hessian over {len(y)} training samples, engine {h['engine']}, "
        f"{h['probes']} probes x {h['lanczos_steps']} Lanczos steps"
        + (f" (at most {steps})" if converged else ""),
        flush=True,
    )
    return estimate_spectrum(
        model,
        x,
        y,
        engine=h["engine"],
        steps=steps,
        probes=h["probes"],
        batch_size=h["batch_size"],
        top_k=h["top_k"],
        seed=h["seed"],
        power_iterations=h.get("power_iterations", 100),
        cache_primal=h.get("cache_primal", True),
        converged=converged,
        block=h.get("lanczos_block", 40),
    )


def loss_tolerance(
    model: nn.Module, data: DatasetSplits, eps: float | str, batch_size: int, seed: int
) -> tuple[float, str]:
    """``eps`` and how it was obtained (``auto``: std of mini-batch training losses at w*)."""

    if eps == "auto":
        return auto_eps(minibatch_losses(model, data.train, batch_size, seed)), "auto"
    return float(eps), "given"


def theory_of(
    model: nn.Module,
    data: DatasetSplits,
    spectrum: dict,
    eps: float | str,
    negative: str,
    batch_size: int,
    seed: int = 0,
    convergence_tol: float = CONVERGENCE_TOL,
) -> dict:
    """The theoretical limit and bounds at ``model``'s weights (w*), with every input, and
    (built-in engine) ``rho_th`` along the Lanczos steps with the verdict ``converged``."""

    eps_value, eps_mode = loss_tolerance(model, data, eps, batch_size, seed)
    train_loss, train_acc = evaluate(model, data.train)
    mags = sorted_magnitudes(flat_prunable(model).cpu())
    if spectrum["D"] != mags.numel():
        raise ValueError(
            f"the spectrum was computed for D = {spectrum['D']} prunable weights, "
            f"the model has {mags.numel()}: the spectrum file is stale"
        )
    nodes = np.asarray(spectrum["nodes"], dtype=float)  # a NaN stored as null reads as NaN
    weights = np.asarray(spectrum["weights"], dtype=float)
    limit = pruning_limit(mags, nodes, weights, eps_value, negative)
    convergence = None
    if "alpha" in spectrum:
        convergence = lanczos_convergence(
            mags,
            np.asarray(spectrum["alpha"], dtype=float),
            np.asarray(spectrum["beta"], dtype=float),
            np.asarray(spectrum["krylov_size"]),
            eps_value,
            negative,
            convergence_tol,
        )
    return {
        **limit,
        "converged": None if convergence is None else convergence["converged"],
        "convergence": convergence,
        "inputs": {
            "D": mags.numel(),
            "eps": eps_value,
            "eps_mode": eps_mode,
            "eps_batch_size": batch_size,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "trace": spectrum["trace"],
            "abs_trace": spectrum["abs_trace"],
            "hutchinson_trace": spectrum["hutchinson_trace"],
            "lambda_max": spectrum["lambda_max"],
            "lambda_min": spectrum["lambda_min"],
            "top_eigenvalues": spectrum["top_eigenvalues"],
            "negative_mass": spectrum["negative_mass"],
            "negative_trace": spectrum["negative_trace"],
            "negative": negative,
            "engine": spectrum["engine"],
            "lanczos_steps": spectrum["lanczos_steps"],
            "lanczos_mode": spectrum.get("lanczos_mode", "fixed"),
            "probes": spectrum["probes"],
            "hessian_samples": spectrum["samples"],
            "weight_l2": float(mags.norm()),
            "weight_l1": float(mags.sum()),
        },
        "curve": theory_curve(mags, nodes, weights, eps_value, negative),
    }


CRITERIA = ("loss", "objective", "acc")


def pruning_curve(
    model: nn.Module,
    data: DatasetSplits,
    eps: float,
    resolution: float,
    coarse_points: int,
    rho_min: float,
    l1: float = 0.0,
) -> dict:
    """One-shot global magnitude pruning of ``model`` (no fine-tuning) along kept ratios.

    Finds the actual limit under three criteria, each with
    :func:`prunelimit.search.find_limit` on the same (shared, cached) evaluations:

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
    D = sum(w.numel() for w in original.values())
    with torch.no_grad():
        base_l1 = float(l1_norm(model))  # over every parameter, as the training objective
    base_loss, base_acc = evaluate(model, data.train)
    base_obj = base_loss + l1 * base_l1
    base_val = evaluate(model, data.val)[1]
    n_val = len(data.val)
    rows: dict[int, dict] = {}

    def measure(i: int) -> dict:
        if i not in rows:
            keep = keep_count(i * resolution, D)
            masks = global_magnitude_masks(original, keep)
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
    hessian: dict,
    theory: dict,
    limit: dict,
    batch_size: int,
    seed: int,
    l1: float = 0.0,
) -> dict:
    """Spectrum, theoretical limit and actual limit of ``model``'s weights in one call.

    ``hessian``, ``theory`` and ``limit`` are the settings of the config sections of those
    names; the actual limit uses the theory's ``eps``. Returns both results (``theory``,
    ``actual``) and the unpruned network's training loss and accuracy and test accuracy.
    """
    spectrum = spectrum_of(model, data, hessian, theory, batch_size, seed)
    th = theory_of(
        model,
        data,
        spectrum,
        theory["eps"],
        theory["negative"],
        batch_size,
        seed,
        theory.get("convergence_tol", CONVERGENCE_TOL),
    )
    actual = pruning_curve(
        model,
        data,
        th["inputs"]["eps"],
        limit["resolution"],
        limit["coarse_points"],
        limit.get("rho_min", 0.0005),
        l1=l1,
    )
    return {
        "theory": th,
        "actual": actual,
        "train_loss": th["inputs"]["train_loss"],
        "train_acc": th["inputs"]["train_acc"],
        "test_acc": evaluate(model, data.test)[1],
    }
