import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported
# checkpoint after every epoch, so that the resume tests can interrupt tiny runs mid-way
# (training.CHECKPOINT_EVERY_S; subprocesses and the tiny workflow inherit it)
os.environ["PRUNELIMIT_CHECKPOINT_EVERY_S"] = "0"


def toy_splits(n: int, input_shape: tuple[int, ...]):
    """Three classes from the signs of two feature sums, ``n`` training samples and 64 each for
    validation and test (seed 0): small data for the pruning drivers' unit tests."""
    import torch

    from prunelimit.data import DatasetSplits, Split

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n + 128, *input_shape, generator=g)
    flat = x.flatten(1)
    y = (flat[:, :4].sum(1) > 0).long() + (flat[:, 4:].sum(1) > 1).long()
    meta = {"scale": 1.0, "mean": [0.0], "std": [1.0], "input_shape": list(input_shape),
            "num_classes": 3}  # fmt: skip
    dev = torch.device("cpu")
    return DatasetSplits(
        Split(x[:n], y[:n], meta, dev),
        Split(x[n : n + 64], y[n : n + 64], meta, dev),
        Split(x[n + 64 :], y[n + 64 :], meta, dev),
        meta,
    )


def bn_convnet():
    """A small BatchNorm convnet on (1, 8) inputs, three classes (seed 5): two conv layers of 6
    and 8 channels, each with BatchNorm and ReLU, then Flatten and Linear."""
    import torch
    from torch import nn

    torch.manual_seed(5)
    return nn.Sequential(
        nn.Conv1d(1, 6, 3, padding=1, bias=False), nn.BatchNorm1d(6), nn.ReLU(),
        nn.Conv1d(6, 8, 3, padding=1, bias=False), nn.BatchNorm1d(8), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 8, 3),
    )  # fmt: skip


@pytest.fixture(scope="session")
def mnist1d_path(tmp_path_factory) -> Path:
    """MNIST-1D prepared once per test session (offline, ~2 s)."""
    from prunelimit.data import prepare_dataset

    root = tmp_path_factory.mktemp("mnist1d")
    out = root / "mnist1d.pt"
    prepare_dataset("mnist1d", root / "raw", out, val_fraction=0.1, split_seed=0)
    return out


@pytest.fixture(scope="session")
def mnist1d(mnist1d_path):
    from prunelimit.data import load_dataset

    return load_dataset(mnist1d_path)


def finite(obj) -> bool:
    """No NaN or infinite float anywhere in a JSON-like object."""
    if isinstance(obj, dict):
        return all(finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(finite(v) for v in obj)
    return not isinstance(obj, float) or math.isfinite(obj)


def run_snakemake(*args: str, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the workflow's snakemake (the one beside this Python) and capture its output."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe), "--snakefile", str(REPO / "workflow" / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """The job stats table a snakemake run (or dry run) prints first: ``{rule: count}``
    (without the total)."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\S+)\s+(\d+)\s*$", table, re.M)}


def tiny_config_run(work: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the whole workflow on the tiny config (.test/config.yaml) in ``work``."""
    shutil.copy(REPO / ".test" / "config.yaml", work / "config.yaml")
    return run_snakemake(
        "--cores", "2", "--configfile", str(work / "config.yaml"), "--directory", str(work), *extra
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow on the tiny config, run locally once per test session: the first
    worker that needs it runs it, under a lock that the other worker waits on."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' base folders sit side by side
    work, done = shared / "tiny_run", shared / "tiny_run.done"
    with FileLock(str(shared / "tiny_run.lock")):
        if not done.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            proc = tiny_config_run(work, "--verbose")  # its scheduling rounds: test_workflow
            (work / "snakemake.out").write_text(proc.stdout + proc.stderr)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            done.touch()
    return work


# The suite runs on two workers (pyproject: `-n 2 --dist loadfile`: a file's tests on one
# worker). The rehearsal of the paper grid, the longest file, is handed out first; the files
# that read the tiny run next. Only the order changes: every test runs.
FIRST = ("test_rehearsal.py", "test_slurm.py", "test_workflow.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))
