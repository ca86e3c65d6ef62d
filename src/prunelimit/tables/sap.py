"""Tables of the SAP stage: the PQ Index of the trained networks (the methods at matched
levels: :mod:`prunelimit.tables.methods`)."""

from __future__ import annotations

import pandas as pd

from prunelimit.tables import format_pm, mean_std


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
