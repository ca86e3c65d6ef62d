"""The linear-region stage of an experiment (Cai et al., CPAIOR 2023): its trained dense MLP
pruned to each density with the region-bound, uniform and global layer allocations, fine-tuned
and compared (accuracy and the linear regions on the spline stage's input plane, counted exactly
and on its grid).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from torch import nn

from prunelimit.config.settings import RegionSettings, TrainSettings
from prunelimit.data import DatasetSplits
from prunelimit.partition.plane import Plane, watch_anchors
from prunelimit.regions.sparsity import compare_allocations, mlp_dims


def regions_experiment(
    name: str,
    dense: TrainSettings,
    model: nn.Module,
    data: DatasetSplits,
    spline: RegionSettings,
    seed: int,
    grid: int | None = None,
    margin: float = 0.25,
) -> pd.DataFrame:
    """Experiment ``name``'s trained dense MLP pruned to each of ``spline.densities`` with the
    region-bound, uniform and global allocations, fine-tuned ``spline.finetune_epochs`` with the
    masks held (constant lr of its dense run, trained with ``dense``). One row per (density,
    allocation); with ``grid``, the linear regions on the early-bird stage's input plane
    (through :func:`watch_anchors`) too: exactly (``regions``) and on its ``grid`` points
    (``grid_regions``)."""
    finetune = replace(
        dense,
        epochs=int(spline.finetune_epochs),
        schedule="none",
        warmup_epochs=0,
        milestones=(),
    )
    plane = Plane(watch_anchors(data), grid, margin) if grid else None
    rows = compare_allocations(model, data, spline.densities, finetune, seed, plane=plane)
    df = pd.DataFrame(rows)
    df.insert(0, "seed", seed)
    df.insert(0, "experiment", name)
    n0, widths, _ = mlp_dims(model)
    df["dims"] = "-".join(map(str, [n0, *widths]))
    df["finetune_epochs"] = finetune.epochs
    return df
