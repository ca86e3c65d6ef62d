"""Rehearsal of the papers' grid: the whole DAG of config/paper.yaml on the CPU.

The config is .test/rehearsal.yaml, derived from config/paper.yaml by
:mod:`prunelimit.config.rehearsal` (every experiment, model, dataset, schedule and comparison; only
sizes shrunk, each for the reason given there and in the file's header). The datasets are
synthetic CIFAR10-, CIFAR100- and TinyImageNet-shaped prepared files
(:mod:`prunelimit.data.synthetic`, through the real preparation code), since CI is offline.
Its 135 jobs, forked from the run's server (prunelimit.forkserver), used 1,023 CPU-s by their
usage lines (imports not counted) and took 13 min 9 s beside the rest of the suite in CI; the
largest job peaks at 5.1 GB resident (the spectrum of the TinyImageNet ResNet50).
"""

import json
import math
from pathlib import Path

import pytest
import yaml

from conftest import REPO, finite, job_counts, run_snakemake
from prunelimit.bench.dag import job_times
from prunelimit.config.rehearsal import (
    ABLATIONS,
    HESSIAN,
    NESTED,
    SECTIONS,
    TOP,
    TRAIN,
    main,
    render,
)
from prunelimit.config.validate import load_settings
from prunelimit.data import write_synthetic
from prunelimit.regions.bound import REGION_MODELS

PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
REHEARSAL = REPO / ".test" / "rehearsal.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

# Samples per synthetic dataset (training set before the 10 % validation split, test set). The
# cost of every stage grows with them: training, SAP's retrainings, the actual limit's
# evaluations of all three splits at each kept ratio and its local model's Hessian-vector
# products over the whole training split. Batches of 8 (the rehearsal's): eps = auto needs two.
SAMPLES = {
    "cifar10": (32, 8),  # FC5, FC12, AlexNet, VGG16: 29 train (4 batches), 3 val
    "cifar100": (24, 8),  # ResNet18/50 at 32x32: 22 train (3 batches), 2 val
    # ResNet50 at 64x64 costs ~0.6 s per training sample and ~1.3 s per sample and vector of a
    # Hessian product on one core (the local model's products run over the whole training
    # split), and the full-batch gradient of the l1 regime holds about 0.4 GB per sample:
    # 11 train (2 batches), 1 val
    "tinyimagenet": (12, 8),
}
# The test splits: 8 inputs, the rehearsal's ntk.real_batch (cifar10), covering classes 0-7.
# Labels over the first 10 classes, so that these few samples hold each class a few times (the
# networks learn something) and the test split has classes 0-2 (the spline stage's grid anchors).
CLASSES = 10
# Rules that cannot run here, and why.
NOT_RUN = {
    "download": "offline: the synthetic prepared files stand in for it (the real preparation)",
    "import_weights": "paper.yaml imports no weights (tests/test_workflow.py runs it)",
    "predict": "a target outside `all`: the spectrum and theory jobs, which run here",
}
MAX_RSS_MB = 8000  # two jobs at once on a 24 GB CI machine


