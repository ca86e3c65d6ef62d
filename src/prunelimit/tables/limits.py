"""The limits table: theory against the actual limits, per experiment (percent of D)."""

from __future__ import annotations

import math

import pandas as pd

from prunelimit.config.kinds import OTHER_KINDS
from prunelimit.limit.paper import PAPER_LIMITS
from prunelimit.tables import format_pm, grid_edge, known_verdicts, mean_std

KIND_LABELS = {"rho_th": "theory", "rho_loss": "actual (a)", "rho_acc": "actual (c)",
               "relgap": "rel. gap (a) %"}  # fmt: skip

# the value columns of limits_table (fractions, shown in percent) and their labels where shown
_VALUE_COLUMNS = [
    "rho_th",
    "rho_lower",
    "rho_upper",
    "bound_gap",
    "rho_loss",
    "rho_objective",
    "rho_acc",
    "val_acc_se",
    "gap_loss",
    "gap_objective",
    "gap_acc",
    "relgap_loss",
    "relgap_objective",
    "relgap_acc",
    "dense_rho_loss",
    "dense_rho_acc",
    *[f"{k}_{c}" for k in OTHER_KINDS for c in ("rho_th", "rho_loss", "rho_acc", "relgap")],
    "drift_kept",
]
_VALUE_LABELS = {
    "rho_th": "theory rho_th",
    "rho_lower": "lower",
    "rho_upper": "upper",
    "bound_gap": "bound gap",
    "rho_loss": "actual (a) loss",
    "rho_objective": "actual (b) objective",
    "rho_acc": "actual (c) val acc",
    "val_acc_se": "val acc SE (points)",
    "gap_loss": "(a) - theory",
    "relgap_loss": "rel. gap (a) %",
    "relgap_objective": "rel. gap (b) %",
    "dense_rho_loss": "dense actual (a)",
    **{f"{k}_{c}": f"{k} {what}" for k in OTHER_KINDS for c, what in KIND_LABELS.items()},
    "drift_kept": "drift cut kept",
}


