"""The one results writer for tables: CSV (full precision), Markdown and LaTeX (formatted)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from prunelimit.io import atomic_path, write_csv
from prunelimit.paper import PAPER_LIMITS
from prunelimit.regions import ALLOCATIONS


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value); missing and
    non-finite values are dropped (the tables say how many seeds are left)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def format_pm(mean: float, std: float, digits: int = 2) -> str:
    """``'1.74 +- 0.12'``; an empty string for a missing value."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def write_table(
    raw: pd.DataFrame,
    stem: str | os.PathLike,
    formatted: pd.DataFrame | None = None,
    caption: str = "",
) -> list[Path]:
    """Write ``stem.csv`` from ``raw`` and ``stem.md``/``stem.tex`` from ``formatted`` (or raw).

    Each file is written atomically. Returns the three paths.
    """
    stem = Path(stem)
    shown = raw if formatted is None else formatted
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    write_csv(paths[0], raw)
    with atomic_path(paths[1]) as tmp:
        text = shown.to_markdown(index=False)
        if caption:
            text = f"{caption}\n\n{text}"
        tmp.write_text(text + "\n")
    with atomic_path(paths[2]) as tmp:
        latex = shown.to_latex(index=False, escape=True, caption=caption or None)
        tmp.write_text(latex.replace("+-", r"$\pm$"))
    return paths


def _known(values) -> list[bool]:
    """The seeds' verdicts that are known (None and NaN dropped)."""
    return [bool(v) for v in values if v is not None and v == v]


