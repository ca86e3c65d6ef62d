"""bench.gpu's projection of the paper grid: the jobs per rule come from the DAG Snakemake plans
(a dry run of config/paper.yaml), and every rule of that DAG has a unit model or is listed as
holding no GPU, with the reason (bench/units.py)."""

from __future__ import annotations

import math

import pytest
import yaml

from conftest import REPO, job_counts, run_snakemake
from prunelimit.bench.dag import Job, parse_dry_run
from prunelimit.bench.gpu import project, table
from prunelimit.bench.units import NEGLIGIBLE, UNITS, Sizes, curve_points
from prunelimit.config.validate import load_settings

PAPER = REPO / "config" / "paper.yaml"
SETTINGS = load_settings(yaml.safe_load(PAPER.read_text()))
# CIFAR10 at the paper's split (45000 / 5000 / 10000), batch 128, Hessian chunks of 500, 2 probes
SIZES = Sizes(45_000, 5_000, 10_000, batch=128, chunk=500, probes=2)
STEPS = math.ceil(45_000 / 128)  # per epoch: 352


def _ones() -> dict[str, float]:
    """Every primitive of the paper config at one second."""
    prims = dict.fromkeys(["step", "eval_sample", "point", "hvp"], 1.0)
    prims.update({f"prune:{s}": 1.0 for s in {*SETTINGS.sap.scopes, "global"}})
    prims.update({f"ntk_sweep:{w}": 1.0 for w in SETTINGS.ntk.widths})
    prims.update({f"ntk_gram:{w}": 1.0 for w in SETTINGS.ntk.real_widths})
    return prims


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("paper_plan")  # empty: no data, every job planned
    proc = run_snakemake("-n", "--configfile", str(PAPER), "--directory", str(work))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_projection_has_the_job_counts_of_the_paper_dry_run(paper_dry_run):
    rows = project(SETTINGS, parse_dry_run(paper_dry_run), {})
    assert {r["rule"]: r["jobs"] for r in rows} == job_counts(paper_dry_run)
    assert sum(r["jobs"] for r in rows) > 300


@pytest.mark.slow
def test_every_rule_of_the_paper_dag_is_modelled_or_holds_no_gpu(paper_dry_run):
    missing = sorted(r for r in job_counts(paper_dry_run) if r not in UNITS | NEGLIGIBLE)
    assert not missing, (
        f"rules of the paper DAG without a unit model: {missing}; model them in "
        "prunelimit.bench.units.UNITS or list them in NEGLIGIBLE with the reason"
    )


@pytest.mark.slow
def test_every_modelled_job_of_the_paper_dag_has_a_cost(paper_dry_run):
    measured = {e.name: {"sizes": SIZES, "primitives": _ones()} for e in SETTINGS.experiments}
    measured["ntk"] = {"sizes": None, "primitives": _ones()}
    rows = project(SETTINGS, parse_dry_run(paper_dry_run), measured)
    for r in rows:
        assert r["status"] in ("modelled", "no GPU"), r
        if r["status"] == "modelled":
            assert r["measured"] == r["jobs"] and r["gpu_hours"] > 0, r
    assert "**not modelled**" not in table(rows)


def test_a_training_job_is_epochs_of_steps_and_held_out_passes():
    w = {"experiment": "cifar10_fc5", "seed": "0", "kind": "l1"}
    counts = UNITS["train"][0](SETTINGS, w, SIZES)
    assert counts == {"step": 200 * STEPS, "eval_sample": 200 * 15_000 + 60_000}


def test_a_spectrum_is_lanczos_steps_times_chunks():
    w = {"experiment": "cifar10_alexnet", "seed": "0"}  # 96 Lanczos steps (its override)
    assert UNITS["spectrum"][0](SETTINGS, w, SIZES) == {"hvp": 96 * 10}  # 5000 samples / 500
    rows = UNITS["hessian_rows"][0](SETTINGS, w, SIZES)
    assert rows == {"hvp": 50 * 10}  # 100 rows, 2 at a time


def test_an_sap_job_retrains_every_scope_every_iteration():
    sap = SETTINGS.sap
    counts = UNITS["sap"][0](SETTINGS, {"experiment": "cifar10_fc5", "method": "lt"}, SIZES)
    assert counts["step"] == len(sap.scopes) * sap.iterations * sap.epochs * STEPS
    assert counts["prune:neuron"] == sap.iterations + 1
    ablation = UNITS["sap_ablation"][0](SETTINGS, {"experiment": "cifar10_vgg16"}, SIZES)
    assert ablation["step"] == counts["step"] / len(sap.scopes)
    assert set(ablation) == {"step", "eval_sample", "prune:global"}


def test_a_pruning_curve_has_at_most_the_scan_and_three_bisections():
    # 32 log-spaced ratios on the 0.1 % grid are 29 distinct points; the widest bracket, 800 to
    # 1000, takes 8 halvings, for each of the three criteria at most
    assert curve_points(SETTINGS) == 29 + 3 * 8


def test_a_rule_without_a_model_is_shown_not_modelled():
    jobs = [Job("mystery"), Job("limits_table"), Job("train", {"experiment": "cifar10_fc5",
            "seed": "0", "kind": "dense"})]  # fmt: skip
    measured = {"cifar10_fc5": {"sizes": SIZES, "primitives": _ones()}}
    rows = {r["rule"]: r for r in project(SETTINGS, jobs, measured)}
    assert rows["mystery"]["status"] == "not modelled" and rows["mystery"]["gpu_hours"] is None
    assert rows["limits_table"]["status"] == "no GPU" and rows["limits_table"]["gpu_hours"] == 0
    expected = 200 * STEPS + 200 * 15_000 + 60_000  # seconds at 1 s per primitive
    assert rows["train"]["s_per_job"] == expected
    text = table(list(rows.values()))
    assert "| mystery | 1 | **not modelled** |" in text
    assert f"| **total** | 3 | | | {expected / 3600:.4g} |" in text


def test_the_dry_run_parser_checks_the_job_stats():
    output = (
        "Job stats:\njob      count\n-----  -------\ntrain        2\nall          1\n"
        "total        3\n\nrule train:\n    output: a\n    wildcards: experiment=e, seed=0, "
        "kind=l1\n\nrule train:\n    wildcards: experiment=e, seed=1, kind=l1\n\n"
        "localrule all:\n    input: a\n"
    )
    jobs = parse_dry_run(output)
    assert jobs[1] == Job("train", {"experiment": "e", "seed": "1", "kind": "l1"})
    assert jobs[2] == Job("all", {})
    with pytest.raises(ValueError, match="do not match"):
        parse_dry_run(output.replace("train        2", "train        3"))
