"""Run a local workflow's jobs in processes forked from one that has imported the libraries.

A job that imports PyTorch spends about 3 CPU-s doing so before any work (the CUDA wheel); the
figure jobs about 1.8 s importing matplotlib and seaborn. For a local run the Snakefile starts
one server (:func:`start`): it imports what the workflow scripts import (:func:`preload_names`)
and listens on a Unix socket named by the environment variable :data:`ENV`. Each job's script
begins by importing ``workflow/scripts/_common.py``, which calls :func:`delegate`: the job's
process (the *client*) sends its arguments, working directory, environment, ``sys.path`` and
standard streams to the server, which forks a supervisor, which forks the job. The job runs
the same script file (Snakemake's, with its preamble) as ``__main__`` in that copy of the
loaded interpreter; the client waits and exits with the job's status. So a job computes what it
would compute in a fresh process (the same code, seeds and thread settings), and every job
still runs in its own process, with its own log and exit status.

Conventions:
- the server, its supervisors and the jobs stay in the process group of the Snakemake that
  started the server, so what reaches that group (Ctrl-C, SIGSTOP) reaches the jobs as before;
  a signal to the client (Snakemake stopping its job: SIGTERM, SIGINT, SIGHUP) is passed on to
  the job, and if the client dies the supervisor ends the job (SIGTERM, then SIGKILL after
  :data:`GRACE_S`);
- a job killed by a signal makes the client die of the same signal;
- where no server answers (none started, ``PRUNELIMIT_FORKSERVER=0``, a cluster job, the server
  gone) the client runs the script itself, as before: the server only saves time;
- the server ends with the Snakemake process that started it (``PR_SET_PDEATHSIG``) and with
  :func:`stop`.

What a job's ``getrusage`` counts starts at the fork: the usage line of its log leaves out the
imports. Snakemake's benchmark of a job observes the waiting client: its wall time is the
job's, its CPU and memory columns are not (the usage line's are).
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import ctypes
import gc
import importlib
import json
import os
import runpy
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ENV = "PRUNELIMIT_FORKSERVER"  # the server's socket path; "0": none for this run
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 10.0  # seconds a job has to stop after its client died, before SIGKILL
BIND_WAIT_S = 10.0  # seconds start() waits for the server to listen (jobs before run alone)
_HEADER = struct.Struct("!q")
# What jobs do first to the loaded interpreter, done once in the server before it forks, in
# order ("module:function" is called, "module" imported): PyTorch's torch.compile wrappers set
# to run their functions as they are (a job's own call then sees only the wrappers it made
# itself), then TorchDynamo imported for the jobs that take Hessian products (torch.func imports
# it: 1.3 s of such a job's start); the wrappers set before it stay set
PREPARE = ("prunelimit.runtime:skip_dynamo_wrappers", "torch._dynamo")
PR_SET_PDEATHSIG = 1
# What a forked job's usage line adds (prunelimit.usage): its CPU starts at the fork
FORKED_NOTE = "forked from the run's server: its imports not counted"
_FORKED: list[bool] = []  # set in a job the server forked


def forked() -> bool:
    """Whether this process is a job forked by the server."""
    return bool(_FORKED)


# --------------------------------------------------------------------------- client


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    """``n`` bytes from ``conn``, or None at end of stream."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def delegate(address: str | None = None) -> int | None:
    """Run this process's script (``sys.argv``) in the server at ``address`` (default: the
    environment's :data:`ENV`) and return its exit code (negative: killed by that signal);
    None where no server takes it (then the caller runs the script itself)."""
    address = address if address is not None else os.environ.get(ENV, "")
    if not address or address == "0":
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    request = {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path}
    try:
        payload = json.dumps(request).encode()  # ValueError: a name or value not in UTF-8
        conn.connect(address)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        socket.send_fds(conn, [_HEADER.pack(len(payload))], [0, 1, 2])
        conn.sendall(payload)
        head = _recv_exact(conn, _HEADER.size)  # the job's pid: the server took it
    except (OSError, ValueError):
        return None
    if head is None:
        return None
    pid = _HEADER.unpack(head)[0]
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: _signal(pid, s))
    try:
        status = _recv_exact(conn, _HEADER.size)
    except OSError:
        status = None
    return 1 if status is None else _HEADER.unpack(status)[0]  # 1: the server lost it


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def exit_as(code: int) -> None:
    """Leave this process as the job did: with its exit code, or killed by its signal."""
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code if code >= 0 else 128 - code)


# --------------------------------------------------------------------------- server


def preload_names(scripts: Path) -> list[str]:
    """The modules the workflow scripts in ``scripts`` import at their top level (apart from
    each other), and what Snakemake's script preamble imports: what the server loads once."""
    names = {"snakemake.iocontainers", "snakemake.logging", "snakemake.script"}
    local = {p.stem for p in scripts.glob("*.py")}
    for path in scripts.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return sorted(n for n in names if n.split(".")[0] not in local and n != "__future__")


