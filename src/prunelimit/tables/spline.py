"""Tables of the spline stage: early-bird epochs and limits, region-bound allocations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from prunelimit.regions.bound import ALLOCATIONS
from prunelimit.tables import format_pm, mean_std, plural


def eb_table(
    ebs: list[dict], limits: list[dict], exps: dict[str, dict]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per experiment: early-bird epoch and the limits (percent of D) at it and at the end.

    ``ebs``/``limits``: the ``eb.json``/``eb_limit.json`` of each run; ``exps``: experiment
    name -> experiment dict. Returns (raw, formatted) like :func:`limits_table`; the early-bird
    limits say "not found in N epochs" where no seed found one, and ``(n/N seeds)`` where some
    did not.
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
                shown = format_pm(m, s, digits=3 if scale == 1 else 1)
                if not vals and stage == "eb":
                    shown = f"not found in {plural(raw['epochs'], 'epoch')}"
                elif len(vals) < len(runs):
                    shown += f" ({len(vals)}/{len(runs)} seeds)"
                fmt[f"{label} {col}"] = shown
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)


def regions_table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per experiment and global density: accuracy (mean +- std over seeds) per allocation, and
    the linear regions met on the input plane where ``regions.csv`` has them (``df``: the
    concatenated ``regions.csv`` tables)."""
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
            if "regions" in sub:  # the linear regions met on the input plane, fine-tuned
                m, s = mean_std(list(sub["regions"]))
                raw[f"{alloc}_regions_mean"], raw[f"{alloc}_regions_std"] = m, s
                fmt[f"{alloc}: regions"] = format_pm(m, s, 0)
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)
