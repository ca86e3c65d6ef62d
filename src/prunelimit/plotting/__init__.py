"""Figures (seaborn/matplotlib, headless). One module per topic; ``save_figure`` writes them all."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from prunelimit.io import atomic_path  # noqa: E402


def setup_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def save_figure(fig: plt.Figure, *paths: str | os.PathLike) -> list[Path]:
    """Save ``fig`` atomically to each path (format from its suffix: .pdf, .png) and close it."""
    out = []
    for path in map(Path, paths):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=150, bbox_inches="tight")
        out.append(path)
    plt.close(fig)
    return out
