"""The limits table on synthetic records: means, stds, relative gaps, verdict counts, paper rows."""

import math

import pytest

from prunelimit.tables.limits import exclusion, limit_records, limits_table


def _rec(exp, seed, dataset="mnist1d", model="mlp", **kw):
    base = dict(
        experiment=exp,
        dataset=dataset,
        model=model,
        seed=seed,
        D=1000,
        rho_th=0.10,
        rho_lower=0.01,
        rho_upper=0.2,
        rho_loss=0.125,
        rho_objective=0.1,
        rho_acc=0.11,
        val_acc_se=0.02,
        dense_rho_loss=0.9,
        dense_rho_acc=0.8,
        converged=True,
        in_regime=True,
        drift_kept=0.005,
        train_converged=True,
    )
    return {**base, **kw}


def test_limits_table_values():
    records = [
        _rec("a", 0, rho_th=0.10, rho_loss=0.125),
        _rec("a", 1, rho_th=0.12, rho_loss=0.100, converged=False, train_converged=False),
        _rec("b", 0, dataset="cifar10", model="fc5", in_regime=None, converged=None),
    ]
    raw, fmt = limits_table(records)
    a = raw.set_index("experiment").loc["a"]
    assert a["seeds"] == 2
    assert a["rho_th_mean"] == pytest.approx(11.0) and a["rho_th_std"] == pytest.approx(
        math.sqrt(2) * 1.0
    )
    # relative gaps per seed: |0.10-0.125|/0.125 = 20 %, |0.12-0.10|/0.10 = 20 %
    assert a["relgap_loss_mean"] == pytest.approx(20.0) and a["relgap_loss_std"] == pytest.approx(0)
    assert a["relgap_objective_mean"] == pytest.approx(10.0)  # 0 % and 20 %
    assert a["gap_loss_mean"] == pytest.approx(0.25)  # (+2.5 - 2.0) / 2 points
    assert a["converged_seeds"] == 1 and a["in_regime_seeds"] == 2
    assert math.isnan(a["paper_theory_mean"])  # MNIST-1D is not in the paper
    f = fmt.set_index("experiment")
    assert f.loc["a", "converged"] == "1/2" and f.loc["a", "in regime"] == "2/2"
    assert f.loc["a", "train converged"] == "1/2"
    assert f.loc["b", "in regime"] == "?"  # unknown verdicts are not counted as false
    assert f.loc["a", "rel. gap (a) %"] == "20.00 +- 0.00"
    # the paper's numbers appear only for a matching dataset and model (CIFAR10 FC5)
    assert f.loc["b", "paper: theory"] == "2.10 +- 0.25" and f.loc["a", "paper: theory"] == ""


def test_a_missing_seed_is_visible():
    records = [_rec("a", 0), _rec("a", 1, rho_acc=float("nan")), _rec("a", 2)]
    raw, fmt = limits_table(records)
    assert raw.loc[0, "rho_acc_mean"] == pytest.approx(11.0)  # the two finite seeds
    assert fmt.loc[0, "actual (c) val acc"] == "11.00 +- 0.00 (2/3 seeds)"
    assert fmt.loc[0, "actual (a) loss"] == "12.50 +- 0.00"  # complete: no marking
    assert fmt.loc[0, "train converged"] == "3/3"


def test_the_kinds_columns_appear_where_an_experiment_has_them():
    kinds = dict(dense_rho_th=0.5, dense_rho_loss=0.4, dense_rho_acc=0.6,
                 l2_rho_th=0.3, l2_rho_loss=0.25, l2_rho_acc=0.35)  # fmt: skip
    records = [
        _rec("a", 0, **kinds),
        _rec("a", 1, **{**kinds, "l2_rho_th": 0.2}),
        _rec("b", 0),  # no l2 run
    ]
    raw, fmt = limits_table(records)
    a = raw.set_index("experiment").loc["a"]
    assert a["l2_rho_th_mean"] == pytest.approx(25.0)
    assert a["dense_rho_th_mean"] == pytest.approx(50.0)
    # per seed: |0.3 - 0.25| / 0.25 = 20 %, |0.2 - 0.25| / 0.25 = 20 %; dense 25 % twice
    assert a["l2_relgap_mean"] == pytest.approx(20.0)
    assert a["dense_relgap_mean"] == pytest.approx(25.0)
    f = fmt.set_index("experiment")
    assert f.loc["a", "l2 theory"] == "25.00 +- 7.07" and f.loc["b", "l2 theory"] == ""
    assert f.loc["a", "dense rel. gap (a) %"] == "25.00 +- 0.00"
    _, plain = limits_table([_rec("b", 0)])  # no experiment compares the kinds
    assert "l2 theory" not in plain and "dense theory" not in plain
    assert "dense actual (a)" in plain


