"""Rules spline_eb (early-bird detection and the pruning limit at the EB epoch) and
linear_regions (region-bound density allocation against uniform and global), by rule name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import time

import numpy as np
import pandas as pd

from _common import log_to
from prunelimit.config import hessian_settings
from prunelimit.data import load_dataset
from prunelimit.experiment import limits_of, load_trained, settings_for
from prunelimit.io import write_csv, write_json
from prunelimit.runtime import setup

log_to(snakemake.log[0])

seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
exp, cfg = snakemake.params.exp, snakemake.params.spline
data = load_dataset(snakemake.input.data, device)


def limits_at(model, label: str) -> dict:
    """Theory (SLQ spectrum, rho_th and bounds) and actual limit of ``model``'s weights."""
    t0 = time.perf_counter()
    h = hessian_settings(exp, snakemake.params.hessian)
    h.update(cfg.get("hessian", {}))
    res = limits_of(
        model,
        data,
        h,
        snakemake.params.theory,
        snakemake.params.limit,
        settings_for(exp, "l1").batch_size,
        seed,
        l1=settings_for(exp, "l1").l1,
    )
    theory, actual = res["theory"], res["actual"]
    print(
        f"{label}: rho_th {theory['rho_th']:.4f} [{theory['rho_lower']:.4f}, "
        f"{theory['rho_upper']:.4f}], actual (loss) {actual['rho_loss']:.4f}, "
        f"(acc) {actual['rho_acc']:.4f}, {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return {
        "rho_th": theory["rho_th"],
        "rho_lower": theory["rho_lower"],
        "rho_upper": theory["rho_upper"],
        "rho_loss": actual["rho_loss"],
        "rho_objective": actual["rho_objective"],
        "rho_acc": actual["rho_acc"],
        "eps": theory["inputs"]["eps"],
        "train_loss": res["train_loss"],
        "train_acc": res["train_acc"],
        "test_acc": res["test_acc"],
        "theory_inputs": theory["inputs"],
        "actual": actual,
    }


if snakemake.rule == "spline_eb":
    from prunelimit.spline import detect_early_bird, early_bird_training, window_max

    t0 = time.perf_counter()
    model, rec, history = early_bird_training(
        exp,
        data,
        seed,
        device,
        grid=cfg["grid"],
        threshold=cfg["threshold"],
        window=cfg["window"],
        margin=cfg.get("margin", 0.25),
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    dist = rec.matrix()
    t_matrix = time.perf_counter() - t0
    detected = detect_early_bird(dist, cfg["threshold"], cfg["window"])
    assert detected == rec.detected, (detected, rec.detected)  # online and offline rule agree
    sweep = sorted({*cfg.get("report_thresholds", []), cfg["threshold"]}, reverse=True)
    epochs = rec.epochs
    write_csv(
        snakemake.output.distances,
        pd.DataFrame(dist, index=epochs, columns=epochs),
        index=True,
        index_label="epoch",
    )
    print(f"training with recording {t_train:.1f} s, distance matrix {t_matrix:.1f} s")
    print(f"early-bird epoch (threshold {cfg['threshold']}): {detected}")
    write_json(
        snakemake.output.eb,
        {
            "experiment": exp["name"],
            "seed": seed,
            "grid": cfg["grid"],
            "points": cfg["grid"] ** 2,
            "threshold": cfg["threshold"],
            "window": cfg["window"],
            "detected_epoch": detected,
            "detected_by_threshold": {
                str(t): detect_early_bird(dist, t, cfg["window"]) for t in sweep
            },
            "epochs": epochs,
            "code_bits_per_layer": rec.sizes,
            "window_max": window_max(dist, cfg["window"]),
            "step_distance_per_layer": rec.layer_steps,
            "test_acc": [None, *history["test_acc"]],
            "train_loss": [None, *history["train_loss"]],
            "seconds": {"train_and_record": t_train, "distance_matrix": t_matrix},
        },
    )
    result = {"experiment": exp["name"], "seed": seed, "eb_epoch": detected}
    result["final"] = limits_at(model, f"final (epoch {epochs[-1]})")
    result["final"]["epoch"] = epochs[-1]
    if rec.eb_state is not None:
        model.load_state_dict(rec.eb_state)
        result["eb"] = limits_at(model, f"early bird (epoch {detected})")
        result["eb"]["epoch"] = detected
    else:
        result["eb"] = None
    write_json(snakemake.output.limit, result)

else:  # linear_regions
    from dataclasses import replace

    from prunelimit.regions import compare_allocations, mlp_dims

    model = load_trained(exp, data, snakemake.input.model, device)
    s = settings_for(exp, "dense")
    finetune = replace(
        s, epochs=int(cfg["finetune_epochs"]), schedule="none", warmup_epochs=0, milestones=()
    )
    rows = compare_allocations(model, data, cfg["densities"], finetune, seed)
    df = pd.DataFrame(rows)
    df.insert(0, "seed", seed)
    df.insert(0, "experiment", exp["name"])
    n0, widths, _ = mlp_dims(model)
    df["dims"] = "-".join(map(str, [n0, *widths]))
    df["finetune_epochs"] = finetune.epochs
    write_csv(snakemake.output[0], df)
    print(df.drop(columns=["dims"]).to_string())
    print(np.round(df.groupby("allocation")["test_acc"].mean(), 4))