def limits_table(records: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-experiment summary of theory against actual limit (kept ratios in percent).

    ``records``: one dict per experiment and seed with keys experiment, dataset, model, seed, D,
    rho_th, rho_lower, rho_upper, rho_loss, rho_objective, rho_acc, val_acc_se, dense_rho_loss,
    dense_rho_acc (fractions), the verdicts converged (of rho_th in the Lanczos steps),
    in_regime and train_converged (the l1 run's training loss plateau; bool or None) and
    drift_kept. A value missing for some seeds is shown with its ``n/N seeds``. Relative gaps
    ``|rho_th - rho_act| / rho_act`` are per seed, then averaged.
    Returns (raw, formatted): raw has ``_mean``/``_std`` columns, formatted ``mean +- std``
    strings and, for experiments matching a row of the paper, the paper's numbers labelled so.
    """
    df = pd.DataFrame(records)
    df["bound_gap"] = df["rho_upper"] - df["rho_lower"]
    for c in ("loss", "objective", "acc"):
        df[f"gap_{c}"] = df[f"rho_{c}"] - df["rho_th"]  # actual - theory, as the paper's Delta
        df[f"relgap_{c}"] = (df["rho_th"] - df[f"rho_{c}"]).abs() / df[f"rho_{c}"]
    cols = [
        "rho_th",
        "rho_lower",
        "rho_upper",
        "bound_gap",
        "rho_loss",
        "rho_objective",
        "rho_acc",
        "val_acc_se",
        "gap_loss",
        "gap_objective",
        "gap_acc",
        "relgap_loss",
        "relgap_objective",
        "relgap_acc",
        "dense_rho_loss",
        "dense_rho_acc",
        "drift_kept",
    ]
    labels = {
        "rho_th": "theory rho_th",
        "rho_lower": "lower",
        "rho_upper": "upper",
        "bound_gap": "bound gap",
        "rho_loss": "actual (a) loss",
        "rho_objective": "actual (b) objective",
        "rho_acc": "actual (c) val acc",
        "val_acc_se": "val acc SE (points)",
        "gap_loss": "(a) - theory",
        "relgap_loss": "rel. gap (a) %",
        "relgap_objective": "rel. gap (b) %",
        "dense_rho_loss": "dense actual (a)",
        "drift_kept": "drift cut kept",
    }
    raw_rows, fmt_rows = [], []
    for name, grp in df.groupby("experiment", sort=False):
        first = grp.iloc[0]
        raw = {
            "experiment": name,
            "dataset": first["dataset"],
            "model": first["model"],
            "D": int(first["D"]),
            "seeds": len(grp),
        }
        fmt = {
            "experiment": name,
            "data / model": f"{first['dataset']} / {first['model']}",
            "D": int(first["D"]),
            "seeds": len(grp),
        }
        for verdict in ("in_regime", "converged", "train_converged"):
            known = _known(grp[verdict]) if verdict in grp else []
            raw[f"{verdict}_seeds"] = sum(known)  # '2/3': true of all; '?': none known
            fmt[verdict.replace("_", " ")] = f"{sum(known)}/{len(grp)}" if known else "?"
        counts = {}
        for c in cols:
            values = list(100 * grp[c].astype(float)) if c in grp else []
            m, s = mean_std(values)
            raw[f"{c}_mean"], raw[f"{c}_std"] = m, s
            counts[c] = sum(1 for v in values if math.isfinite(v))
        for c, label in labels.items():
            fmt[label] = format_pm(raw[f"{c}_mean"], raw[f"{c}_std"])
            if 0 < counts[c] < len(grp):  # a seed is missing: say so, never hide it
                fmt[label] += f" ({counts[c]}/{len(grp)} seeds)"
        paper = PAPER_LIMITS.get((first["dataset"], first["model"]))
        for key, label in (
            ("theory", "paper: theory"),
            ("actual", "paper: actual"),
            ("gap", "paper: actual - theory"),
        ):
            mean_std_paper = paper[key] if paper else (None, None)
            raw[f"paper_{key}_mean"], raw[f"paper_{key}_std"] = mean_std_paper
            fmt[label] = format_pm(*mean_std_paper) if paper else ""
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)


def eb_table(
    ebs: list[dict], limits: list[dict], exps: dict[str, dict]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per experiment: early-bird epoch and the limits (percent of D) at it and at the end.

    ``ebs``/``limits``: the ``eb.json``/``eb_limit.json`` of each run; ``exps``: experiment
    name -> experiment dict. Returns (raw, formatted) like :func:`limits_table`.
    """
    by_exp: dict[str, list[tuple[dict, dict]]] = {}
    for eb, lim in zip(ebs, limits, strict=True):
        by_exp.setdefault(eb["experiment"], []).append((eb, lim))
    raw_rows, fmt_rows = [], []
    for name, runs in by_exp.items():
        exp = exps[name]
        epochs = [eb["detected_epoch"] for eb, _ in runs]
        found = [e for e in epochs if e is not None]
        raw = {
            "experiment": name,
            "dataset": exp["dataset"],
            "model": exp["model"],
            "seeds": len(runs),
            "threshold": runs[0][0]["threshold"],
            "detected": len(found),
            "epochs": runs[0][0]["epochs"][-1],
        }
        fmt = {
            "experiment": name,
            "data / model": f"{exp['dataset']} / {exp['model']}",
            "seeds": len(runs),
            "EB epoch": format_pm(*mean_std(found), digits=1) if found else "none",
        }
        raw["eb_epoch_mean"], raw["eb_epoch_std"] = mean_std(found)
        for t in runs[0][0]["detected_by_threshold"]:
            hits = [eb["detected_by_threshold"][t] for eb, _ in runs]
            hits = [h for h in hits if h is not None]
            raw[f"eb_epoch_t{t}"] = np.mean(hits) if hits else math.nan
            if float(t) != runs[0][0]["threshold"]:
                fmt[f"EB epoch (t={t})"] = format_pm(*mean_std(hits), digits=1) if hits else "none"
        for stage, label in (("eb", "EB"), ("final", "final")):
            for key, col, scale in (
                ("test_acc", "test acc", 1),
                ("rho_th", "theory %", 100),
                ("rho_loss", "actual (loss) %", 100),
                ("rho_acc", "actual (acc) %", 100),
            ):
                vals = [scale * lim[stage][key] for _, lim in runs if lim.get(stage)]
                m, s = mean_std(vals)
                raw[f"{stage}_{key}_mean"], raw[f"{stage}_{key}_std"] = m, s
                fmt[f"{label} {col}"] = format_pm(m, s, digits=3 if scale == 1 else 1)
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)


def regions_table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per experiment and global density: accuracy (mean +- std over seeds) per allocation
    (``df``: the concatenated ``regions.csv`` tables)."""
    raw_rows, fmt_rows = [], []
    if df.empty:
        return pd.DataFrame(columns=["experiment", "rho"]), pd.DataFrame(
            columns=["experiment", "density %"]
        )
    layer_cols = sorted(c for c in df.columns if c.startswith("density_"))
    for (name, rho), grp in df.groupby(["experiment", "rho"], sort=False):
        raw = {"experiment": name, "rho": rho, "seeds": grp["seed"].nunique()}
        fmt = {"experiment": name, "density %": f"{100 * rho:g}", "seeds": raw["seeds"]}
        for alloc in ALLOCATIONS:
            sub = grp[grp["allocation"] == alloc]
            for key in ("test_acc", "oneshot_test_acc", "log_bound"):
                m, s = mean_std(list(sub[key]))
                raw[f"{alloc}_{key}_mean"], raw[f"{alloc}_{key}_std"] = m, s
            for col in layer_cols:
                raw[f"{alloc}_{col}"] = float(sub[col].mean())
            fmt[f"{alloc}: acc"] = format_pm(
                raw[f"{alloc}_test_acc_mean"], raw[f"{alloc}_test_acc_std"], 3
            )
            fmt[f"{alloc}: layer densities %"] = " / ".join(
                f"{100 * raw[f'{alloc}_{c}']:.2g}" for c in layer_cols
            )
            fmt[f"{alloc}: log10 bound"] = f"{raw[f'{alloc}_log_bound_mean'] / math.log(10):.2f}"
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)
