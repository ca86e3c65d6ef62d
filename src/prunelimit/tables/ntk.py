"""Summaries of the sweeps of :mod:`prunelimit.ntk.sweep`: the width needed for a tolerance on
the mean deviation over draws (swept, and extrapolated by a power-law fit), the deviation table
and the key numbers written to ``summary.json``. Inputs are the tidy sweep DataFrames (columns
``width, p, draw, rescaled, theta, theta_inf, theta_limit, abs_dev, ...``); "deviation" means
``abs_dev = |Theta_hat - Theta_inf|`` against the dense limit unless a ``column`` is given;
means and standard deviations (pandas, ``ddof=1``) are over draws; unless told otherwise the
rescaled networks are used; a missing width is NaN in tables and ``None`` in JSON.
"""

from __future__ import annotations

import math

import pandas as pd

from prunelimit.ntk.width import width_needed, width_needed_fit
from prunelimit.tables import format_pm


def deviation_table(
    df: pd.DataFrame, tol: float, min_width: int = 128
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean (std) of ``|Theta_hat - Theta_inf|`` per (p, rescaled) and width, + width needed.

    Returns ``(raw, formatted)``: raw has columns ``p, rescaled, dev_mean_<w>, dev_std_<w>, ...,
    width_needed, width_fit`` (:func:`width_needed`, :func:`width_needed_fit`; NaN for a fit
    that does not decrease); formatted shows ``mean +- std`` per width (for ``write_table``).
    """
    stats = df.groupby(["p", "rescaled", "width"])["abs_dev"].agg(["mean", "std"]).reset_index()
    widths = sorted(stats["width"].unique())
    raw_rows, fmt_rows = [], []
    needs, fits = {}, {}  # per rescaled value, over every p at once
    for rescaled in stats["rescaled"].unique():
        needs[rescaled] = width_needed(df, tol, rescaled=bool(rescaled))
        fits[rescaled] = width_needed_fit(df, tol, rescaled=bool(rescaled), min_width=min_width)
    for (p, rescaled), grp in stats.groupby(["p", "rescaled"], sort=True):
        need = needs[rescaled].get(p, math.nan)
        fit = fits[rescaled].set_index("p")
        wfit = float(fit.loc[p, "width_fit"]) if p in fit.index else math.nan
        raw: dict = {"p": p, "rescaled": bool(rescaled)}
        fmt: dict = {"p": f"{p:g}", "rescaled": "yes" if rescaled else "no"}
        by_w = grp.set_index("width")
        for w in widths:
            m, s = (by_w.loc[w, "mean"], by_w.loc[w, "std"]) if w in by_w.index else (math.nan,) * 2
            raw[f"dev_mean_{w}"], raw[f"dev_std_{w}"] = m, s
            fmt[f"n={w}"] = format_pm(float(m), float(s), 3)
        raw["width_needed"], raw["width_fit"] = need, wfit
        fmt[f"width needed (tol {tol:g})"] = "> max" if math.isnan(need) else f"{int(need)}"
        fmt["power-law fit"] = "" if math.isnan(wfit) else f"{wfit:.0f}"
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)


def deviation_caption(df: pd.DataFrame, tol: float, min_width: int = 128) -> str:
    """Caption of the :func:`deviation_table` of sweep ``df`` (same ``tol`` and ``min_width``)."""
    return (
        f"Mean +- std over draws of |Theta_hat - Theta_inf| (two unit inputs, "
        f"Theta_inf = {df['theta_inf'].iloc[0]:.5f}) per width and pruning probability p; "
        f"the smallest swept width with mean deviation <= {tol:g}, and where a power-law fit "
        f"of the mean deviation (widths >= {min_width}) crosses it (extrapolated beyond the "
        f"sweep)."
    )


def sweep_summary(df: pd.DataFrame, gram: pd.DataFrame | None, tol: float) -> dict:
    """Key numbers of a sweep: the limit, per (p, rescaled) at the largest width the mean and std
    of ``theta / theta_inf`` and of ``abs_dev``, the width needed per p, and Gram distances."""
    wmax = int(df["width"].max())
    last = df[df["width"] == wmax]
    out: dict = {
        "theta_inf": float(df["theta_inf"].iloc[0]),
        "largest_width": wmax,
        "tolerance": tol,
    }
    rows = []
    for (p, rescaled), g in last.groupby(["p", "rescaled"]):
        rows.append(
            {
                "p": float(p),
                "rescaled": bool(rescaled),
                "ratio_mean": float(g["ratio"].mean()),
                "ratio_std": float(g["ratio"].std()),
                "expected_ratio": float(g["theta_limit"].iloc[0] / g["theta_inf"].iloc[0]),
                "abs_dev_mean": float(g["abs_dev"].mean()),
                "abs_dev_std": float(g["abs_dev"].std()),
                "abs_dev_limit_mean": float(g["abs_dev_limit"].mean()),
                "kept_mean": float(g["kept"].mean()),
            }
        )
    out["largest_width_stats"] = rows
    need = width_needed(df, tol)
    out["width_needed"] = {f"{p:g}": (None if math.isnan(w) else int(w)) for p, w in need.items()}
    fit = width_needed_fit(df, tol)
    out["width_needed_fit"] = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in fit.to_dict("records")
    ]
    if gram is not None and len(gram):
        gmax = int(gram["width"].max())
        gl = gram[gram["width"] == gmax].groupby(["p", "rescaled"])
        out["gram_largest_width"] = gmax
        out["gram"] = [
            {
                "p": float(p),
                "rescaled": bool(r),
                "rel_frob_dense_mean": float(g["rel_frob_dense"].mean()),
                "rel_frob_inf_mean": float(g["rel_frob_inf"].mean()),
            }
            for (p, r), g in gl
        ]
    return out
