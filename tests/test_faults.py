"""Faults (issue 26): outputs honour the umask; a damaged file read back stops its job with one
message and writes nothing downstream; a second snakemake on a held directory changes nothing."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO, run_snakemake
from prunelimit.data import get_spec, load_dataset, write_prepared
from prunelimit.data.prepared import meta_path
from prunelimit.io import (
    REBUILD,
    DamagedFile,
    file_digest,
    load_torch,
    read_csv,
    read_json,
    save_torch,
    write_csv,
    write_json,
)


def small_dataset(out: Path) -> Path:
    """A prepared MNIST-1D-shaped dataset of 50 samples (written by the one writer)."""
    spec = get_spec("mnist1d")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.num_classes, 50)
    write_prepared(spec, (x, y, x[:10], y[:10]), out, val_fraction=0.2, split_seed=0)
    return out


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=lambda m: f"umask{m:04o}")
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_writer_gives_the_mode_of_a_plain_open(umask, tmp_path):
    from prunelimit.plotting import plt, save_figure
    from prunelimit.tables import write_table

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    expected = mode(plain)
    assert expected == 0o666 & ~umask
    frame = pd.DataFrame({"a": [1, 2]})
    write_json(tmp_path / "r.json", {"a": 1})
    write_csv(tmp_path / "r.csv", frame)
    save_torch(tmp_path / "w.pt", {"w": torch.ones(2)})
    written = write_table(frame, tmp_path / "tables" / "t")
    written += save_figure(plt.figure(), tmp_path / "f.png", tmp_path / "f.pdf")
    small_dataset(tmp_path / "datasets" / "d.pt")
    paths = [tmp_path / n for n in ("r.json", "r.csv", "w.pt")] + written
    paths += [tmp_path / "datasets" / "d.pt", tmp_path / "datasets" / "d.json"]
    assert {p.name: oct(mode(p)) for p in paths} == {p.name: oct(expected) for p in paths}
    assert not list(tmp_path.rglob("*.part"))


def test_two_saves_of_one_state_dict_are_byte_equal(tmp_path):
    """The same config writes the same bytes: torch.save would name its archive's entries after
    the writer's random temporary name, and the metrics would record other sha256 digests."""
    state = torch.nn.Linear(3, 2).state_dict()
    digests = [save_torch(tmp_path / name / "dense.pt", state) for name in ("a", "b")]
    assert (tmp_path / "a" / "dense.pt").read_bytes() == (tmp_path / "b" / "dense.pt").read_bytes()
    assert digests[0] == digests[1]
    assert torch.equal(load_torch(tmp_path / "a" / "dense.pt")["weight"], state["weight"])


def test_truncated_files_give_one_message(tmp_path):
    pt, js, csv = tmp_path / "l1.pt", tmp_path / "spectrum.json", tmp_path / "sweep.csv"
    save_torch(pt, {"w": torch.arange(1000.0)})
    pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    js.write_text('{"nodes": [0.1, 0.2')
    csv.write_text("")
    for path, load in ((pt, load_torch), (js, read_json), (csv, read_csv)):
        with pytest.raises(DamagedFile) as err:
            load(path)
        assert str(err.value).startswith(f"{path} is damaged: ")
        assert str(err.value).endswith(f"{REBUILD}.")


def test_a_digest_recorded_beside_is_checked(tmp_path):
    path = small_dataset(tmp_path / "d.pt")
    record = meta_path(path)
    assert read_json(record)["sha256"] == {"d.pt": file_digest(path, "sha256")}
    assert len(load_dataset(path).train) == 40
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(blob))
    with pytest.raises(DamagedFile, match=r"d\.pt is damaged: its sha256 .* differs from"):
        load_dataset(path)
    old = small_dataset(tmp_path / "old.pt")  # written before digests were recorded:
    meta_path(old).unlink()  # loaded unchecked
    assert len(load_dataset(old).train) == 40


def test_a_damaged_checkpoint_is_ignored(mnist1d, tmp_path):
    from prunelimit.config.settings import TrainSettings
    from prunelimit.models.registry import build_model
    from prunelimit.training.loop import fit

    ckpt = tmp_path / "l1.ckpt"
    ckpt.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    lines: list[str] = []
    model = build_model("mlp", mnist1d.input_shape, mnist1d.num_classes, seed=0, widths=[8])
    s = TrainSettings.from_dict({"epochs": 1, "batch_size": 256, "lr": 0.05})
    history = fit(model, mnist1d, s, seed=0, checkpoint=ckpt, log=lines.append)
    assert len(history["epoch"]) == 1
    assert lines[0].startswith(f"ignoring checkpoint {ckpt}: torch.load fails")


