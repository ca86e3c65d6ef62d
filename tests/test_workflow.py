"""End-to-end: the whole workflow on the tiny config (.test/config.yaml), run once per session
(the ``tiny_run`` fixture of conftest.py, shared with the SLURM test)."""

import hashlib
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from conftest import finite, job_counts, run_snakemake
from prunelimit.bench.dag import job_times
from prunelimit.config.settings import ExperimentSettings
from prunelimit.forkserver import FORKED_NOTE

E = ExperimentSettings.from_dict

pytestmark = pytest.mark.slow

# the columns of the report's front-page headline (workflow/report/workflow.rst), in order
HEADLINE = [
    "rho_th",
    "rho_loss",
    "relgap_loss",
    "rho_objective",
    "relgap_objective",
    "rho_acc",
    "relgap_acc",
]


def test_training_outputs(tiny_run):
    for kind in ("dense", "l1", "l2"):
        m = json.loads((tiny_run / f"results/tiny/seed0/{kind}_metrics.json").read_text())
        assert m["kind"] == kind and len(m["history"]["train_loss"]) == 20
        assert m["final"]["test_acc"] > 0.2  # well above chance (0.1) after 20 epochs
        assert (tiny_run / f"results/tiny/seed0/{kind}.pt").exists()
        assert not (tiny_run / f"results/tiny/seed0/{kind}.ckpt").exists()
        assert (tiny_run / f"logs/train/tiny/seed0/{kind}.log").read_text().count("epoch") >= 20


def test_the_scheduler_runs_a_round_per_finished_job_not_per_second(tiny_run):
    """A local run drops Snakemake's job-rate limiter (the Snakefile's ``onstart``): with it,
    every finished job started one more chain of one-second scheduling rounds, 2,140 rounds
    for these 48 jobs."""
    out = (tiny_run / "snakemake.out").read_text()
    rounds = out.count("Resources before job selection")
    jobs = sum(job_counts(out).values())
    assert jobs > 30 and rounds <= jobs + 2, (rounds, jobs)


def test_every_job_log_ends_with_what_the_job_used(tiny_run):
    """Each job's CPU seconds and peak memory, from the kernel at its end (``job usage:``),
    summed by ``python -m prunelimit.bench.dag``."""
    jobs = job_times(tiny_run / "benchmarks")
    assert len(jobs) > 30
    # a job forked from the run's server starts with its imports done: a table takes 0.04 CPU-s
    assert all(j["cpu_s"] > 0 and j["peak_mb"] > 20 for j in jobs), jobs
    train = [j for j in jobs if j["stage"] == "train"]
    assert all(j["peak_mb"] > 200 and j["cpu_s"] > 0.1 for j in train)  # not a stub line


def test_the_local_run_forks_every_job_from_its_server(tiny_run):
    """Every job of the tiny run ran in a process forked from the run's server
    (prunelimit.forkserver), and its results equal a SLURM run's, whose jobs start afresh
    (tests/test_slurm.py)."""
    texts = [p.read_text() for p in sorted((tiny_run / "logs").rglob("*.log"))]
    usage = [t for t in texts if "job usage:" in t]
    assert len(usage) > 30
    assert all(FORKED_NOTE in t.splitlines()[-1] for t in usage)


def test_rerun_is_a_no_op(tiny_run):
    proc = run_snakemake(
        "-n", "--configfile", str(tiny_run / "config.yaml"), "--directory", str(tiny_run)
    )
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_report_holds_every_figure_and_table(tiny_run):
    proc = run_snakemake(
        "--report",
        "report.html",
        "--configfile",
        str(tiny_run / "config.yaml"),
        "--directory",
        str(tiny_run),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tiny_run / "report.html").read_text()
    figures = sorted(p.name for p in (tiny_run / "results" / "figures").glob("*.png"))
    assert len(figures) >= 10
    for name in figures + ["limits.csv", "methods.csv", "ntk.csv"]:
        assert name in html, f"{name} missing from the report"
    # the front page holds the headline: theory, actual limits and relative gaps per experiment
    table = html[html.index("Headline") :].split("</table>")[0]
    cells = re.findall(r"<td>(.*?)</td>", table)  # 10 per experiment (workflow/report/workflow.rst)
    limits = pd.read_csv(tiny_run / "results" / "tables" / "limits.csv")
    assert len(limits) >= 1 and len(cells) == 10 * len(limits)
    for k, row in limits.iterrows():
        shown = cells[10 * k : 10 * (k + 1)]
        assert row["experiment"] in shown[0] and shown[2] == str(row["seeds"])
        for cell, col in zip(shown[3:], HEADLINE, strict=True):
            mean, std = row[f"{col}_mean"], row[f"{col}_std"]
            assert re.fullmatch(rf"{mean:.2f} (±|\\u00b1) {std:.2f}", cell), (col, cell)


