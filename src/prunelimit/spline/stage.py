"""The spline stage of an experiment: the limits at the early-bird epoch and at the end of the
watched l1 run (recorded by ``train``; nothing is retrained), the partition of the input plane
at kept ratios around the limit, and the region-bound layer densities against uniform and
global ones.

Kept ratios ``rho`` are fractions of ``D``; early-bird epochs count from 0 (the initialisation).
"""

from __future__ import annotations

import time

import numpy as np
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
from prunelimit.partition.plane import grid_partition, watch_inputs
from prunelimit.pruning import keep_count, magnitude_path, masked, prunable_weights
from prunelimit.spline.tickets import detect_early_bird, window_max
from prunelimit.training.loop import evaluate


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


def partition_ratios(rho_th: float, rho_loss: float | None) -> list[tuple[str, float]]:
    """The kept ratios of the partition figure, labelled: unpruned, ``2 rho_th`` (capped at 1),
    ``rho_th``, the actual limit ``rho_loss`` and half of it (the last two when it was found),
    in decreasing ``rho`` (as pruning proceeds; equal ratios in that order)."""
    points = [("unpruned", 1.0), ("2 rho_th", min(1.0, 2 * rho_th)), ("rho_th", rho_th)]
    if rho_loss is not None:
        points += [("rho_loss", rho_loss), ("rho_loss / 2", rho_loss / 2)]
    return sorted(points, key=lambda p: -p[1])


def partition_at_limit(
    name: str,
    data: DatasetSplits,
    model: nn.Module,
    rho_th: float,
    rho_loss: float | None,
    grid: int,
    margin: float,
    seed: int,
) -> tuple[dict, dict[str, np.ndarray]]:
    """The partition and decision boundary of ``model`` (experiment ``name``'s l1 network) on the
    spline stage's
    input plane (``grid``, ``margin``: :func:`~prunelimit.partition.plane.watch_inputs`), unpruned
    and one-shot global magnitude pruned (no fine-tuning) to each of :func:`partition_ratios`.

    Returns the record (per ratio: label, ``rho``, kept weights, regions, boundary fractions,
    test accuracy) and the arrays of the figure: ``coef`` (grid,), ``rho`` (P,),
    ``layer_boundaries`` (P, layers, grid, grid), ``decision`` and ``classes`` (P, grid, grid).
    """
    t0 = time.perf_counter()
    x = watch_inputs(data, grid, margin)
    coef = np.linspace(-margin, 1 + margin, grid)  # the coefficients of grid_inputs
    weights = {n: w.detach() for n, w in prunable_weights(model).items()}
    D = sum(w.numel() for w in weights.values())
    path = magnitude_path(weights)  # one sort for every ratio
    rows, arrays = [], {"layer_boundaries": [], "decision": [], "classes": []}
    for label, rho in partition_ratios(rho_th, rho_loss):
        keep = keep_count(rho, D)
        with masked(model, path(keep)):
            part = grid_partition(model, x, grid)
            test_acc = evaluate(model, data.test)[1]
        for key in arrays:
            arrays[key].append(part[key])
        rows.append({"label": label, "rho": rho, "kept": keep, **_summary(part, test_acc)})
        print(
            f"{label} (rho {rho:.4f}, {keep} of {D} weights): {part['regions']} regions "
            f"(per layer {part['regions_per_layer']}), test acc {test_acc:.4f}",
            flush=True,
        )
    record = {
        "experiment": name,
        "seed": seed,
        "grid": grid,
        "margin": margin,
        "D": D,
        "rho_th": rho_th,
        "rho_loss": rho_loss,
        "points": rows,
        "seconds": time.perf_counter() - t0,
    }
    out = {k: np.stack(v) for k, v in arrays.items()}
    out["coef"] = coef
    out["rho"] = np.array([r["rho"] for r in rows])
    return record, out


def _summary(part: dict, test_acc: float) -> dict:
    """What the record keeps of a partition on the grid (:func:`grid_partition`)."""
    return {
        "regions": part["regions"],
        "regions_per_layer": part["regions_per_layer"],
        "boundary_fraction": float(part["boundary"].mean()),
        "decision_fraction": float(part["decision"].mean()),
        "classes_on_grid": np.unique(part["classes"]).tolist(),
        "test_acc": test_acc,
    }