def test_a_collapsed_seed_is_left_out_of_the_means_and_counted(capsys):
    records = [
        _rec("a", 0, rho_th=0.5, rho_loss=0.001, excluded="collapsed"),
        _rec("a", 1, rho_th=0.10, rho_loss=0.125, excluded=""),
        _rec("b", 0, excluded="broken curve"),  # every seed excluded: NaN, not a failure
    ]
    raw, fmt = limits_table(records)
    a, b = raw.set_index("experiment").loc["a"], raw.set_index("experiment").loc["b"]
    assert a["rho_th_mean"] == pytest.approx(10.0) and a["rho_th_std"] == 0.0  # seed 1's
    assert a["relgap_loss_mean"] == pytest.approx(20.0) and a["rho_loss_std"] == 0.0
    assert (a["seeds"], a["seeds_used"], b["seeds_used"]) == (2, 1, 0)
    assert math.isnan(b["rho_th_mean"]) and math.isnan(b["rho_loss_std"])
    f = fmt.set_index("experiment")
    assert f.loc["a", "excluded"] == "1/2 (seed 0 collapsed)"
    assert f.loc["b", "excluded"] == "1/1 (seed 0 broken curve)"
    assert f.loc["a", "theory rho_th"] == "10.00 +- 0.00" and f.loc["b", "theory rho_th"] == ""
    assert "every seed excluded" in f.loc["b", "note"]
    log = capsys.readouterr().out
    assert "WARNING: a seed 0 is left out" in log and "WARNING: b seed 0" in log
    assert "seed 1" not in log
    raw, fmt = limits_table([_rec("a", 0), _rec("a", 1)])  # nothing excluded: no column
    assert "excluded" not in fmt and raw.loc[0, "seeds_used"] == 2


def test_the_records_say_why_a_seed_is_excluded():
    collapsed = {"collapse": {"collapsed": True}, "verdict": "COLLAPSED (training accuracy)"}
    broken = {"l1": {"verdict": {"broken": True, "reason": "loss 110 above ln(10)"}}}
    assert exclusion({}, {"l1": {}}) == {"excluded": "", "excluded_why": ""}  # older files
    assert exclusion(
        {"collapse": {"collapsed": False}}, {"l1": {"verdict": {"broken": False}}}
    ) == {
        "excluded": "",
        "excluded_why": "",
    }
    both = exclusion(collapsed, broken)
    assert both["excluded"] == "collapsed and broken curve"
    assert "COLLAPSED" in both["excluded_why"] and "110" in both["excluded_why"]
    theory = {"experiment": "e", "seed": 0, "inputs": {"D": 10},
              "rho_th": 0.1, "rho_lower": 0.0, "rho_upper": 1.0}  # fmt: skip
    limit = {"dense": None, "rho_loss": 0.2, "rho_objective": 0.2, "rho_acc": 0.2,
             "l1": {"val_acc_se": 0.01, "curve": [{"rho": 1.0}]}}  # fmt: skip
    exps = {"e": {"dataset": "mnist1d", "model": "mlp"}}
    (rec,) = limit_records([theory], [limit], [collapsed], exps)
    assert rec["excluded"] == "collapsed"
    (rec,) = limit_records([theory], [limit], [], exps)  # no metrics: not collapsed
    assert rec["excluded"] == ""