def test_limit_outputs_hold_their_invariants(tiny_run):
    run = tiny_run / "results/tiny/seed0"
    spectrum = json.loads((run / "spectrum.json").read_text())
    theory = json.loads((run / "theory.json").read_text())
    limit = json.loads((run / "limit.json").read_text())
    metrics = json.loads((run / "l1_metrics.json").read_text())
    for name, obj in (("spectrum", spectrum), ("theory", theory), ("limit", limit)):
        assert finite(obj), f"{name}.json holds a non-finite value"
    # the theory: ordered bounds, a kept ratio, the Lanczos run's own convergence curve
    assert 0 < theory["rho_lower"] <= theory["rho_th"] <= theory["rho_upper"] <= 1
    conv = theory["convergence"]
    assert spectrum["lanczos_mode"] == "auto" and conv["steps"][-1] == spectrum["lanczos_steps"]
    assert theory["converged"] == conv["converged"] == (conv["change_from_half"] <= conv["tol"])
    assert conv["rho_th"][-1] == theory["rho_th"]
    # auto stops at the first converged block, or at the maximum (10-step blocks, at most 40)
    assert spectrum["lanczos_steps"] in (20, 30, 40)
    assert theory["converged"] or spectrum["lanczos_steps"] == 40
    # the actual limits: each criterion holds at its limit and fails at the next point below
    l1 = limit["l1"]
    assert l1["eps"] == theory["inputs"]["eps"] and l1["l1"] == metrics["settings"]["l1"]
    base = l1["unpruned"]
    holds = {
        "loss": lambda r: r["train_loss"] <= base["train_loss"] + l1["eps"],
        "objective": lambda r: r["objective"] <= base["objective"] + l1["eps"],
        "acc": lambda r: r["val_acc"] >= base["val_acc"],
    }
    res = l1["resolution"]
    rows = {round(r["rho"] / res): r for r in l1["curve"]}
    for c, ok in holds.items():
        k = round(limit[f"rho_{c}"] / res)
        assert 0 < limit[f"rho_{c}"] <= 1 and ok(rows[k]), c
        below = [i for i in rows if i < k]  # the bisection ends one grid step above a failure
        assert not below or (max(below) == k - 1 and not ok(rows[k - 1])), c
    assert limit["dense"]["rho_objective"] == limit["dense"]["rho_loss"]  # l1 = 0
    # the regime diagnostic of the l1 run, and the table that reports it
    regime = metrics["regime"]
    assert 0 <= regime["drift_kept"] <= 1 and regime["in_regime"] in (True, False)
    table = pd.read_csv(tiny_run / "results/tables/limits.csv")
    row = table.iloc[0]
    assert row["rho_th_mean"] == pytest.approx(100 * theory["rho_th"])
    assert row["rho_objective_mean"] == pytest.approx(100 * limit["rho_objective"])
    rel = abs(theory["rho_th"] - limit["rho_loss"]) / limit["rho_loss"]
    assert row["relgap_loss_mean"] == pytest.approx(100 * rel)
    assert row["converged_seeds"] == int(theory["converged"])
    assert row["in_regime_seeds"] == int(regime["in_regime"])
    md = (tiny_run / "results/tables/limits.md").read_text()
    assert "in regime" in md and "rel. gap (b) %" in md


def test_hessian_rows_of_the_l1_network(tiny_run):
    """hessian.rows rows at the magnitude thresholds of the l1 weights the limit search prunes."""
    import torch

    rows = json.loads((tiny_run / "results/tiny/seed0/hessian_rows.json").read_text())
    assert finite(rows) and len(rows["row_l1"]) == 10 and rows["n_hvp"] == 10
    assert rows["q"] == pytest.approx([j / 10 for j in range(10)])
    assert rows["samples"] == 1000 and rows["kind"] == "l1"
    state = torch.load(tiny_run / "results/tiny/seed0/l1.pt", map_location="cpu")
    w = torch.cat([state[n].reshape(-1) for n in state if n.endswith("weight")]).abs()
    assert rows["D"] == w.numel() and rows["magnitude"] == sorted(rows["magnitude"])
    for rank, mag in zip(rows["rank"], rows["magnitude"], strict=True):  # the rank-th smallest
        assert float(torch.sort(w.double()).values[rank]) == pytest.approx(mag)
    assert all(r >= abs(d) for r, d in zip(rows["row_l1"], rows["diagonal"], strict=True))