def _leaves(d, path=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(d, list) and d and isinstance(d[0], dict):
        for i, v in enumerate(d):
            yield from _leaves(v, (*path, i))
    else:
        yield path, d


def test_committed_rehearsal_is_derived_from_the_paper_config():
    text = REHEARSAL.read_text()
    assert text == render(PAPER), "run: python -m prunelimit.config.rehearsal"
    load_settings(yaml.safe_load(text), SCHEMA)  # the workflow's validation


def test_rehearsal_keeps_the_paper_grid_and_shrinks_only_sizes():
    cfg = yaml.safe_load(REHEARSAL.read_text())
    keys = lambda exps: [(e["name"], e["model"], e["dataset"]) for e in exps]  # noqa: E731
    assert keys(cfg["experiments"]) == keys(PAPER["experiments"])
    paper, ours = dict(_leaves(PAPER)), dict(_leaves(cfg))
    assert set(paper) == set(ours), "the rehearsal adds or drops keys"
    sizes = {**TOP, **TRAIN, **HESSIAN, **ABLATIONS}
    for table in [*SECTIONS.values(), *NESTED.values()]:
        sizes.update(table)
    changed = [p for p in paper if paper[p] != ours[p]]
    assert changed and all(p[-1] in sizes for p in changed), changed
    for exp, mine in zip(PAPER["experiments"], cfg["experiments"], strict=True):
        train = mine["train"]
        assert train["schedule"] == exp["train"]["schedule"]
        assert train["augment"] == exp["train"]["augment"]
        assert (train["warmup_epochs"] > 0) == (exp["train"]["warmup_epochs"] > 0)
        assert len(train.get("milestones", [])) <= len(exp["train"].get("milestones", []))
    for section in ("sap", "spline"):
        assert cfg[section]["experiments"] == PAPER[section]["experiments"]


def test_check_fails_when_the_rehearsal_is_out_of_date(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the CLI's default paths are from the repository root
    assert main(["--check"], out=lambda _m: None) == 0
    paper = {**PAPER, "seeds": [7]}
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(paper))
    argv = ["--paper", str(tmp_path / "paper.yaml"), "--out", str(tmp_path / "r.yaml")]
    assert main([*argv, "--check"], out=lambda _m: None) == 1
    assert main(argv, out=lambda _m: None) == 0
    assert main([*argv, "--check"], out=lambda _m: None) == 0
    assert yaml.safe_load((tmp_path / "r.yaml").read_text())["seeds"] == [7]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> tuple[Path, str]:
    """The whole DAG of the rehearsal config, run once: its folder and snakemake's output."""
    work = tmp_path_factory.mktemp("rehearsal")
    cfg = yaml.safe_load(REHEARSAL.read_text())
    data = cfg["data"]
    for name, (train, test) in SAMPLES.items():
        out = work / "resources" / "datasets" / f"{name}.pt"
        write_synthetic(
            name, out, train, test, data["val_fraction"], data["split_seed"], 0, CLASSES
        )
    (work / "config.yaml").write_text(REHEARSAL.read_text())
    args = ("--configfile", str(work / "config.yaml"), "--directory", str(work))
    with pytest.MonkeyPatch.context() as env:
        # checkpoints as by default (after an epoch at most every 60 s), not after every epoch
        # as conftest asks for its resume tests: a ResNet50 checkpoint is ~200 MB
        env.setenv("PRUNELIMIT_CHECKPOINT_EVERY_S", "60")
        # every job raises wherever a deterministic CUDA run would (prunelimit.guard.alerts)
        env.setenv("PRUNELIMIT_CUDA_GUARD", "1")
        # FC5 on a CIFAR plane has about a million regions (minutes a count): partitions above
        # 5,000 regions take the fallbacks (the grid's figure, a NaN count) as they would at 2 M
        env.setenv("PRUNELIMIT_MAX_EXACT_REGIONS", "5000")
        # 13-16 min beside the rest of the suite (135 jobs, two at a time)
        proc = run_snakemake("--cores", "2", *args, timeout=2700)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return work, proc.stdout + proc.stderr


@pytest.mark.slow
def test_every_rule_ran(rehearsal):
    work, output = rehearsal
    listed = run_snakemake("--list-rules", "--configfile", str(work / "config.yaml"), cwd=work)
    rules = set(listed.stdout.split())
    assert set(NOT_RUN) < rules and "train" in rules
    ran = job_counts(output)
    assert set(ran) == rules - set(NOT_RUN)
    assert not (work / "logs" / "download").exists()  # the synthetic files were used as they are


@pytest.mark.slow
def test_every_paper_model_and_dataset_trained(rehearsal):
    work, _ = rehearsal
    seed = PAPER["seeds"][0]
    for exp in PAPER["experiments"]:
        for kind in ("dense", "l1"):
            m = json.loads(
                (work / f"results/{exp['name']}/seed{seed}/{kind}_metrics.json").read_text()
            )
            assert (m["model"], m["dataset"]) == (exp["model"], exp["dataset"])
            assert len(m["history"]["train_loss"]) == 3 and math.isfinite(m["final"]["train_loss"])
    trained = {(e["model"], e["dataset"]) for e in PAPER["experiments"]}
    assert len(trained) == len(PAPER["experiments"])


@pytest.mark.slow
def test_prediction_and_limits_hold_finite_numbers(rehearsal):
    work, _ = rehearsal
    seed = PAPER["seeds"][0]
    for exp in PAPER["experiments"]:
        run = work / f"results/{exp['name']}/seed{seed}"
        for name in ("spectrum", "theory", "limit", "pqi"):
            obj = json.loads((run / f"{name}.json").read_text())
            assert finite(obj), f"{exp['name']}: {name}.json holds a non-finite value"
        theory = json.loads((run / "theory.json").read_text())
        limit = json.loads((run / "limit.json").read_text())
        assert 0 < theory["rho_lower"] <= theory["rho_th"] <= theory["rho_upper"] <= 1
        assert all(0 < limit[f"rho_{c}"] <= 1 for c in ("loss", "objective", "acc"))
    for name in PAPER["spline"]["experiments"]:
        eb = json.loads((work / f"results/{name}/seed{seed}/spline/eb_limit.json").read_text())
        assert finite(eb) and 0 < eb["final"]["rho_th"] <= 1
    assert finite(json.loads((work / "results/ntk/summary.json").read_text()))


def _region_model(experiment: str) -> bool:
    """Whether the linear-region bound (and its figure) applies to ``experiment``'s model."""
    model = next(e["model"] for e in PAPER["experiments"] if e["name"] == experiment)
    return model in REGION_MODELS


@pytest.mark.slow
def test_tables_and_figures_exist(rehearsal):
    work, _ = rehearsal
    tables = ["limits", "key_factors", "weight_distances", "methods", "pqi", "ntk", "spline"]
    tables.append("regions")
    for name in tables:
        for ext in ("csv", "md", "tex"):
            assert (work / f"results/tables/{name}.{ext}").stat().st_size > 0, name
    figures = [
        "predicted_vs_actual",
        "key_factors",
        "weight_distributions",
        *(f"ntk_{f}" for f in ("value", "deviation", "width_needed", "rescaling", "gram")),
        *(
            f"limit_{e['name']}_{f}"
            for e in PAPER["experiments"]
            for f in (
                "transition",
                "spectrum",
                "lanczos",
                "local_model",
                "theory_curve",
                "hessian_rows",
            )
        ),
        *(
            f"sap_{e}_{f}"
            for e in PAPER["sap"]["experiments"]
            for f in ("accuracy", "pqi", "layers")
        ),
        *(
            f"spline_{e}_{f}"
            for e in PAPER["spline"]["experiments"]
            for f in ("eb", "eb_limit", "trajectory")
        ),
        *(f"regions_{e}" for e in PAPER["spline"]["experiments"] if _region_model(e)),
        *(f"spline_pruning_{e}" for e in PAPER["spline"]["experiments"]),
        "spline_partition",
        *(f"methods_{e}" for e in PAPER["sap"]["experiments"]),
    ]
    for name in figures:
        for ext in ("pdf", "png"):
            assert (work / f"results/figures/{name}.{ext}").stat().st_size > 0, name


@pytest.mark.slow
def test_the_computing_jobs_ran_under_the_cuda_guard(rehearsal):
    """Every job that sets up a device (training, spectra, limits, SAP, ...) ran with the guard
    on, so none of them calls an op that alerts on a deterministic GPU."""
    work, _ = rehearsal
    for rule in ("train", "spectrum", "theory", "actual_limit", "hessian_rows", "sap", "gradual"):
        top = work / "logs" / rule  # its figure and table jobs log here, the rest below
        logs = [log for log in top.rglob("*.log") if log.parent != top]
        assert logs, rule
        for log in logs:
            assert "PRUNELIMIT_CUDA_GUARD=1" in log.read_text(), log


@pytest.mark.slow
def test_every_job_fits_in_memory(rehearsal):
    work, _ = rehearsal
    jobs = job_times(work / "benchmarks")
    assert len(jobs) > 50
    assert not [j["job"] for j in jobs if j["peak_mb"] is None], "a log without its usage line"
    biggest = max(jobs, key=lambda j: j["peak_mb"])  # the kernel's high-water mark, not sampled
    assert biggest["peak_mb"] < MAX_RSS_MB, biggest
