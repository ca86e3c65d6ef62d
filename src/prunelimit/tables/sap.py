"""Tables of the SAP stage: accuracy at matched remaining-weight levels, PQ Index."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from prunelimit.io import read_csv
from prunelimit.tables import format_pm, mean_std


def read_runs(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-run record tables (the ``sap`` rule's CSVs)."""
    return pd.concat([read_csv(p) for p in paths], ignore_index=True)


def matched_levels(df: pd.DataFrame, levels: list[float], max_ratio: float = 1.5) -> pd.DataFrame:
    """Test accuracy at matched remaining-weight levels, mean +- std over seeds.

    For each experiment, method, scope, seed and level (percent remaining), the iteration whose
    ``percent`` is nearest the level in log scale is taken. ``reached`` is False when, for some
    seed, that iteration is more than a factor ``max_ratio`` away from the level (the method did
    not get there within ``T`` iterations). Accuracies in percent.
    """
    rows = []
    keys = ["experiment", "method", "scope"]
    for key, sub in df.groupby(keys, sort=False):
        for level in levels:
            picks = []
            for _, run in sub.groupby("seed"):
                dist = (run["percent"] / level).map(math.log).abs()
                picks.append(run.loc[dist.idxmin()])
            pick = pd.DataFrame(picks)
            ratio = (pick["percent"] / level).map(lambda r: max(r, 1 / r))
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "level": level,
                    "percent_mean": pick["percent"].mean(),
                    "percent_std": pick["percent"].std(ddof=1) if len(pick) > 1 else 0.0,
                    "test_acc_mean": 100 * pick["test_acc"].mean(),
                    "test_acc_std": 100 * pick["test_acc"].std(ddof=1) if len(pick) > 1 else 0.0,
                    "iteration_mean": pick["iteration"].mean(),
                    "seeds": len(pick),
                    "reached": bool((ratio <= max_ratio).all()),
                }
            )
    return pd.DataFrame(rows)


def matched_levels_formatted(raw: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per experiment/method/scope, one column per level with
    ``acc +- std (percent %)``; empty where the level was not reached."""
    out = []
    for key, sub in raw.groupby(["experiment", "method", "scope"], sort=False):
        row = {"experiment": key[0], "method": key[1], "scope": key[2]}
        for r in sub.itertuples():
            row[f"{r.level:g} %"] = (
                f"{format_pm(r.test_acc_mean, r.test_acc_std, 1)} ({r.percent_mean:.1f} %)"
                if r.reached
                else "not reached"
            )
        out.append(row)
    return pd.DataFrame(out)


def pqi_table(entries: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean +- std over seeds of the PQI of each network (the ``pqi`` rule's JSON files).

    Each entry: ``{"experiment", "seed", "networks": {name: network_pqi(...)}}``. Returns the
    raw table (full precision, one row per experiment/network/p/q) and a formatted one.
    """
    long = pd.DataFrame(
        [
            {
                "experiment": e["experiment"],
                "seed": e["seed"],
                "network": net,
                **{k: row[k] for k in ("p", "q", "global", "layer_mean", "neuron_mean")},
            }
            for e in entries
            for net, rows in e["networks"].items()
            for row in rows
        ]
    )
    measures = ("global", "layer_mean", "neuron_mean")
    raw_rows, fmt_rows = [], []
    for key, sub in long.groupby(["experiment", "network", "p", "q"], sort=False):
        raw = dict(zip(("experiment", "network", "p", "q"), key, strict=True))
        fmt = {"experiment": key[0], "network": key[1], "(p, q)": f"({key[2]:g}, {key[3]:g})"}
        for m in measures:
            mean, std = mean_std(sub[m].astype(float).tolist())
            raw[f"{m}_mean"], raw[f"{m}_std"] = mean, std
            fmt[m.replace("_", " ")] = format_pm(mean, std, 3)
        raw["seeds"] = fmt["seeds"] = len(sub)
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)
