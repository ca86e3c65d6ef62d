"""The fork server of local runs (prunelimit.forkserver): a job forked from it behaves as the
same script run in a fresh process (streams, exit code, directory, environment, signals) and
runs in the interpreter that imported the scripts' modules once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from prunelimit import forkserver

SRC = REPO / "src"
# A job script as the workflow's begin: hand the job to the server where one answers.
JOB = f"""
import os, sys
sys.path.insert(0, {str(SRC)!r})
from prunelimit.forkserver import delegate, exit_as, forked
code = delegate()
if code is not None:
    exit_as(code)
import gc, time
what = sys.argv[1]
print("preloaded", "colorsys" in sys.modules, "frozen", gc.get_freeze_count() > 0,
      "forked", forked(), "cwd", os.getcwd(),
      "X", os.environ.get("X"), "server", os.environ.get("PRUNELIMIT_FORKSERVER"), flush=True)
open("out.txt", "w").write(what)
if what == "fail":
    raise ValueError("a damaged input")
if what == "trap":  # stops on SIGTERM after a last second of work, with its own code
    import signal
    signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1), open("stopped", "w"), os._exit(7)))
if what in ("sleep", "trap"):
    print(os.getpid(), flush=True)
    time.sleep(120)
sys.exit(int(what))
"""


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A server for a scripts folder whose one script imports colorsys (which the job script
    never imports itself), and a working folder for the jobs."""
    monkeypatch.delenv(forkserver.ENV, raising=False)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "rule.py").write_text("import colorsys\n")
    (tmp_path / "job.py").write_text(JOB)
    handle = forkserver.start(scripts, SRC, threads=1)
    assert handle is not None and os.environ[forkserver.ENV] == handle[1]
    yield tmp_path, {**os.environ, "X": "42"}
    forkserver.stop(handle)
    assert handle[0].poll() is not None and not Path(handle[1]).exists()
    assert forkserver.ENV not in os.environ


def _job(work: Path, env: dict, what: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(work / "job.py"), what]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=60)


def test_a_forked_job_has_the_clients_streams_directory_environment_and_exit_code(server):
    work, env = server
    done = _job(work, env, "3")
    assert done.returncode == 3
    assert done.stdout.split() == [
        "preloaded", "True", "frozen", "True", "forked", "True", "cwd", str(work), "X", "42",
        "server", "None",
    ]  # fmt: skip
    assert (work / "out.txt").read_text() == "3"
    failed = _job(work, env, "fail")
    assert failed.returncode == 1 and "ValueError: a damaged input" in failed.stderr


def test_without_a_server_the_job_runs_itself(server):
    work, env = server
    for value in ("0", str(work / "no-such-socket")):
        done = _job(work, {**env, forkserver.ENV: value}, "0")
        assert done.returncode == 0 and done.stdout.split()[1:6:2] == ["False", "False", "False"]


def _sleeping_job(work: Path, env: dict, what: str = "sleep") -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, str(work / "job.py"), what]
    client = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, text=True)
    assert "forked True" in client.stdout.readline()
    return client, int(client.stdout.readline())


def _gone(pid: int, within_s: float = 15.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_stopping_the_client_stops_the_job(server):
    """Snakemake stops a job by signalling its process: the job gets the signal, and the client
    waits for it and ends as it does; a client killed outright takes its job along."""
    work, env = server
    client, job = _sleeping_job(work, env)
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=15) == -signal.SIGTERM and _gone(job)
    client, job = _sleeping_job(work, env, "trap")
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=15) == 7 and (work / "stopped").exists()
    client, job = _sleeping_job(work, env)
    client.kill()
    client.wait(timeout=15)
    assert _gone(job)


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    """A Snakemake killed outright leaves no server behind (PR_SET_PDEATHSIG)."""
    start = (
        f"import sys, time; sys.path.insert(0, {str(SRC)!r}); from pathlib import Path; "
        "from prunelimit import forkserver; "
        f"h = forkserver.start(Path({str(tmp_path)!r}), Path({str(SRC)!r}), 1); "
        "print(h[0].pid, flush=True); time.sleep(120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", start], stdout=subprocess.PIPE, text=True)
    server = int(parent.stdout.readline())
    assert not _gone(server, within_s=0.5)
    parent.kill()
    parent.wait(timeout=15)
    assert _gone(server)


def test_the_server_preloads_what_the_workflow_scripts_import():
    names = forkserver.preload_names(REPO / "workflow" / "scripts")
    assert {"prunelimit.runtime", "prunelimit.plotting", "pandas", "snakemake.script"} <= set(names)
    assert not any(n.startswith("_common") for n in names)  # the scripts' own module: per job


def test_the_server_environment_sets_the_thread_counts_a_job_gets(monkeypatch):
    monkeypatch.setenv(forkserver.ENV, "/elsewhere")
    env = forkserver.server_environment(SRC, 3)
    assert all(env[v] == "3" for v in forkserver.THREAD_VARIABLES)
    assert forkserver.ENV not in env and env["PYTHONPATH"].split(os.pathsep)[0] == str(SRC)