def _die_with_parent() -> None:
    """SIGTERM this process when the process that started it exits (Linux; else a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def serve(address: str, preload: list[str]) -> None:
    """Listen on ``address``, import ``preload`` (a module that fails to import is left to
    the jobs, which then report it), then fork a supervisor per connection until SIGTERM."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:
        return  # the parent exited before the death signal was armed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)  # clients wait here while the imports run
    for name in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for target in PREPARE:
        module, _, function = target.partition(":")
        with contextlib.suppress(Exception):
            loaded = importlib.import_module(module)
            if function:
                getattr(loaded, function)()
    gc.collect()
    gc.freeze()  # the loaded objects out of the collector's sight: a job's collections (and
    # walks such as PREPARE's, which a job repeats for what it loads itself) do not touch, and
    # so copy, the pages it shares with the server
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the jobs; the server ends by stop
    signal.signal(signal.SIGTERM, lambda _s, _f: sys.exit(0))
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            with contextlib.suppress(BaseException):
                _supervise(conn)
            os._exit(0)
        conn.close()


def _supervise(conn: socket.socket) -> None:
    """Take one client's request, fork its job, report the pid, then the exit code; end the
    job if the client goes away first."""
    head, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
    payload = _recv_exact(conn, _HEADER.unpack(head)[0]) if len(head) == _HEADER.size else None
    if payload is None or len(fds) != 3:
        return  # the client falls back to running its script itself
    request = json.loads(payload)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_job(request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(_HEADER.pack(pid))
    job = os.pidfd_open(pid)
    while True:
        ready, _, _ = select.select([conn, job], [], [])
        if job in ready:
            _, status = os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                conn.sendall(_HEADER.pack(os.waitstatus_to_exitcode(status)))
            return
        if not conn.recv(1):  # the client died: Snakemake stopped the job
            _end(pid, job)
            return


def _end(pid: int, job: int) -> None:
    """Stop the job: SIGTERM, then SIGKILL after :data:`GRACE_S`."""
    _signal(pid, signal.SIGTERM)
    if not select.select([job], [], [], GRACE_S)[0]:
        _signal(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _run_job(request: dict, fds: list[int]) -> None:
    """In the forked job: take the client's streams, directory, environment and path, run
    its script as ``__main__`` and exit as the interpreter would."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.pop(ENV, None)  # the job's own subprocesses start as usual
    importlib.import_module("prunelimit.forkserver")._FORKED.append(True)  # this is __main__
    sys.argv, sys.path[:] = request["argv"], request["path"]
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as stop:
        code = _exit_code(stop)
    except BaseException:  # noqa: BLE001 - reported as the interpreter reports it
        sys.excepthook(*sys.exc_info())
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None or isinstance(stop.code, int):
        return int(stop.code or 0)
    print(stop.code, file=sys.stderr)
    return 1


# --------------------------------------------------------------------------- lifetime


# What the libraries read from the environment when they load, as Snakemake sets it for a job of
# ``threads`` threads (snakemake/shell.py), and OpenMP's idle policy as the scripts set it.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def server_environment(src: Path, threads: int) -> dict[str, str]:
    """The server's environment: this process's, the library ``src`` on the path, and what the
    libraries read once when they load set as a job of ``threads`` threads has it."""
    path = os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.pop(ENV, None)
    return env


def start(scripts: Path, src: Path, threads: int) -> tuple[subprocess.Popen, str] | None:
    """Start a server for the scripts in ``scripts`` (the library at ``src``; jobs of
    ``threads`` threads) and put its address in this process's environment, which the jobs
    inherit; None where ``PRUNELIMIT_FORKSERVER=0``, the platform has no pidfds (Linux 5.3) or
    the scripts are not in a local folder (a workflow module loaded from a URL)."""
    if os.environ.get(ENV) == "0" or not hasattr(os, "pidfd_open") or not scripts.is_dir():
        return None
    folder = tempfile.mkdtemp(prefix="prunelimit-fs-")
    address = str(Path(folder) / "socket")
    env = server_environment(src, threads)
    names = json.dumps(preload_names(scripts))
    proc = subprocess.Popen(
        [sys.executable, "-m", "prunelimit.forkserver", address, names],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + BIND_WAIT_S  # it listens before it imports: a short wait
    while not os.path.exists(address) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.environ[ENV] = address
    return proc, address


def stop(server: tuple[subprocess.Popen, str] | None) -> None:
    """End a server of :func:`start` and remove its socket; new jobs run on their own."""
    if server is None:
        return
    proc, address = server
    if os.environ.get(ENV) == address:
        del os.environ[ENV]
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    shutil.rmtree(Path(address).parent, ignore_errors=True)


def _main(argv: list[str]) -> None:
    address, names = argv
    try:
        serve(address, json.loads(names))
    except Exception:  # noqa: BLE001 - the jobs run on their own
        traceback.print_exc()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(address)
            os.rmdir(os.path.dirname(address))  # start()'s folder: also when stop() never runs


if __name__ == "__main__":
    _main(sys.argv[1:])
