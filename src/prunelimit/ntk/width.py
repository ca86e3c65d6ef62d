"""The width a pruned network needs for its NTK to stay within a tolerance of the dense limit
(Yang & Wang, AISTATS 2023: it grows about linearly in the sparsity), from the tidy sweep
DataFrames of :mod:`prunelimit.ntk.sweep` (columns ``width, p, draw, rescaled, abs_dev, ...``;
"deviation" is ``abs_dev = |Theta_hat - Theta_inf|`` unless a ``column`` is given; means over
draws). No torch: the results environment reads it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def width_needed(
    df: pd.DataFrame,
    tol: float,
    *,
    column: str = "abs_dev",
    rescaled: bool | None = True,
    stable: bool = False,
) -> pd.Series:
    """Per ``p``: the smallest width whose mean ``column`` over draws is ``<= tol`` (NaN if none).

    ``rescaled`` selects those rows (``None``: use all rows). With ``stable=True`` every larger
    width must also meet the tolerance.
    """
    d = df if rescaled is None or "rescaled" not in df else df[df["rescaled"] == rescaled]
    means = d.groupby(["p", "width"])[column].mean().unstack("width").sort_index(axis=1)
    out = {}
    for p, row in means.iterrows():
        ok = (row <= tol).to_numpy()
        if stable:
            ok = np.flip(np.logical_and.accumulate(np.flip(ok)))
        hit = row.index[ok]
        out[p] = float(hit.min()) if len(hit) else math.nan
    return pd.Series(out, name="width_needed", dtype=float).rename_axis("p")


def width_needed_fit(
    df: pd.DataFrame,
    tol: float,
    *,
    column: str = "abs_dev",
    rescaled: bool | None = True,
    min_width: int = 128,
) -> pd.DataFrame:
    """Per ``p``: power-law fit ``mean column = a n^b`` over widths ``>= min_width`` and the
    width where it equals ``tol`` (may extrapolate beyond the sweep; NaN with fewer than two
    widths, a flat fit ``b > -0.1`` or beyond ``1e9``). Columns ``p, exponent, width_fit,
    extrapolated``.
    """
    d = df if rescaled is None or "rescaled" not in df else df[df["rescaled"] == rescaled]
    means = d[d["width"] >= min_width].groupby(["p", "width"])[column].mean()
    rows = []
    for p, m in means.groupby(level="p"):
        w = m.index.get_level_values("width").to_numpy(dtype=float)
        v = m.to_numpy(dtype=float)
        ok = v > 0
        b, a, width = math.nan, math.nan, math.nan
        if ok.sum() >= 2:
            b, a = np.polyfit(np.log(w[ok]), np.log(v[ok]), 1)
            log_w = (math.log(tol) - a) / b if b < -0.1 else math.inf
            if log_w < math.log(1e9):  # a flat fit (b > -0.1) never reaches a useful width
                width = float(math.exp(log_w))
        rows.append(
            {
                "p": float(p),
                "exponent": float(b),
                "width_fit": width,
                "extrapolated": bool(not math.isnan(width) and width > w.max()),
            }
        )
    types = {"p": float, "exponent": float, "width_fit": float, "extrapolated": bool}
    return pd.DataFrame(rows, columns=list(types)).astype(types)