# --- the workflow: a damaged input stops its job; a held directory refuses a second run ---

RUN = "results/tiny/seed0"


def snakemake_in(work: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(
        "--cores", "1", "--configfile", str(work / "config.yaml"), "--directory", str(work), *args
    )


def tree(work: Path) -> dict[str, tuple[int, int]]:
    """Every file the workflow writes (not Snakemake's own .snakemake/): size and mtime."""
    return {
        str(p.relative_to(work)): (p.stat().st_size, p.stat().st_mtime_ns)
        for top in ("resources", "results", "logs", "benchmarks")
        for p in (work / top).rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The tiny config's dataset and l1 run, in a directory of their own."""
    work = tmp_path_factory.mktemp("faults")
    (work / "config.yaml").write_text((REPO / ".test" / "config.yaml").read_text())
    proc = snakemake_in(work, f"{RUN}/l1_metrics.json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


def damaged_run(work: Path, damaged: str, change, target: str) -> str:
    """Damage ``damaged`` (``change`` of its bytes, mtime kept so that only ``target``'s job
    runs), run ``target``; return the output and restore the file."""
    path = work / damaged
    good, st = path.read_bytes(), path.stat()
    path.write_bytes(change(good))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    try:
        proc = snakemake_in(work, target)
        assert proc.returncode != 0
        assert not (work / target).exists()  # nothing downstream
        return proc.stdout + proc.stderr
    finally:
        path.write_bytes(good)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.slow
def test_a_damaged_input_stops_its_job_with_one_message(trained):
    out = damaged_run(trained, f"{RUN}/l1.pt", lambda b: b[: len(b) // 2], f"{RUN}/spectrum.json")
    message = f"error: {RUN}/l1.pt is damaged: its sha256 "
    assert message in out and f"recorded in {RUN}/l1_metrics.json" in out, out[-3000:]
    assert f"{REBUILD}." in out
    log = (trained / "logs/spectrum/tiny/seed0.log").read_text()
    assert log.strip().splitlines()[-1].startswith(message) and "Traceback" not in log

    def flip(b: bytes) -> bytes:
        return b[:-100] + bytes([b[-100] ^ 0xFF]) + b[-99:]

    out = damaged_run(trained, "resources/datasets/mnist1d.pt", flip, f"{RUN}/spectrum.json")
    assert "error: resources/datasets/mnist1d.pt is damaged: its sha256 " in out, out[-3000:]

    spectrum = trained / f"{RUN}/spectrum.json"  # a truncated JSON read back by theory
    spectrum.write_text('{"nodes": [0.1, 0.2')
    try:
        proc = snakemake_in(trained, f"{RUN}/theory.json")
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and not (trained / f"{RUN}/theory.json").exists()
        assert f"error: {RUN}/spectrum.json is damaged: it is not complete JSON" in out, out[-3000:]
    finally:
        spectrum.unlink()


@pytest.mark.slow
def test_a_held_directory_refuses_a_second_run(trained):
    (trained / f"{RUN}/l1.pt").unlink()  # the held run retrains it
    job_log = trained / "logs/train/tiny/seed0/l1.log"
    job_log.unlink()
    exe = Path(sys.executable).with_name("snakemake")
    first = subprocess.Popen(
        [str(exe), "--snakefile", str(REPO / "workflow/Snakefile"), "--cores", "1"]
        + ["--configfile", str(trained / "config.yaml"), "--directory", str(trained)]
        + [f"{RUN}/l1.pt"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(600):  # its job has started: the directory is locked
            if job_log.exists() or first.poll() is not None:
                break
            time.sleep(0.1)
        assert first.poll() is None, "the first run ended before it could be held"
        os.killpg(first.pid, signal.SIGSTOP)
        before = tree(trained)
        proc = snakemake_in(trained, f"{RUN}/l1.pt")
        assert proc.returncode != 0
        assert "Directory cannot be locked" in proc.stdout + proc.stderr
        assert tree(trained) == before
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # a crash: its lock stays
        first.wait()
    proc = snakemake_in(trained, f"{RUN}/l1.pt")
    assert "Directory cannot be locked" in proc.stdout + proc.stderr
    assert snakemake_in(trained, "--unlock").returncode == 0  # as docs/ say
    proc = snakemake_in(trained, "--rerun-incomplete", f"{RUN}/l1.pt")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads((trained / f"{RUN}/l1_metrics.json").read_text())["sha256"]
