"""The methods table: every pruning method's test accuracy at matched remaining-weight levels,
with each row's training budget and the accuracy of its start (limit paper, Tables 3, 5, 6,
10, 11; Diao et al.'s scope comparison).

Input: the record tables of the runs, one row per trained (or pruned) network, with columns
experiment, method, scope, seed, iteration, percent, test_acc and the budget columns of
:mod:`prunelimit.methods.budget` (start, epochs, total_epochs, schedule); optionally
``start_acc`` (the accuracy of the network a method starts from) and ``excluded`` (a seed left
out of the means: a collapsed run, named in ``excluded_why``). The iterative runs' iteration 0
is the dense start: the table's ``dense`` row.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from prunelimit.io import read_csv
from prunelimit.tables import format_pm

_KEYS = ["experiment", "method", "scope"]
_BUDGET = ["start", "epochs", "total_epochs", "schedule"]


def read_runs(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-run record tables."""
    return pd.concat([read_csv(p) for p in paths], ignore_index=True)


def dense_rows(df: pd.DataFrame, iterative: list[str]) -> pd.DataFrame:
    """The dense start of each experiment and seed (iteration 0 of its iterative runs, the
    same network for every method and scope), as method ``dense`` at ``percent`` 100."""
    start = df[df["method"].isin(iterative) & (df["iteration"] == 0)]
    first = start.drop_duplicates(["experiment", "seed"]).copy()
    return first.assign(method="dense", scope="-")


def _pick(run: pd.DataFrame, level: float) -> pd.Series:
    """The row of one seed's run whose ``percent`` is nearest ``level`` in log scale."""
    dist = (run["percent"] / level).map(math.log).abs()
    return run.loc[dist.idxmin()]


def _summary(picks: pd.DataFrame, level: float, max_ratio: float) -> dict:
    ratio = (picks["percent"] / level).map(lambda r: max(r, 1 / r))
    sd = (lambda s: s.std(ddof=1)) if len(picks) > 1 else (lambda s: 0.0)
    row = {
        "level": level,
        "percent_mean": picks["percent"].mean(),
        "percent_std": sd(picks["percent"]),
        "test_acc_mean": 100 * picks["test_acc"].mean(),
        "test_acc_std": 100 * sd(picks["test_acc"]),
        "iteration_mean": picks["iteration"].mean(),
        "reached": bool((ratio <= max_ratio).all()),
    }
    for key in _BUDGET:
        if key in picks:
            values = picks[key]
            row[key] = values.mean() if key.endswith("epochs") else values.iloc[0]
    if "start_acc" in picks:
        row["start_acc"] = 100 * picks["start_acc"].mean()
    return row


def matched_levels(df: pd.DataFrame, levels: list[float], max_ratio: float = 1.5) -> pd.DataFrame:
    """Test accuracy at matched remaining-weight levels, mean +- std over the seeds used.

    Per experiment, method, scope, seed and level (percent remaining) the row whose
    ``percent`` is nearest the level in log scale is taken; ``reached`` is False when, for
    some seed, it is more than a factor ``max_ratio`` away from the level (not reached in
    ``T`` iterations). Seeds marked ``excluded`` are left out (``seeds`` counts the used ones,
    ``seeds_excluded`` the others). Accuracies in percent; the budget columns are carried.
    """
    rows = []
    for key, sub in df.groupby(_KEYS, sort=False):
        used, excluded = _split_excluded(sub)
        for level in levels:
            base = {**dict(zip(_KEYS, key, strict=True)), "seeds": used["seed"].nunique()}
            base["seeds_excluded"] = excluded
            if used.empty:
                rows.append({**base, "level": level, "reached": False})
                continue
            picks = pd.DataFrame([_pick(run, level) for _, run in used.groupby("seed")])
            rows.append({**base, **_summary(picks, level, max_ratio)})
    return pd.DataFrame(rows)


def excluded(df: pd.DataFrame) -> pd.Series:
    """Which rows are excluded: ``excluded`` True or a non-empty reason (NaN, '': kept)."""
    if "excluded" not in df:
        return pd.Series(False, index=df.index)
    return df["excluded"].map(lambda v: v is True or (isinstance(v, str) and v != ""))


def _split_excluded(sub: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    flags = excluded(sub).astype(bool)
    return sub[~flags], int(sub.loc[flags, "seed"].nunique())


def methods_table(
    df: pd.DataFrame, levels: list[float], iterative: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw table (one row per experiment/method/scope/level, the dense rows at level 100)
    and the formatted one (:func:`formatted`)."""
    dense = matched_levels(dense_rows(df, iterative), [100.0])
    raw = pd.concat([dense, matched_levels(df, levels)], ignore_index=True)
    return raw, formatted(raw)


def budget_text(row: pd.Series) -> str:
    """``300 ep (of 450) from initialisation (rewound), SGD lr 0.1 cosine``."""
    if not isinstance(row.get("start"), str):
        return ""
    epochs, total = row["epochs"], row["total_epochs"]
    spent = f"{epochs:g} ep" + (f" (of {total:g})" if total != epochs else "")
    return f"{spent} from {row['start']}, {row['schedule']}"


def formatted(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment/method/scope: its budget (at the smallest level), the accuracy
    of its start, the seeds used, and per level ``acc +- std (percent %)``; ``not reached``
    where the method did not get near the level."""
    out = []
    for key, sub in raw.groupby(_KEYS, sort=False):
        last = sub.iloc[-1]
        row = {"experiment": key[0], "method": key[1], "scope": key[2]}
        row["budget"] = budget_text(last)
        start = last.get("start_acc", math.nan)
        row["start acc"] = "" if pd.isna(start) else f"{start:.1f}"
        seeds = f"{int(last['seeds'])}"
        if last.get("seeds_excluded", 0):
            seeds += f" ({int(last['seeds_excluded'])} excluded)"
        row["seeds"] = seeds
        for r in sub.itertuples():
            row[f"{r.level:g} %"] = (
                f"{format_pm(r.test_acc_mean, r.test_acc_std, 1)} ({r.percent_mean:.1f} %)"
                if r.reached
                else "not reached"
            )
        out.append(row)
    return pd.DataFrame(out).fillna("")
