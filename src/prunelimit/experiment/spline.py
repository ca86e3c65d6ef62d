"""The spline stage of an experiment: early-bird detection with the limits at the early-bird
epoch and at the end, and the region-bound layer densities against uniform and global ones.

Kept ratios ``rho`` are fractions of ``D``; early-bird epochs count from 0 (the initialisation).
"""

from __future__ import annotations

import time
from dataclasses import replace

import pandas as pd
import torch
from torch import nn

from prunelimit.data import DatasetSplits
from prunelimit.experiment.actual import limits_of
from prunelimit.experiment.runs import settings_for
from prunelimit.regions import compare_allocations, mlp_dims
from prunelimit.settings import (
    EarlyBirdSettings,
    HessianSettings,
    LimitSettings,
    RegionSettings,
    TheorySettings,
)
from prunelimit.spline import detect_early_bird, early_bird_training, window_max


def limits_summary(
    model: nn.Module,
    data: DatasetSplits,
    exp: dict,
    hessian: HessianSettings,
    theory: TheorySettings,
    limit: LimitSettings,
    seed: int,
    label: str,
) -> dict:
    """Theory (spectrum, ``rho_th`` and bounds) and actual limits of ``model``'s weights, with
    the unpruned network's losses and accuracies (``label`` names the weights in the log)."""
    t0 = time.perf_counter()
    s = settings_for(exp, "l1")
    res = limits_of(model, data, hessian, theory, limit, s.batch_size, seed, l1=s.l1)
    th, actual = res["theory"], res["actual"]
    print(
        f"{label}: rho_th {th['rho_th']:.4f} [{th['rho_lower']:.4f}, {th['rho_upper']:.4f}], "
        f"actual (loss) {actual['rho_loss']:.4f}, (acc) {actual['rho_acc']:.4f}, "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return {
        **{k: th[k] for k in ("rho_th", "rho_lower", "rho_upper")},
        **{k: actual[k] for k in ("rho_loss", "rho_objective", "rho_acc")},
        "eps": th["inputs"]["eps"],
        "train_loss": res["train_loss"],
        "train_acc": res["train_acc"],
        "test_acc": res["test_acc"],
        "theory_inputs": th["inputs"],
        "actual": actual,
    }


def early_bird_experiment(
    exp: dict,
    data: DatasetSplits,
    seed: int,
    device: torch.device,
    spline: EarlyBirdSettings,
    hessian: HessianSettings,
    theory: TheorySettings,
    limit: LimitSettings,
) -> tuple[dict, pd.DataFrame, dict]:
    """The l1 training watched for an early-bird ticket, then the limits at the early-bird
    epoch and at the end. ``hessian``: the spectra's settings (the spline overrides applied).

    Returns (the early-bird record, the epoch x epoch code-distance frame, the limits).
    """
    t0 = time.perf_counter()
    model, rec, history = early_bird_training(
        exp,
        data,
        seed,
        device,
        grid=spline.grid,
        threshold=spline.threshold,
        window=spline.window,
        margin=spline.margin,
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    dist = rec.matrix()
    t_matrix = time.perf_counter() - t0
    detected = detect_early_bird(dist, spline.threshold, spline.window)
    if detected != rec.detected:
        raise RuntimeError(f"online early-bird epoch {rec.detected} != offline {detected}")
    sweep = sorted({*spline.report_thresholds, spline.threshold}, reverse=True)
    epochs = rec.epochs
    print(f"training with recording {t_train:.1f} s, distance matrix {t_matrix:.1f} s")
    print(f"early-bird epoch (threshold {spline.threshold}): {detected}")
    record = {
        "experiment": exp["name"],
        "seed": seed,
        "grid": spline.grid,
        "points": spline.grid**2,
        "threshold": spline.threshold,
        "window": spline.window,
        "detected_epoch": detected,
        "detected_by_threshold": {str(t): detect_early_bird(dist, t, spline.window) for t in sweep},
        "epochs": epochs,
        "code_bits_per_layer": rec.sizes,
        "window_max": window_max(dist, spline.window),
        "step_distance_per_layer": rec.layer_steps,
        "test_acc": [None, *history["test_acc"]],
        "train_loss": [None, *history["train_loss"]],
        "seconds": {"train_and_record": t_train, "distance_matrix": t_matrix},
    }
    distances = pd.DataFrame(dist, index=epochs, columns=epochs)
    limits = {"experiment": exp["name"], "seed": seed, "eb_epoch": detected}
    args = (data, exp, hessian, theory, limit, seed)
    limits["final"] = limits_summary(model, *args, f"final (epoch {epochs[-1]})")
    limits["final"]["epoch"] = epochs[-1]
    limits["eb"] = None
    if rec.eb_state is not None:
        model.load_state_dict(rec.eb_state)
        limits["eb"] = limits_summary(model, *args, f"early bird (epoch {detected})")
        limits["eb"]["epoch"] = detected
    return record, distances, limits


def regions_experiment(
    exp: dict, model: nn.Module, data: DatasetSplits, spline: RegionSettings, seed: int
) -> pd.DataFrame:
    """The trained dense MLP pruned to each of ``spline.densities`` with the region-bound,
    uniform and global allocations, fine-tuned ``spline.finetune_epochs`` with the masks held
    (constant lr of the dense run). One row per (density, allocation)."""
    finetune = replace(
        settings_for(exp, "dense"),
        epochs=int(spline.finetune_epochs),
        schedule="none",
        warmup_epochs=0,
        milestones=(),
    )
    df = pd.DataFrame(compare_allocations(model, data, spline.densities, finetune, seed))
    df.insert(0, "seed", seed)
    df.insert(0, "experiment", exp["name"])
    n0, widths, _ = mlp_dims(model)
    df["dims"] = "-".join(map(str, [n0, *widths]))
    df["finetune_epochs"] = finetune.epochs
    return df