def test_partition_trajectory_of_the_watched_l1_run(tiny_run):
    """spline/trajectory.npz: every recorded epoch's partition, the last one that of the final
    l1 network (the partition rule draws it, unpruned, from l1.pt)."""
    from prunelimit.io import read_npz

    spline = tiny_run / "results/tiny/seed0/spline"
    path = read_npz(spline / "trajectory.npz")
    eb = json.loads((spline / "eb.json").read_text())
    assert path["epochs"].tolist() == eb["epochs"] == list(range(21))
    grid = eb["grid"]
    assert path["layer_boundaries"].shape == (21, 2, grid, grid)
    part = read_npz(spline / "partition.npz")
    unpruned = json.loads((spline / "partition.json").read_text())["points"][0]
    assert unpruned["rho"] == 1.0
    assert np.array_equal(path["layer_boundaries"][-1], part["layer_boundaries"][0])
    assert path["regions"][-1] == unpruned["grid_regions"]  # the trajectory counts on the grid
    assert path["moved"][0] == 0 and (path["moved"][1:] >= 0).all()


def test_region_stage_counts_the_regions_on_the_input_plane(tiny_run):
    df = pd.read_csv(tiny_run / "results/tiny/seed0/spline/regions.csv")
    grid = json.loads((tiny_run / "results/tiny/seed0/spline/eb.json").read_text())["grid"]
    for col in ("grid_regions", "oneshot_grid_regions"):
        assert df[col].between(1, grid * grid).all() and (df[col] == df[col].round()).all()
    # exact counts: every region the grid meets, and those between its points
    assert (df["regions"] >= df["grid_regions"]).all()
    assert (df["oneshot_regions"] >= df["oneshot_grid_regions"]).all()
    assert "bound: regions" in (tiny_run / "results/tables/regions.md").read_text()


def test_the_three_kinds_get_a_theory_and_an_actual_limit_each(tiny_run):
    """With `l2_train` (.test/config.yaml: weight decay 5e-4) the dense and l2 networks go
    through the spectrum and theory rules too; their curves use their own theory's eps, and
    the limits table reports them beside the l1 network."""
    run = tiny_run / "results/tiny/seed0"
    limit = json.loads((run / "limit.json").read_text())
    l2 = json.loads((run / "l2_metrics.json").read_text())
    assert l2["kind"] == "l2" and l2["settings"]["weight_decay"] == 5e-4
    assert l2["settings"]["l1"] == 0.0
    table = pd.read_csv(tiny_run / "results/tables/limits.csv").iloc[0]
    for kind in ("dense", "l2"):
        spectrum = json.loads((run / f"{kind}_spectrum.json").read_text())
        theory = json.loads((run / f"{kind}_theory.json").read_text())
        assert spectrum["kind"] == theory["kind"] == kind and finite(theory)
        assert 0 < theory["rho_lower"] <= theory["rho_th"] <= theory["rho_upper"] <= 1
        curve = limit[kind]
        assert curve["eps"] == theory["inputs"]["eps"] and curve["l1"] == 0.0
        assert curve["rho_objective"] == curve["rho_loss"]  # l1 = 0: (b) is (a)
        assert table[f"{kind}_rho_th_mean"] == pytest.approx(100 * theory["rho_th"])
        assert table[f"{kind}_rho_loss_mean"] == pytest.approx(100 * curve["rho_loss"])
        rel = abs(theory["rho_th"] - curve["rho_loss"]) / curve["rho_loss"]
        assert table[f"{kind}_relgap_mean"] == pytest.approx(100 * rel)
    # the networks differ: the l2 run is not a copy of the dense one
    assert json.loads((run / "dense_theory.json").read_text())["rho_th"] != pytest.approx(
        json.loads((run / "l2_theory.json").read_text())["rho_th"], rel=1e-9
    )
    md = (tiny_run / "results/tables/limits.md").read_text()
    assert "l2 theory" in md and "dense rel. gap (a) %" in md
    keys = pd.read_csv(tiny_run / "results/tables/key_factors.csv")
    assert sorted(keys["kind"]) == ["dense", "l1", "l2"]
    for kind in ("l1", "dense", "l2"):
        theory = json.loads(
            (run / ("theory.json" if kind == "l1" else f"{kind}_theory.json")).read_text()
        )
        hist, D = theory["weight_histogram"], theory["inputs"]["D"]
        assert hist["D"] == D and hist["zeros"] + sum(hist["counts"]) == D
        scaling = theory["magnitude_scaling"]
        assert [r["factor"] for r in scaling] == [1, 2, 3, 4, 5]  # the default factors
        assert scaling[0]["rho_th"] == theory["rho_th"]
        row = keys[keys["kind"] == kind].iloc[0]
        assert [row[f"rho_th_x{c}"] for c in (2, 3, 4, 5)] == [r["rho_th"] for r in scaling[1:]]
    # one seed in the tiny config: no pair of seeds to compare, and the figure is drawn all the same
    assert pd.read_csv(tiny_run / "results/tables/weight_distances.csv").empty
    assert (tiny_run / "results/figures/weight_distributions.png").stat().st_size > 0


