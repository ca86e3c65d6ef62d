"""Shared by the workflow scripts: the library on the path, output into the rule's log."""

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))  # the library, also in an environment without the install


def log_to(path: str) -> None:
    """Redirect stdout and stderr (line-buffered) to the rule's log file."""
    fh = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stdout = sys.stderr = fh
