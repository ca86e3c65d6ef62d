"""The gradual-pruning table: the limits of the retrained network at the chosen iterations of
the watched Lottery Ticket run, as fractions of its surviving weights and of the original D."""

from __future__ import annotations

import pandas as pd

from prunelimit.tables import format_pm, mean_std

CAPTION = (
    "Gradual pruning through the limit: at chosen iterations of the Lottery Ticket run, the "
    "kept weights (% of the original D), the test accuracy of the retrained network, and its "
    "limits over its surviving weights: the theory's rho_th and the actual one-shot limits "
    "under (a) the training loss and (b) the objective (equal: the iterations train without "
    "l1), in % of the surviving weights and in % of D (mean +- std over seeds)."
)
# (key in limits.json, column label)
LIMITS = (
    ("rho_th", "theory"),
    ("rho_loss", "actual (a)"),
    ("rho_objective", "actual (b)"),
    ("rho_acc", "actual (c)"),
)
SHOWN = ("rho_th", "rho_loss", "rho_objective")


def gradual_table(runs: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (experiment, iteration) over the seeds' ``gradual/limits.json`` (``runs``):
    raw (fractions, mean and std) and formatted (percent, mean +- std)."""
    groups: dict[tuple[str, int], list[tuple[dict, dict]]] = {}
    for run in runs:
        for point in run["iterations"]:
            groups.setdefault((run["experiment"], point["iteration"]), []).append((run, point))
    raw_rows, fmt_rows = [], []
    for (name, t), items in sorted(groups.items()):
        run0 = items[0][0]
        points = [p for _, p in items]
        raw = {
            "experiment": name,
            "method": run0["method"],
            "scope": run0["scope"],
            "iteration": t,
            "seeds": len(items),
            "D": points[0]["D"],
            "converged": sum(bool(p["converged"]) for p in points),
        }
        fmt = {"experiment": name, "iteration": t, "seeds": len(items)}
        for key, label in (("kept", "kept % of D"), ("test_acc", "test acc")):
            m, s = mean_std([p[key] for p in points])
            raw[f"{key}_mean"], raw[f"{key}_std"] = m, s
            fmt[label] = format_pm(100 * m, 100 * s, 2) if key == "kept" else format_pm(m, s, 3)
        for suffix, where in (("", "surviving"), ("_of_D", "D")):
            for key, label in LIMITS:
                m, s = mean_std([p[f"{key}{suffix}"] for p in points])
                raw[f"{key}{suffix}_mean"], raw[f"{key}{suffix}_std"] = m, s
                if key in SHOWN:
                    fmt[f"{label} % of {where}"] = format_pm(100 * m, 100 * s, 2)
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)