def test_sap_records_follow_each_method_rule(tiny_run):
    cfg_rate, beta = 0.2, 0.9  # .test/config.yaml: lt_rate 0.2, beta 0.9
    for method in ("sap", "lt", "os"):
        for scope in ("global", "neuron"):
            df = pd.read_csv(tiny_run / f"results/tiny/seed0/sap/{method}_{scope}.csv")
            D = int(df["kept"].iloc[0])
            assert df["iteration"].tolist() == list(range(len(df)))
            assert (df["percent"] - 100 * df["kept"] / D).abs().max() < 1e-9
            assert all(math.isfinite(v) for v in df.select_dtypes("number").to_numpy().ravel())
            # the next iteration keeps exactly what this one did not prune
            assert (df["kept"].iloc[1:].to_numpy() == (df["kept"] - df["pruned"]).iloc[:-1]).all()
            kept, pruned = df["kept"].to_numpy(), df["pruned"].to_numpy()
            if method == "lt" and scope == "global":  # a fifth of the remaining, half up
                assert (pruned == (cfg_rate * kept + 0.5).astype(int)).all()
            if method == "os" and scope == "global":  # 0.8^t of D, from the dense weights
                for t, k in enumerate(kept):
                    assert abs(k - (1 - cfg_rate) ** t * D) <= 1
            if method == "sap":  # never more than beta of a group per iteration
                assert (pruned <= beta * kept).all() and (pruned >= 0).all()


def test_ntk_sweep_invariants(tiny_run):
    sweep = pd.read_csv(tiny_run / "results/ntk/sweep.csv")
    assert (sweep["theta"] >= 0).all() and sweep["theta"].map(math.isfinite).all()
    assert (sweep["theta_inf"] - 2.42873).abs().max() < 1e-4  # the paper's limit, depth 3
    # rescaling by 1/sqrt(1-p) restores the dense limit; without it the limit is scaled down
    pruned = sweep[(sweep["p"] > 0) & ~sweep["rescaled"]]
    assert (pruned["theta_limit"] < sweep["theta_inf"].iloc[0]).all()
    dense = sweep[sweep["p"] == 0].groupby("width")["abs_dev"].mean()
    assert dense.iloc[-1] < dense.iloc[0]  # the dense deviation shrinks with width
    gram = pd.read_csv(tiny_run / "results/ntk/gram.csv")
    assert (gram["rel_frob_inf"] > 0).all() and (gram[gram["p"] == 0]["rel_frob_dense"] == 0).all()


