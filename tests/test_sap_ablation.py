"""SAP ablations (Diao et al. Figs. 4 and 5): one run per setting named by its values, the
configured setting taken from the main SAP run, and the ablation figures."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake


def _plan(tmp_path, ablations: dict) -> str:
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg["sap"]["ablations"] = ablations
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    target = "results/figures/sap_tiny_ablation_pq.png"
    proc = run_snakemake(
        "-n", "--configfile", str(path), "--directory", str(tmp_path), "--detailed-summary",
        target, "results/figures/sap_tiny_ablation_eta_gamma.png",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_ablation_runs_are_named_by_their_setting(tmp_path):
    out = _plan(tmp_path, {"pq": [[1.0, 2.0], [0.5, 1.0]], "eta_gamma": [[0.1, 3.0]]})
    made = {
        cols[0]: cols[2]
        for cols in (line.split("\t") for line in out.splitlines())
        if len(cols) > 2 and "/sap/" in cols[0]
    }
    runs = {f for f, rule in made.items() if rule == "sap_ablation" and f.endswith(".csv")}
    base = "results/tiny/seed0/sap/ablation/"
    # (0.5, 1) is the configured setting: the main SAP run's global scope, not run again
    assert runs == {
        base + "sap_p1_q2_eta0_gamma1_global.csv",
        base + "sap_p0.5_q1_eta0.1_gamma3_global.csv",
    }
    assert made["results/tiny/seed0/sap/sap_global.csv"] == "sap"


def test_plot_ablation_draws_one_line_per_setting():
    from prunelimit.plotting.sap import plot_ablation

    rows = [
        {"seed": s, "iteration": t, "p": p, "q": q, "eta_r": 0.0, "gamma": 1.0,
         "pqi_trained": 0.3 - 0.05 * t, "test_acc": 0.9 - 0.01 * t, "percent": 100 * 0.7**t}
        for s in (0, 1) for t in range(4) for p, q in ((0.5, 1.0), (1.0, 2.0))
    ]  # fmt: skip
    fig = plot_ablation(pd.DataFrame(rows), "pq", base={"p": 0.5, "q": 1.0}, title="x")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["p = 0.5, q = 1 (configured)", "p = 1, q = 2"]
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes)
