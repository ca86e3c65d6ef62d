"""The one results writer for tables: CSV (full precision), Markdown and LaTeX (formatted).

The table builders live beside it, one module per stage as in :mod:`prunelimit.plotting`; each
returns ``(raw, formatted)`` frames. Nothing here imports torch, so table jobs stay light.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from prunelimit.io import atomic_path, write_csv


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


def plural(n: int, word: str) -> str:
    """``'1 seed'``, ``'3 seeds'``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def known_verdicts(values) -> list[bool]:
    """The seeds' verdicts that are known (None and NaN dropped)."""
    return [bool(v) for v in values if v is not None and v == v]


def grid_edge(limits: dict[str, float], grid_min: float | None = None) -> str:
    """Which of the actual ``limits`` (criterion -> kept ratio, a fraction) sit at an edge of
    the searched grid, as one sentence ('' when none): at 1 no pruned network met the
    criterion; at ``grid_min`` (the smallest ratio searched) the limit may be lower still."""
    top = [c for c, r in limits.items() if r is not None and r >= 1.0]
    bottom = [
        c
        for c, r in limits.items()
        if grid_min is not None and r is not None and r < 1.0 and r <= grid_min
    ]
    parts = []
    if top:
        parts.append(f"{', '.join(top)} at 100 % (no pruned network met the criterion)")
    if bottom:
        parts.append(
            f"{', '.join(bottom)} at the smallest ratio searched, {100 * grid_min:g} % "
            "(the limit may be lower)"
        )
    return f"limit at the grid's edge: {'; '.join(parts)}" if parts else ""
