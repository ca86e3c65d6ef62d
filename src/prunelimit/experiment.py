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
from prunelimit.search import find_limit
from prunelimit.spectrum import estimate_spectrum, hessian_samples
from prunelimit.theory import auto_eps, pruning_limit, theory_curve
from prunelimit.training import (
    TrainSettings,
    evaluate,
    fingerprint,
    fit,
    minibatch_losses,
    summarise,
)

KINDS = ("dense", "l1")


def settings_for(exp: dict, kind: str) -> TrainSettings:
    """Training settings of ``kind``: ``l1`` uses the experiment's l1 strength, ``dense`` 0."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    train = dict(exp["train"])
    if kind == "dense":
        train["l1"] = 0.0
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
        "experiment": exp["name"],
        "kind": kind,
        "seed": seed,
        "dataset": exp["dataset"],
        "model": exp["model"],
        "settings": s.__dict__,
        "D": count_prunable(model),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        **summary,
        "history": history,
    }
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


def training_tensors(
    data: DatasetSplits, samples: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (normalised, unaugmented) training samples used for the Hessian."""

    idx = hessian_samples(len(data.train), samples, seed).to(data.train.x.device)
    return data.train.get(idx)


def spectrum_of(model: nn.Module, data: DatasetSplits, h: dict) -> dict:
    """Hessian spectrum of the training loss at ``model``'s weights (``h``: hessian settings)."""

    x, y = training_tensors(data, h["samples"], h["seed"])
    print(
        f"Hessian over {len(y)} training samples, engine {h['engine']}, "
        f"{h['probes']} probes x {h['lanczos_steps']} Lanczos steps",
        flush=True,
    )
    return estimate_spectrum(
        model,
        x,
        y,
        engine=h["engine"],
        steps=h["lanczos_steps"],
        probes=h["probes"],
        batch_size=h["batch_size"],
        top_k=h["top_k"],
        seed=h["seed"],
        power_iterations=h.get("power_iterations", 100),
        cache_primal=h.get("cache_primal", True),
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
) -> dict:
    """The theoretical limit and bounds at ``model``'s weights (w*), with every input."""

    eps_value, eps_mode = loss_tolerance(model, data, eps, batch_size, seed)
    train_loss, train_acc = evaluate(model, data.train)
    mags = sorted_magnitudes(flat_prunable(model).cpu())
    if spectrum["D"] != mags.numel():
        raise ValueError(
            f"the spectrum was computed for D = {spectrum['D']} prunable weights, "
            f"the model has {mags.numel()}: the spectrum file is stale"
        )
    nodes, weights = np.asarray(spectrum["nodes"]), np.asarray(spectrum["weights"])
    limit = pruning_limit(mags, nodes, weights, eps_value, negative)
    return {
        **limit,
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
            "probes": spectrum["probes"],
            "hessian_samples": spectrum["samples"],
            "weight_l2": float(mags.norm()),
            "weight_l1": float(mags.sum()),
        },
        "curve": theory_curve(mags, nodes, weights, eps_value, negative),
    }


def pruning_curve(
    model: nn.Module,
    data: DatasetSplits,
    eps: float,
    resolution: float,
    coarse_points: int,
    rho_min: float,
) -> dict:
    """One-shot global magnitude pruning of ``model`` (no fine-tuning) along kept ratios.

    Finds the actual limit under the loss criterion ``L(w_rho) <= L(w*) + eps`` (training loss,
    the objective ``eps`` is measured on) and under the accuracy criterion (validation accuracy
    not below the unpruned network's; the test set is never used to choose), each with
    :func:`prunelimit.search.find_limit`. Evaluations are shared and cached; nothing is saved
    but the measured curve.
    """

    if len(data.val) == 0:
        raise ValueError(
            "the accuracy criterion needs a validation split: set data.val_fraction "
            "> 0 (the test set is never used to choose the limit)"
        )
    weights = prunable_weights(model)
    original = {n: w.detach().clone() for n, w in weights.items()}
    D = sum(w.numel() for w in original.values())
    base_loss, base_acc = evaluate(model, data.train)
    base_val = evaluate(model, data.val)[1]
    rows: dict[int, dict] = {}

    def measure(i: int) -> dict:
        if i not in rows:
            keep = keep_count(i * resolution, D)
            masks = global_magnitude_masks(original, keep)
            with torch.no_grad():
                for n, w in weights.items():
                    w.copy_(original[n] * masks[n])
            loss, acc = evaluate(model, data.train)
            val = evaluate(model, data.val)[1]
            test = evaluate(model, data.test)[1]
            rows[i] = {
                "rho": keep / D,
                "train_loss": loss,
                "train_acc": acc,
                "val_acc": val,
                "test_acc": test,
            }
            print(
                f"  rho {keep / D:8.4%}  train loss {loss:.4f}  val acc {val:.4f}  "
                f"test acc {test:.4f}",
                flush=True,
            )
        return rows[i]

    try:
        by_loss = find_limit(
            lambda i: measure(i)["train_loss"] <= base_loss + eps,
            resolution,
            coarse_points,
            rho_min,
        )
        by_acc = find_limit(
            lambda i: measure(i)["val_acc"] >= base_val, resolution, coarse_points, rho_min
        )
    finally:
        with torch.no_grad():
            for n, w in weights.items():
                w.copy_(original[n])
    curve = [rows[i] for i in sorted(rows)]
    return {
        "rho_loss": by_loss.rho,
        "rho_acc": by_acc.rho,
        "D": D,
        "eps": eps,
        "unpruned": {"train_loss": base_loss, "train_acc": base_acc, "val_acc": base_val},
        "isolated_feasible_loss": by_loss.isolated_feasible,
        "isolated_feasible_acc": by_acc.isolated_feasible,
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
) -> dict:
    """Spectrum, theoretical limit and actual limit of ``model``'s weights in one call.

    ``hessian``, ``theory`` and ``limit`` are the settings of the config sections of those
    names; the actual limit uses the theory's ``eps``. Returns both results (``theory``,
    ``actual``) and the unpruned network's training loss and accuracy and test accuracy.
    """
    spectrum = spectrum_of(model, data, hessian)
    th = theory_of(model, data, spectrum, theory["eps"], theory["negative"], batch_size, seed)
    actual = pruning_curve(
        model,
        data,
        th["inputs"]["eps"],
        limit["resolution"],
        limit["coarse_points"],
        limit.get("rho_min", 0.0005),
    )
    return {
        "theory": th,
        "actual": actual,
        "train_loss": th["inputs"]["train_loss"],
        "train_acc": th["inputs"]["train_acc"],
        "test_acc": evaluate(model, data.test)[1],
    }
