"""The spline stage of an experiment: the limits at the early-bird epoch and at the end of the
watched l1 run (recorded by ``train``; nothing is retrained). The partition of the input plane
as pruning proceeds is :mod:`prunelimit.spline.partition`; the region-bound layer densities
are :mod:`prunelimit.regions`.

Kept ratios ``rho`` are fractions of ``D``; early-bird epochs count from 0 (the initialisation).
"""

from __future__ import annotations

import time

import pandas as pd
from torch import nn

from prunelimit.config.settings import (
    EarlyBirdSettings,
    HessianSettings,
    LimitSettings,
    TheorySettings,
    TrainSettings,
)
from prunelimit.data import DatasetSplits
from prunelimit.limit.actual import limits_of
from prunelimit.spline.tickets import detect_early_bird, window_max


def limits_summary(
    model: nn.Module,
    data: DatasetSplits,
    l1_run: TrainSettings,
    hessian: HessianSettings,
    theory: TheorySettings,
    limit: LimitSettings,
    seed: int,
    label: str,
) -> dict:
    """Theory (spectrum, ``rho_th`` and bounds) and actual limits of ``model``'s weights, with
    the unpruned network's losses and accuracies (``label`` names the weights in the log);
    ``eps`` and the objective criterion as the l1 run trained (``l1_run``)."""
    t0 = time.perf_counter()
    s = l1_run
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


def early_bird_limits(
    name: str,
    l1_run: TrainSettings,
    data: DatasetSplits,
    model: nn.Module,
    observed: dict,
    spline: EarlyBirdSettings,
    hessian: HessianSettings,
    theory: TheorySettings,
    limit: LimitSettings,
    seed: int,
) -> tuple[dict, pd.DataFrame, dict]:
    """The early-bird record of the watched l1 run (``observed``: what its recorder saw, see
    :meth:`~prunelimit.spline.tickets.CodeRecorder.observations`; ``l1_run`` its settings) of
    experiment ``name``, and the limits of its final weights (``model``) and of its weights at
    the early-bird epoch. ``hessian``: the spectra's
    settings (the spline overrides applied). Nothing is trained here.

    Returns (the early-bird record, the epoch x epoch code-distance frame, the limits).
    """
    if not observed.get("watched"):
        raise ValueError(f"{name} seed {seed}: the l1 run was not watched for early birds")
    dist = observed["distances"].numpy()
    epochs, detected = observed["epochs"], observed["detected_epoch"]
    sweep = sorted({*spline.report_thresholds, spline.threshold}, reverse=True)
    print(f"early-bird epoch (threshold {spline.threshold}): {detected}")
    record = {
        "experiment": name,
        "seed": seed,
        "grid": observed["grid"],
        "points": observed["points"],
        "threshold": observed["threshold"],
        "window": observed["window"],
        "detected_epoch": detected,
        "detected_by_threshold": {
            str(t): detect_early_bird(dist, t, observed["window"]) for t in sweep
        },
        "epochs": epochs,
        "code_bits_per_layer": observed["code_bits_per_layer"],
        # the units whose bits the distances read, of each layer's (a watch file written
        # before units were sampled read them all)
        "units_per_layer": observed.get("units_per_layer"),
        "sampled_units_per_layer": observed.get("sampled_units_per_layer"),
        "window_max": window_max(dist, observed["window"]),
        "step_distance_per_layer": observed["step_distance_per_layer"],
        "test_acc": observed["test_acc"],
        "train_loss": observed["train_loss"],
        "seconds": observed["seconds"],
    }
    distances = pd.DataFrame(dist, index=epochs, columns=epochs)
    limits = {"experiment": name, "seed": seed, "eb_epoch": detected}
    args = (data, l1_run, hessian, theory, limit, seed)
    limits["final"] = limits_summary(model, *args, f"final (epoch {epochs[-1]})")
    limits["final"]["epoch"] = epochs[-1]
    limits["eb"] = None
    if observed["eb_state"] is not None:
        model.load_state_dict(observed["eb_state"])
        limits["eb"] = limits_summary(model, *args, f"early bird (epoch {detected})")
        limits["eb"]["epoch"] = detected
    return record, distances, limits
