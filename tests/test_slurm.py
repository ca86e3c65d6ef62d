"""The tiny workflow through a real SLURM cluster (.ci/slurm-up) equals the local run."""

import json
import os
import shutil
import subprocess

import pytest
import torch

from conftest import REPO, tiny_config_run


def _cluster_up() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mix", "alloc"))


UP = _cluster_up()
if os.environ.get("CI") and not UP:  # CI brings the cluster up: its absence is a failure
    raise RuntimeError("CI: no SLURM cluster answers; .ci/slurm-up should have started one")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.slurm,
    pytest.mark.skipif(not UP, reason="no SLURM cluster here (start one with .ci/slurm-up)"),
]

SLURM_ARGS = (
    "--workflow-profile",
    str(REPO / "workflow" / "profiles" / "slurm"),
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--jobs",
    "4",
    "--slurm-keep-successful-logs",  # the test checks that the jobs went through sbatch
    # a 2-core test node: smaller requests than the profile's GPU-node defaults
    "--default-resources",
    "runtime=30",
    "mem_mb=2000",
    "--set-resources",
    "train:mem_mb=2000",
)


def test_slurm_run_equals_local_run(tiny_run, tmp_path):
    proc = tiny_config_run(tmp_path, *SLURM_ARGS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = tmp_path / ".snakemake" / "slurm_logs"
    for rule in ("train", "spectrum", "sap", "ntk_sweep"):  # went through sbatch, not locally
        assert list((logs / f"rule_{rule}").rglob("*.log")), f"no SLURM log of rule {rule}"
    run = "results/tiny/seed0"
    for kind in ("dense", "l1"):
        a, b = torch.load(tiny_run / f"{run}/{kind}.pt"), torch.load(tmp_path / f"{run}/{kind}.pt")
        assert all(torch.equal(a[k], b[k]) for k in a)
    for name, keys in [
        ("theory.json", ("rho_th", "rho_lower", "rho_upper")),
        ("limit.json", ("rho_loss", "rho_acc")),
    ]:
        local = json.loads((tiny_run / run / name).read_text())
        slurm = json.loads((tmp_path / run / name).read_text())
        assert {k: local[k] for k in keys} == {k: slurm[k] for k in keys}
    for table in (
        "results/tables/limits.csv",
        "results/ntk/sweep.csv",
        f"{run}/sap/sap_global.csv",
    ):
        assert (tiny_run / table).read_text() == (tmp_path / table).read_text(), table