def limits_table(records: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-experiment summary of theory against actual limit (kept ratios in percent).

    ``records``: one dict per experiment and seed with keys experiment, dataset, model, seed, D,
    rho_th, rho_lower, rho_upper, rho_loss, rho_objective, rho_acc, val_acc_se, dense_rho_loss,
    dense_rho_acc (fractions; for an experiment with an l2 run also ``{k}_rho_th``,
    ``{k}_rho_loss``, ``{k}_rho_acc`` of ``k`` in dense and l2), the verdicts converged (of
    rho_th in the Lanczos steps), resolved (the spectral fields the limit uses, over the Lanczos
    steps), in_regime and train_converged (the l1 run's training loss plateau; bool or None) and
    drift_kept; optionally grid_min (the smallest kept ratio searched) and excluded (why the
    seed is left out: '' or missing when it is not; :func:`limit_records`). Excluded seeds are in
    no mean or std (a WARNING names each; all excluded: NaN values), counted in raw
    ``seeds_used`` and in an ``excluded`` column (only when some seed is). A value missing for
    some seeds is shown with its ``n/N seeds``; a ``note`` column (only when needed) says where
    there is one seed or a limit at the grid's edge (:func:`~prunelimit.tables.grid_edge`).
    Relative gaps ``|rho_th - rho_act| / rho_act`` are per seed, then averaged.
    Returns (raw, formatted): raw has ``_mean``/``_std`` columns, formatted ``mean +- std``
    strings and, for experiments matching a row of the paper, the paper's numbers labelled so.
    """
    df = _with_gaps(pd.DataFrame(records))
    for _, row in df[_excluded(df)].iterrows():
        why = row.get("excluded_why")
        print(
            f"WARNING: {row['experiment']} seed {row['seed']} is left out of the limits table's "
            f"means: {row['excluded']} ({why if isinstance(why, str) and why else 'see verdicts'})",
            flush=True,
        )
    raw_rows, fmt_rows = [], []
    for name, grp in df.groupby("experiment", sort=False):
        raw, fmt = _experiment_row(name, grp)
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), _without_empty_columns(pd.DataFrame(fmt_rows))


def _with_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (one row per run) with the bound gap, the gaps actual - theory (as the paper's
    Delta) and the relative gaps ``|rho_th - rho_act| / rho_act`` of each criterion and kind."""
    df["bound_gap"] = df["rho_upper"] - df["rho_lower"]
    for c in ("loss", "objective", "acc"):
        df[f"gap_{c}"] = df[f"rho_{c}"] - df["rho_th"]  # actual - theory, as the paper's Delta
        df[f"relgap_{c}"] = (df["rho_th"] - df[f"rho_{c}"]).abs() / df[f"rho_{c}"]
    for k in OTHER_KINDS:  # l1 = 0: criteria (a) and (b) coincide
        if f"{k}_rho_th" in df:
            df[f"{k}_relgap"] = (df[f"{k}_rho_th"] - df[f"{k}_rho_loss"]).abs() / df[
                f"{k}_rho_loss"
            ]
    return df


def _excluded(df: pd.DataFrame) -> pd.Series:
    """Which runs of ``df`` are left out of the means (a non-empty ``excluded`` reason)."""
    if "excluded" not in df:
        return pd.Series(False, index=df.index)
    return df["excluded"].map(lambda v: isinstance(v, str) and v != "")


def _experiment_row(name: str, grp: pd.DataFrame) -> tuple[dict, dict]:
    """The raw and the formatted row of experiment ``name`` from its runs ``grp`` (means over
    the runs not excluded)."""
    first, out = grp.iloc[0], _excluded(grp)
    used = grp[~out]
    excluded = "; ".join(f"seed {r['seed']} {r['excluded']}" for _, r in grp[out].iterrows())
    excluded = f"{int(out.sum())}/{len(grp)} ({excluded})" if out.any() else ""
    raw = {
        "experiment": name,
        "dataset": first["dataset"],
        "model": first["model"],
        "D": int(first["D"]),
        "seeds": len(grp),
        "seeds_used": len(used),
        "excluded": excluded,
    }
    fmt = {
        "experiment": name,
        "data / model": f"{first['dataset']} / {first['model']}",
        "D": int(first["D"]),
        "seeds": len(grp),
        "excluded": excluded,
    }
    for verdict in ("in_regime", "converged", "resolved", "train_converged"):
        known = known_verdicts(grp[verdict]) if verdict in grp else []
        raw[f"{verdict}_seeds"] = sum(known)  # '2/3': true of all; '?': none known
        fmt[verdict.replace("_", " ")] = f"{sum(known)}/{len(grp)}" if known else "?"
    _add_values(used, raw, fmt)
    paper = PAPER_LIMITS.get((first["dataset"], first["model"]))
    for key, label in (
        ("theory", "paper: theory"),
        ("actual", "paper: actual"),
        ("gap", "paper: actual - theory"),
    ):
        mean_std_paper = paper[key] if paper else (None, None)
        raw[f"paper_{key}_mean"], raw[f"paper_{key}_std"] = mean_std_paper
        fmt[label] = format_pm(*mean_std_paper) if paper else ""
    fmt["note"] = "; ".join(_notes(used) if len(used) else ["every seed excluded: no values"])
    return raw, fmt


def _add_values(grp: pd.DataFrame, raw: dict, fmt: dict) -> None:
    """Add to ``raw`` the mean and std (percent) over the runs ``grp`` of each of
    :data:`_VALUE_COLUMNS`, and to ``fmt`` those of :data:`_VALUE_LABELS` as ``mean +- std``
    with the count of seeds where some are missing."""
    counts = {}
    for c in _VALUE_COLUMNS:
        values = list(100 * grp[c].astype(float)) if c in grp else []
        m, s = mean_std(values)
        raw[f"{c}_mean"], raw[f"{c}_std"] = m, s
        counts[c] = sum(1 for v in values if math.isfinite(v))
    for c, label in _VALUE_LABELS.items():
        fmt[label] = format_pm(raw[f"{c}_mean"], raw[f"{c}_std"])
        if 0 < counts[c] < len(grp):  # a seed is missing: say so, never hide it
            fmt[label] += f" ({counts[c]}/{len(grp)} seeds)"


def _without_empty_columns(formatted: pd.DataFrame) -> pd.DataFrame:
    """The formatted table without the dense and l2 columns no experiment has (dense (a):
    always kept) and without an empty ``note`` or ``excluded`` column."""
    for label in [f"{k} {what}" for k in OTHER_KINDS for what in KIND_LABELS.values()]:
        # the dense and l2 columns only where some experiment has them (dense (a): always)
        if label != "dense actual (a)" and not formatted[label].astype(bool).any():
            formatted = formatted.drop(columns=label)
    for column in ("note", "excluded"):
        if not formatted[column].astype(bool).any():
            formatted = formatted.drop(columns=column)
    return formatted


def _notes(grp: pd.DataFrame) -> list[str]:
    """What the row of one experiment cannot show: the spread of a single seed, and the seeds
    whose actual limits sit at the searched grid's edge."""
    out = ["1 seed: std 0 by definition"] if len(grp) == 1 else []
    for _, row in grp.iterrows():
        lo = row.get("grid_min")
        crit = {c: row[f"rho_{c}"] for c in ("loss", "objective", "acc")}
        edge = grid_edge(crit, None if lo is None or not math.isfinite(lo) else float(lo))
        if edge:
            out.append(f"seed {row['seed']}: {edge}")
    return out


def limit_records(
    theories: list[dict],
    limits: list[dict],
    metrics: list[dict],
    experiments: dict[str, dict],
    kind_theories: list[dict] = (),
) -> list[dict]:
    """One record per run for :func:`limits_table` from its ``theory.json``, ``limit.json``
    and ``l1_metrics.json`` (``metrics`` may be empty: verdicts unknown); ``kind_theories``:
    the ``{kind}_theory.json`` of the dense and l2 networks of the runs that have them.
    ``excluded`` (with ``excluded_why``): :func:`exclusion`."""
    metrics = metrics or [{}] * len(theories)
    other = {(t["experiment"], t["seed"], t["kind"]): t for t in kind_theories}
    out = []
    for t, lim, met in zip(theories, limits, metrics, strict=True):
        exp = experiments[t["experiment"]]
        regime = met.get("regime", {})
        dense = lim["dense"] or {}
        kinds = {}
        for k in OTHER_KINDS:
            th = other.get((t["experiment"], t["seed"], k))
            if th is not None:
                curve = lim.get(k) or {}
                kinds[f"{k}_rho_th"] = th["rho_th"]
                kinds[f"{k}_rho_loss"] = curve.get("rho_loss", math.nan)
                kinds[f"{k}_rho_acc"] = curve.get("rho_acc", math.nan)
        out.append(
            {
                "experiment": t["experiment"],
                "dataset": exp["dataset"],
                "model": exp["model"],
                "seed": t["seed"],
                "D": t["inputs"]["D"],
                **{k: t[k] for k in ("rho_th", "rho_lower", "rho_upper")},
                **{k: lim[k] for k in ("rho_loss", "rho_objective", "rho_acc")},
                "val_acc_se": lim["l1"]["val_acc_se"],
                "dense_rho_loss": dense.get("rho_loss", math.nan),
                "dense_rho_acc": dense.get("rho_acc", math.nan),
                "converged": t.get("converged"),
                "resolved": t.get("resolved"),
                "in_regime": regime.get("in_regime"),
                "train_converged": met.get("converged"),
                "drift_kept": regime.get("drift_kept"),
                "grid_min": min((p["rho"] for p in lim["l1"]["curve"]), default=math.nan),
                **kinds,
                **exclusion(met, lim),
            }
        )
    return out


def exclusion(metrics: dict, limit: dict) -> dict:
    """Why a run is left out of the limits table's means: ``excluded`` is ``collapsed`` (the
    l1 run's ``collapse`` verdict in ``metrics``; none in metrics written before it: not
    collapsed), ``broken curve`` (``limit``'s ``l1.verdict``), both, or '' (kept);
    ``excluded_why`` the verdicts' words."""
    collapsed = (metrics.get("collapse") or {}).get("collapsed", False)
    curve = (limit.get("l1") or {}).get("verdict") or {}
    short, why = [], []
    if collapsed:
        short.append("collapsed")
        why.append(metrics.get("verdict", "collapsed"))
    if curve.get("broken", False):
        short.append("broken curve")
        why.append(f"broken pruning curve: {curve.get('reason', '')}")
    return {"excluded": " and ".join(short), "excluded_why": "; ".join(why)}


def spectra_table(theories: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per run: the Hessian spectrum behind each limit (from ``theory.json``'s inputs):
    traces with their standard error over probes, and the fields the near-zero Ritz cluster
    sets (negative mass, ``Tr|H|``) with their verdicts (stable over the Lanczos prefixes;
    ``?`` for spectra without coefficients). Returns (raw, formatted)."""
    raw_rows, fmt_rows = [], []
    for t in theories:
        inp = t["inputs"]
        res = inp.get("spectrum_resolution") or {}

        def verdict(field: str, res=res) -> str:
            return ("yes" if res[field]["resolved"] else "no") if field in res else "?"

        raw = {
            "experiment": t["experiment"],
            "seed": t["seed"],
            "D": inp["D"],
            "lanczos_steps": inp["lanczos_steps"],
            "probes": inp["probes"],
            "lambda_max": inp["lambda_max"],
            **{
                k: inp.get(k, math.nan)
                for k in (
                    "trace",
                    "trace_se",
                    "hutchinson_trace",
                    "hutchinson_trace_se",
                    "abs_trace",
                    "abs_trace_se",
                    "negative_mass",
                    "near_zero_mass",
                    "near_zero_tol",
                )
            },
            "abs_trace_resolved": res.get("abs_trace", {}).get("resolved"),
            "negative_mass_resolved": res.get("negative_mass", {}).get("resolved"),
        }
        raw = {
            k: (math.nan if v is None and k.endswith(("_se", "_mass", "_tol")) else v)
            for k, v in raw.items()
        }
        fmt = {
            "experiment": t["experiment"],
            "seed": t["seed"],
            "D": inp["D"],
            "m x probes": f"{inp['lanczos_steps']} x {inp['probes']}",
            "lambda_max": f"{inp['lambda_max']:.4g}",
            "Tr H (SLQ)": format_pm(raw["trace"], raw["trace_se"], 1),
            "Tr H (Hutchinson)": format_pm(raw["hutchinson_trace"], raw["hutchinson_trace_se"], 1),
            "Tr|H|": format_pm(raw["abs_trace"], raw["abs_trace_se"], 1),
            "Tr|H| resolved": verdict("abs_trace"),
            "negative mass": f"{raw['negative_mass']:.3f}",
            "negative mass resolved": verdict("negative_mass"),
            "near-zero mass": f"{raw['near_zero_mass']:.3f}",
            "near-zero tol": f"{raw['near_zero_tol']:.2g}",
        }
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)
