"""End-to-end: the whole workflow on the tiny config (.test/config.yaml)."""

import json
import shutil

import pytest

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    shutil.copy(REPO / ".test" / "config.yaml", work / "config.yaml")
    proc = run_snakemake(
        "--cores", "2", "--configfile", str(work / "config.yaml"), "--directory", str(work)
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


def test_training_outputs(tiny_run):
    for kind in ("dense", "l1"):
        m = json.loads((tiny_run / f"results/tiny/seed0/{kind}_metrics.json").read_text())
        assert m["kind"] == kind and len(m["history"]["train_loss"]) == 20
        assert m["final"]["test_acc"] > 0.2  # well above chance (0.1) after 20 epochs
        assert (tiny_run / f"results/tiny/seed0/{kind}.pt").exists()
        assert not (tiny_run / f"results/tiny/seed0/{kind}.ckpt").exists()
        assert (tiny_run / f"logs/train/tiny/seed0/{kind}.log").read_text().count("epoch") >= 20


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
    for name in figures + ["limits.csv", "sap.csv", "ntk.csv"]:
        assert name in html, f"{name} missing from the report"
