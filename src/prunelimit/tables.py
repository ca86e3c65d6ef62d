"""The one results writer for tables: CSV (full precision), Markdown and LaTeX (formatted)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from prunelimit.io import atomic_path, write_csv


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value), NaNs dropped."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
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


def limits_table(records: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-experiment summary of theory against actual limit (kept ratios in percent).

    ``records``: one dict per experiment and seed with keys experiment, dataset, model, seed, D,
    rho_th, rho_lower, rho_upper, rho_loss, rho_acc, dense_rho_loss, dense_rho_acc (fractions).
    Returns (raw, formatted): raw has ``_mean``/``_std`` columns, formatted ``mean +- std``
    strings and, for experiments matching a row of the paper, the paper's numbers labelled so.
    """
    from prunelimit.paper import PAPER_LIMITS

    df = pd.DataFrame(records)
    df["bound_gap"] = df["rho_upper"] - df["rho_lower"]
    df["gap_loss"] = df["rho_loss"] - df["rho_th"]  # actual - theory, as the paper's Delta
    df["gap_acc"] = df["rho_acc"] - df["rho_th"]
    cols = [
        "rho_th",
        "rho_lower",
        "rho_upper",
        "bound_gap",
        "rho_loss",
        "rho_acc",
        "gap_loss",
        "gap_acc",
        "dense_rho_loss",
        "dense_rho_acc",
    ]
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
        for c in cols:
            m, s = mean_std(list(100 * grp[c]))
            raw[f"{c}_mean"], raw[f"{c}_std"] = m, s
        labels = {
            "rho_th": "theory rho_th",
            "rho_lower": "lower",
            "rho_upper": "upper",
            "bound_gap": "bound gap",
            "rho_loss": "actual (loss)",
            "rho_acc": "actual (acc)",
            "gap_loss": "actual (loss) - theory",
            "dense_rho_loss": "dense actual (loss)",
        }
        for c, label in labels.items():
            fmt[label] = format_pm(raw[f"{c}_mean"], raw[f"{c}_std"])
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
