"""What a process used: CPU seconds (user and system, its waited-for children included) and its
peak resident memory, read from the kernel's accounting (``getrusage``) when it ends.

Every workflow job's log ends with :func:`usage_line` (written at exit by the scripts'
``_common.log_to``); :func:`read_usage` reads it back (``python -m prunelimit.bench.dag`` sums
it by stage). Snakemake's benchmark files record ``cpu_time`` too, but sampled: every second
for a job's first 30 s, then every 30 s, and the samples after a job's last one are lost, so a
job of 31-59 s is short by up to 29 CPU-s (the paper grid's CPU rehearsal: 1,424 CPU-s by its
benchmark files, 1,928 by these lines) and system time is easy to misread. A job forked from
the local run's server (:mod:`prunelimit.forkserver`) counts from the fork: its line leaves out
the imports, and says so. Light: no torch.
"""

from __future__ import annotations

import re
import resource
from pathlib import Path

PREFIX = "job usage:"
_LINE = re.compile(
    re.escape(PREFIX) + r" user ([\d.]+) s, system ([\d.]+) s, peak resident ([\d.]+) MB"
)


def usage_line(note: str = "") -> str:
    """This process's CPU seconds so far (with its waited-for children) and peak resident MB,
    then ``; note`` if given."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system = me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime
    peak_mb = max(me.ru_maxrss, kids.ru_maxrss) / 1024  # Linux: kB
    line = f"{PREFIX} user {user:.2f} s, system {system:.2f} s, peak resident {peak_mb:.0f} MB"
    return f"{line}; {note}" if note else line


def read_usage(log: str | Path) -> dict[str, float] | None:
    """``{"user_s", "system_s", "cpu_s", "peak_mb"}`` from the last usage line of a job's log;
    None where the log is missing or has none (a job still running, or killed)."""
    try:
        text = Path(log).read_text(errors="replace")
    except FileNotFoundError:
        return None
    found = _LINE.findall(text)
    if not found:
        return None
    user, system, peak = (float(v) for v in found[-1])
    return {"user_s": user, "system_s": system, "cpu_s": user + system, "peak_mb": peak}
