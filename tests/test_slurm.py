"""The tiny workflow's computing jobs through a real SLURM cluster (.ci/slurm-up) equal the
local run, also when a training job is killed mid-run and resubmitted by Snakemake's retry."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO, run_snakemake, tiny_config_run


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


# What the equality test compares, and the 15 jobs of the tiny DAG's 49 they need (data,
# training, spectra, theory, limits, SAP, NTK: the stages that compute); the figure and table
# jobs read these files the same way under SLURM as locally.
RUN = "results/tiny/seed0"
COMPARED = (
    f"{RUN}/dense.pt",
    f"{RUN}/l1.pt",
    f"{RUN}/theory.json",
    f"{RUN}/limit.json",
    "results/tables/limits.csv",
    "results/ntk/sweep.csv",
    f"{RUN}/sap/sap_global.csv",
)


def test_slurm_run_equals_local_run(tiny_run, tmp_path):
    proc = tiny_config_run(tmp_path, *COMPARED, *SLURM_ARGS)  # targets first: nargs options
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = tmp_path / ".snakemake" / "slurm_logs"
    for rule in ("train", "spectrum", "sap", "ntk_sweep"):  # went through sbatch, not locally
        assert list((logs / f"rule_{rule}").rglob("*.log")), f"no SLURM log of rule {rule}"
    run = RUN
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


def _train_job_ids() -> list[str]:
    """SLURM ids of the running jobs of rule train (the plugin comments each job with its rule)."""
    out = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i %k"], capture_output=True, text=True)
    return [line.split()[0] for line in out.stdout.splitlines() if "rule_train" in line]


def test_killed_training_job_resumes_from_its_checkpoint(tmp_path):
    """scancel of the tiny l1 training after its first checkpoint: Snakemake's retry (the
    profile's ``retries: 1``) resubmits it, the job resumes from the checkpoint and ends with
    the weights of an uninterrupted run."""
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg["experiments"][0]["train"]["epochs"] = 100  # 5-15 s of epochs: time to kill it mid-run
    run, target = "results/tiny/seed0", "results/tiny/seed0/l1_metrics.json"
    works = {}
    for name in ("local", "slurm"):
        works[name] = tmp_path / name
        works[name].mkdir()
        (works[name] / "config.yaml").write_text(yaml.safe_dump(cfg))
    args = ("--cores", "2", "--configfile", "config.yaml")
    local = run_snakemake(target, *args, cwd=works["local"])  # targets first: nargs options
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]

    work = works["slurm"]
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe), "--snakefile", str(REPO / "workflow" / "Snakefile"), target, *args]
    with open(tmp_path / "slurm.out", "w") as out:
        proc = subprocess.Popen([*cmd, *SLURM_ARGS], cwd=work, stdout=out, stderr=subprocess.STDOUT)
        try:
            ckpt, killed = work / run / "l1.ckpt", []
            for _ in range(1200):  # the first checkpoint (conftest: one after every epoch)
                if ckpt.exists() and (killed := _train_job_ids()) or proc.poll() is not None:
                    break
                time.sleep(0.1)
            assert killed, "the training job ended before its first checkpoint could be seen"
            subprocess.run(["scancel", *killed], check=True)
            rc = proc.wait(timeout=600)
        finally:
            proc.kill()
    text = (tmp_path / "slurm.out").read_text()
    assert rc == 0, text[-3000:]
    slurm_logs = list((work / ".snakemake/slurm_logs/rule_train").rglob("*.log"))
    assert len(slurm_logs) == 2, text[-3000:]  # the killed job and its resubmission
    log = (work / "logs/train/tiny/seed0/l1.log").read_text()
    assert f"resumed from {run}/l1.ckpt after epoch " in log, log[-2000:]
    assert not (work / run / "l1.ckpt").exists()
    a, b = (torch.load(works[n] / run / "l1.pt") for n in ("local", "slurm"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ha, hb = (json.loads((works[n] / target).read_text())["history"] for n in ("local", "slurm"))
    assert {k: v for k, v in ha.items() if k != "samples_per_s"} == {
        k: v for k, v in hb.items() if k != "samples_per_s"
    }
