"""Table builders of the comparisons on synthetic inputs with known answers."""

import math

import pandas as pd
import pytest

from prunelimit.tables import mean_std
from prunelimit.tables.methods import formatted, matched_levels
from prunelimit.tables.sap import pqi_table
from prunelimit.tables.spline import eb_table, regions_table


def test_mean_std():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([5.0]) == (5.0, 0.0)
    assert mean_std([1.0, float("nan"), None, 3.0])[0] == 2.0
    assert all(math.isnan(v) for v in mean_std([]))


def _runs(percents, accs, seed, method="lt"):
    return [
        {
            "experiment": "e",
            "method": method,
            "scope": "global",
            "seed": seed,
            "iteration": t,
            "percent": p,
            "test_acc": a,
        }
        for t, (p, a) in enumerate(zip(percents, accs, strict=True))
    ]


def test_matched_levels_picks_the_nearest_iteration_in_log_scale():
    df = pd.DataFrame(
        _runs([100, 80, 64, 51.2, 41], [0.9, 0.8, 0.7, 0.6, 0.5], seed=0)
        + _runs([100, 80, 64, 51.2, 41], [0.7, 0.6, 0.5, 0.4, 0.3], seed=1)
    )
    raw = matched_levels(df, [50, 10]).set_index("level")
    assert raw.loc[50, "percent_mean"] == pytest.approx(51.2)  # nearest to 50 in log scale
    assert raw.loc[50, "test_acc_mean"] == pytest.approx(50.0)  # 100 * (0.6 + 0.4) / 2
    assert raw.loc[50, "test_acc_std"] == pytest.approx(100 * math.sqrt(0.02))
    assert bool(raw.loc[50, "reached"]) and not bool(raw.loc[10, "reached"])  # 41 > 1.5 * 10
    fmt = formatted(raw.reset_index())
    assert fmt.loc[0, "10 %"] == "not reached"
    assert fmt.loc[0, "50 %"] == "50.0 +- 14.1 (51.2 %)"


def _eb(exp, seed, detected, by_t):
    return {
        "experiment": exp,
        "seed": seed,
        "threshold": 0.16,
        "detected_epoch": detected,
        "epochs": [1, 2, 3, 30],
        "detected_by_threshold": by_t,
    }


def _lim(th, loss, acc, test, eb=True):
    stage = {"test_acc": test, "rho_th": th, "rho_loss": loss, "rho_acc": acc}
    return {"eb": stage if eb else None, "final": stage}


def test_eb_table_counts_detections_and_averages_limits():
    ebs = [_eb("m", 0, 7, {"0.16": 7, "0.1": 12}), _eb("m", 1, None, {"0.16": None, "0.1": 20})]
    lims = [_lim(0.1, 0.12, 0.11, 0.75), _lim(0.3, 0.32, 0.31, 0.70, eb=False)]
    exps = {"m": {"dataset": "mnist1d", "model": "mlp"}}
    raw, fmt = eb_table(ebs, lims, exps)
    r = raw.iloc[0]
    assert r["seeds"] == 2 and r["detected"] == 1 and r["epochs"] == 30
    assert r["eb_epoch_mean"] == 7 and r["eb_epoch_t0.1"] == 16
    assert r["final_rho_th_mean"] == pytest.approx(20.0)  # percent, mean of 10 and 30
    assert r["eb_rho_th_mean"] == pytest.approx(10.0)  # only the seed with an early bird
    assert fmt.loc[0, "EB epoch"] == "7.0 +- 0.0"


def test_regions_table_means_per_allocation():
    rows = []
    for seed, acc in ((0, 0.6), (1, 0.8)):
        for alloc, shift in (("uniform", 0.0), ("bound", 0.05)):
            rows.append(
                {
                    "experiment": "m",
                    "rho": 0.1,
                    "seed": seed,
                    "allocation": alloc,
                    "test_acc": acc + shift,
                    "oneshot_test_acc": acc - 0.1,
                    "log_bound": 10.0 + shift,
                    "density_0": 0.2,
                    "density_1": 0.05,
                }
            )
    raw, fmt = regions_table(pd.DataFrame(rows))
    assert raw.loc[0, "seeds"] == 2
    assert raw.loc[0, "uniform_test_acc_mean"] == pytest.approx(0.7)
    assert raw.loc[0, "bound_test_acc_mean"] == pytest.approx(0.75)
    assert raw.loc[0, "uniform_test_acc_std"] == pytest.approx(math.sqrt(0.02))
    assert fmt.loc[0, "density %"] == "10"


def test_pqi_table_groups_networks_and_norm_pairs():

    def row(p, q, g):
        return {"p": p, "q": q, "global": g, "layer_mean": g / 2, "neuron_mean": g / 4}

    def entry(seed, g_l1, g_dense):
        return {
            "experiment": "m",
            "seed": seed,
            "networks": {
                "l1": [row(0.5, 1.0, g_l1), row(1.0, 2.0, g_l1 + 0.1)],
                "dense": [row(0.5, 1.0, g_dense), row(1.0, 2.0, g_dense)],
            },
        }

    raw, fmt = pqi_table([entry(0, 0.4, 0.1), entry(1, 0.6, 0.1)])
    assert len(raw) == 4 and (raw["seeds"] == 2).all()
    l1 = raw[(raw["network"] == "l1") & (raw["p"] == 0.5)].iloc[0]
    assert l1["global_mean"] == pytest.approx(0.5)
    assert l1["global_std"] == pytest.approx(math.sqrt(0.02))
    assert l1["neuron_mean_mean"] == pytest.approx(0.125)
    l1_12 = raw[(raw["network"] == "l1") & (raw["p"] == 1.0)].iloc[0]
    assert l1_12["global_mean"] == pytest.approx(0.6)
    assert set(fmt["(p, q)"]) == {"(0.5, 1)", "(1, 2)"}
