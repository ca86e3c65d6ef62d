"""The node-pruning table of the spline stage (You et al., Tables 1-12 in kind): test accuracy
of every node method and scope at every kept node fraction, with the kept weights and the
training FLOPs (dense epochs to the early bird + retraining the pruned network) and the measured
training speed-up of the pruned network made smaller.

Input: the record tables of rule ``spline_pruning`` (one row per run and seed, the columns of
:func:`prunelimit.methods.early_bird.run_record` with ``experiment`` and ``seed``). Fractions
and accuracies are shown in percent; ``saving`` is the unpruned run's training FLOPs over the
row's (mean over seeds); ``speed-up`` the dense network's training step time over the compact
pruned network's (:func:`prunelimit.spline.compact.step_seconds`, timed in the job: the device's
figure, not a count; mean over seeds).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prunelimit.io import read_csv
from prunelimit.tables import format_pm

_KEYS = ["experiment", "method", "scope", "kept_target"]
_MEANS = ["node_fraction", "weight_fraction", "pruned_test_acc", "train_flops",
          "dense_train_flops", "flops_saving", "train_speedup", "eb_epoch", "dense_epochs",
          "epochs"]  # fmt: skip


def read_records(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate the per-run record tables (an empty frame for none)."""
    frames = [read_csv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def pruning_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, method, scope and kept target: the seeds, the means of
    :data:`_MEANS` (``eb_epoch`` over the seeds that found one) and the test accuracy's mean
    and std (ddof 1; 0 for one seed), in the records' order."""
    rows = []
    for key, sub in df.groupby(_KEYS, sort=False, dropna=False):
        row = dict(zip(_KEYS, key, strict=True))
        row["seeds"] = sub["seed"].nunique()
        for col in _MEANS:
            if col in sub:
                row[col] = sub[col].mean()
        row["test_acc_mean"] = sub["test_acc"].mean()
        row["test_acc_std"] = sub["test_acc"].std(ddof=1) if len(sub) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def pruning_table(
    df: pd.DataFrame, titles: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw summary (:func:`pruning_summary`) and the formatted table: per row the method
    (``titles``: name -> label), scope, target and actual kept nodes, kept weights, test
    accuracy after retraining (mean +- std) and right after pruning, training FLOPs and the
    saving against the unpruned run, the measured training speed-up, the early-bird epoch and
    the retraining epochs."""
    raw = pruning_summary(df)
    titles = titles or {}
    out = []
    for r in raw.itertuples():
        out.append({
            "experiment": r.experiment,
            "method": titles.get(r.method, r.method),
            "scope": r.scope,
            "kept nodes (%)": f"{100 * r.kept_target:g} ({100 * r.node_fraction:.1f})",
            "kept weights (%)": f"{100 * r.weight_fraction:.1f}",
            "test acc (%)": format_pm(100 * r.test_acc_mean, 100 * r.test_acc_std, 1),
            "pruned acc (%)": f"{100 * r.pruned_test_acc:.1f}",
            "training FLOPs": f"{r.train_flops:.3g}",
            "saving": f"{r.flops_saving:.2f}x",
            "speed-up": _speedup(getattr(r, "train_speedup", float("nan"))),
            "early bird": "none" if pd.isna(r.eb_epoch) else f"{r.eb_epoch:g}",
            "retrain ep": f"{r.epochs:g}",
            "seeds": int(r.seeds),
        })  # fmt: skip
    return raw, pd.DataFrame(out)


def _speedup(value: float) -> str:
    """A measured speed-up as ``1.23x``; ``-`` for records from before it was measured."""
    return "-" if pd.isna(value) else f"{value:.2f}x"
