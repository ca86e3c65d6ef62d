"""Shared by the workflow scripts: the library on the path, output into the rule's log, a damaged
input reported as one message."""

import atexit
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Idle OpenMP threads busy-wait by default, which slows a loaded machine (parallel jobs) badly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))  # the library, also in an environment without the install

# E402 below: these imports need the library on the path first
from prunelimit.forkserver import FORKED_NOTE, delegate, exit_as, forked  # noqa: E402

# In a local run the rest of this job runs in a process forked from the run's server, which has
# imported the libraries already (prunelimit.forkserver); in this process only where none answers.
_JOB = delegate()
if _JOB is not None:
    exit_as(_JOB)

from prunelimit.io import DamagedFile  # noqa: E402
from prunelimit.usage import usage_line  # noqa: E402

_FAILED: list[bool] = []  # the job raised: its log ends with the error, not the usage line


def _report(kind: type[BaseException], err: BaseException, tb: object) -> None:
    """A damaged input file: its one message (file, what is wrong, what to do), in the log and
    on the console, without a traceback; any other error as Python reports it."""
    _FAILED.append(True)
    if not isinstance(err, DamagedFile):
        sys.__excepthook__(kind, err, tb)
        return
    for stream in {sys.stderr, sys.__stderr__}:
        print(f"error: {err}", file=stream, flush=True)


def log_to(path: str) -> None:
    """Redirect stdout and stderr (line-buffered) to the rule's log file, which ends with the
    job's CPU seconds and peak memory (:func:`prunelimit.usage.usage_line`) where it succeeds."""
    fh = open(path, "w", buffering=1)  # lives as long as the job
    sys.stdout = sys.stderr = fh
    sys.excepthook = _report
    note = FORKED_NOTE if forked() else ""
    atexit.register(lambda: _FAILED or print(usage_line(note), file=fh, flush=True))


@contextmanager
def run_of(experiment: str, seed: int) -> Iterator[None]:
    """Name the experiment and seed in a non-finite-value error raised by the library."""
    try:
        yield
    except FloatingPointError as err:
        raise FloatingPointError(f"experiment {experiment!r}, seed {seed}: {err}") from err