def test_own_weights_give_the_same_prediction_and_limit(tiny_run, tmp_path):
    """A second experiment pointing at the tiny network's saved weights: its theory.json and
    limit.json equal those of the experiment that trained it."""
    import shutil

    import yaml

    work = tmp_path / "own"
    shutil.copytree(tiny_run, work, symlinks=True)
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    tiny = cfg["experiments"][0]
    mine = {
        **{k: tiny[k] for k in ("dataset", "model", "model_args", "train")},
        "name": "mine",
        "weights": "results/tiny/seed0/l1.pt",
        "dense_weights": "results/tiny/seed0/dense.pt",
    }
    cfg["experiments"].append(mine)
    (work / "own.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"results/mine/seed0/{f}.json" for f in ("theory", "limit")]
    proc = run_snakemake(
        "--cores", "2", "--configfile", str(work / "own.yaml"), "--directory", str(work), *targets
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("theory", "limit"):
        a = json.loads((work / f"results/tiny/seed0/{name}.json").read_text())
        b = json.loads((work / f"results/mine/seed0/{name}.json").read_text())
        assert a.pop("experiment") == "tiny" and b.pop("experiment") == "mine"
        for key, src in (("weights", "l1"), ("dense_weights", "dense")):  # provenance
            sha = hashlib.sha256((work / f"results/tiny/seed0/{src}.pt").read_bytes())
            assert b.pop(f"{key}_sha256") == sha.hexdigest()
        if name == "limit":  # timings differ; imported weights come without an l2 network
            a["local_model"].pop("seconds"), b["local_model"].pop("seconds")
            assert "l2" in a and "l2" not in b
            a.pop("l2")
        assert a == b, name
    metrics = json.loads((work / "results/mine/seed0/l1_metrics.json").read_text())
    assert metrics["trained_here"] is False and len(metrics["source_sha256"]) == 64
    assert metrics["regime"]["in_regime"] is None
    assert not list((work / "logs").glob("train/mine/**/*.log"))  # nothing was trained


def test_missing_own_weights_stop_before_any_job(tmp_path):
    import shutil

    import yaml

    from conftest import REPO

    shutil.copy(REPO / ".test" / "config.yaml", tmp_path / "config.yaml")
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    cfg["experiments"].append(
        {"name": "mine", "dataset": "mnist1d", "model": "mlp", "weights": "nowhere/w.pt"}
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(
        "-n", "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path)
    )
    assert proc.returncode != 0
    assert ".weights (mine): nowhere/w.pt does not exist" in proc.stdout + proc.stderr


def test_watched_l1_run_equals_a_retraining_run(tiny_run):
    """spline_eb retrains nothing: the codes recorded during the one l1 training (and the
    weights kept at the early bird) equal those of an independent retraining that records them
    on its own, and the spline outputs are built from them."""
    import torch
    import yaml

    from prunelimit.config.kinds import train_settings
    from prunelimit.data import load_dataset
    from prunelimit.experiment.runs import new_model
    from prunelimit.io import load_torch
    from prunelimit.partition.plane import watch_inputs
    from prunelimit.runtime import setup
    from prunelimit.spline.tickets import CodeRecorder
    from prunelimit.training.loop import fit

    cfg = yaml.safe_load((tiny_run / "config.yaml").read_text())
    exp, sp = cfg["experiments"][0], cfg["spline"]
    data = load_dataset(tiny_run / "resources/datasets/mnist1d.pt")
    setup(0, threads=1, device="cpu")  # as the train job
    model = new_model(E(exp), data, seed=0)
    rec = CodeRecorder(watch_inputs(data, sp["grid"], sp["margin"]), sp["threshold"], sp["window"])
    rec(0, model)
    fit(model, data, train_settings(E(exp), "l1"), seed=0, on_epoch_end=rec, log=lambda _m: None)

    run = tiny_run / "results/tiny/seed0"
    observed = load_torch(run / "l1_watch.pt")
    final = load_torch(run / "l1.pt")
    assert all(torch.equal(final[k], v) for k, v in model.state_dict().items())
    assert observed["epochs"] == rec.epochs and observed["detected_epoch"] == rec.detected
    assert torch.equal(observed["distances"], torch.from_numpy(rec.matrix()))
    assert observed["step_distance_per_layer"] == rec.layer_steps
    if rec.eb_state is not None:
        assert all(torch.equal(observed["eb_state"][k], v) for k, v in rec.eb_state.items())
    eb = json.loads((run / "spline/eb.json").read_text())
    assert eb["detected_epoch"] == rec.detected and eb["epochs"] == rec.epochs
    dist = pd.read_csv(run / "spline/eb_distances.csv", index_col=0).to_numpy()
    assert abs(dist - rec.matrix()).max() < 1e-12
    assert not (run / "l1.ckpt.codes").exists()


def test_recorded_extremes_against_a_float64_eigensolver(tiny_run):
    """The float32 Lanczos run's extreme Ritz values lie inside the float64 spectrum (ARPACK on
    the same operator) and close to its ends: exact Lanczos never leaves [lambda_min,
    lambda_max], a precision fault does."""
    import yaml

    from prunelimit.bench.precision import check_run

    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    out = check_run(config, "tiny", 0, tiny_run)
    assert out["float64_lambda_min"] < out["float64_lambda_max"]
    assert -1e-6 < -out["max_rel_diff"] < 1e-3  # at or just below the top
    assert (
        out["recorded_lambda_min"] >= out["float64_lambda_min"] - 1e-6 * out["float64_lambda_max"]
    )
