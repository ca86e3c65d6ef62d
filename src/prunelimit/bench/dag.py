"""Where a finished run's time went: ``benchmarks/`` summed by stage; and the jobs a config plans.

Run as ``python -m prunelimit.bench.dag [benchmarks] [--json out.json]`` after any run of the
workflow. Every job writes one Snakemake benchmark file (``benchmarks/{stage}/.../*.tsv``: wall
seconds ``s``, ``max_rss`` in MB, ``cpu_time``), under the folder of its stage (``train``,
``spectrum``, ``sap``: SAP/LT/OS runs with the PQI and their tables and figures, ``spline``,
``results``: the limits table and figures, ...). This prints, per stage, the number of jobs,
their summed and longest wall time, their CPU seconds and the largest resident memory, sorted
by summed time. The sum is the machine time of the DAG, not its wall time (jobs run in parallel
up to ``--cores``). CPU seconds (user and system) are the exact ones each job's log ends with
(:mod:`prunelimit.usage`, in ``logs/`` beside ``benchmarks/``), not the benchmark's sampled
``cpu_time``, which misses the end of every job longer than 30 s.

``python -m prunelimit.bench.dag --plan config/paper.yaml [--json plan.json]`` prints the jobs
per rule that Snakemake plans for a config, before anything ran (:func:`planned_jobs`: a dry run
in an empty working directory, so no dataset or result exists and every job of the DAG is
planned; each job's rule and wildcards, checked against the dry run's own job-stats table).
``python -m prunelimit.bench.gpu`` projects GPU hours from these jobs.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from prunelimit.usage import read_usage

REPO = Path(__file__).resolve().parents[3]  # src/prunelimit/bench/dag.py -> the repository
SNAKEFILE = REPO / "workflow" / "Snakefile"
_HEADER = re.compile(r"^(?:local)?rule (\w+):$", re.M)


def job_times(root: str | Path, logs: str | Path | None = None) -> list[dict]:
    """One row per benchmark file under ``root``: stage (first folder), job, seconds, max_rss
    (sampled), and ``cpu_s``, ``peak_mb`` (exact) from the job's log under ``logs`` (default:
    ``logs/`` beside ``root``; None where the log has no usage line)."""
    root = Path(root)
    logs = Path(logs) if logs is not None else root.parent / "logs"
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        with open(path) as fh:
            records = list(csv.DictReader(fh, delimiter="\t"))
        if not records:
            continue
        rec = records[-1]
        rel = path.relative_to(root)
        usage = read_usage(logs / rel.with_suffix(".log")) or {}
        rows.append(
            {
                "stage": rel.parts[0] if len(rel.parts) > 1 else rel.stem,
                "job": str(rel.with_suffix("")),
                "s": float(rec["s"]),
                "max_rss_mb": float(rec["max_rss"]) if rec.get("max_rss", "-") != "-" else 0.0,
                "cpu_s": usage.get("cpu_s"),
                "peak_mb": usage.get("peak_mb"),
            }
        )
    return rows


def by_stage(rows: list[dict]) -> list[dict]:
    """Jobs, summed and longest seconds, CPU seconds (of ``cpu_jobs`` jobs with a usage line)
    and largest resident memory per stage, by summed time."""
    out: dict[str, dict] = {}
    for r in rows:
        agg = out.setdefault(
            r["stage"],
            {
                "stage": r["stage"],
                "jobs": 0,
                "sum_s": 0.0,
                "max_s": 0.0,
                "max_rss_mb": 0.0,
                "cpu_s": 0.0,
                "cpu_jobs": 0,
            },
        )
        if r.get("cpu_s") is not None:
            agg["cpu_s"] += r["cpu_s"]
            agg["cpu_jobs"] += 1
        agg["jobs"] += 1
        agg["sum_s"] += r["s"]
        agg["max_s"] = max(agg["max_s"], r["s"])
        agg["max_rss_mb"] = max(agg["max_rss_mb"], r["max_rss_mb"])
    return sorted(out.values(), key=lambda a: -a["sum_s"])


def table(stages: list[dict]) -> str:
    """A Markdown table of :func:`by_stage`, with the total. CPU seconds are marked with the
    jobs they sum where some jobs' logs had no usage line."""

    def cpu(a: dict) -> str:
        if not a["cpu_jobs"]:
            return "-"
        part = f" ({a['cpu_jobs']} of {a['jobs']} jobs)" if a["cpu_jobs"] < a["jobs"] else ""
        return f"{a['cpu_s']:.1f}{part}"

    lines = [
        "| stage | jobs | job time (s) | CPU (s) | longest job (s) | max RSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for a in stages:
        lines.append(
            f"| {a['stage']} | {a['jobs']} | {a['sum_s']:.1f} | {cpu(a)} | {a['max_s']:.1f} | "
            f"{a['max_rss_mb']:.0f} |"
        )
    total = {k: sum(a[k] for a in stages) for k in ("jobs", "sum_s", "cpu_s", "cpu_jobs")}
    lines.append(f"| **total** | {total['jobs']} | {total['sum_s']:.1f} | {cpu(total)} | | |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Job:
    """One planned job: its rule and wildcards (name -> value, as Snakemake prints them)."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)


def parse_dry_run(output: str) -> list[Job]:
    """The jobs of a dry run's output (``snakemake -n``, not ``--quiet``): one per ``rule X:``
    block, with its ``wildcards:`` line. Raises unless the jobs per rule equal the job-stats
    table Snakemake prints first."""
    parts = _HEADER.split(output)
    jobs = []
    for rule, body in zip(parts[1::2], parts[2::2], strict=True):
        m = re.search(r"^\s+wildcards: (.*)$", body, re.M)
        pairs = [kv.split("=", 1) for kv in m.group(1).split(", ")] if m else []
        jobs.append(Job(rule, {k: v for k, v in pairs}))
    stats = stats_counts(output)
    if Counter(j.rule for j in jobs) != Counter(stats):
        raise ValueError(f"dry run: {len(jobs)} job blocks do not match its job stats {stats}")
    return jobs


def stats_counts(output: str) -> dict[str, int]:
    """The first job-stats table of a Snakemake (dry) run's output: rule -> jobs (no total)."""
    if "Job stats:" not in output:
        raise ValueError("no job stats in the dry run's output:\n" + output[-2000:])
    table = output.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\S+)\s+(\d+)\s*$", table, re.M)}


class DryRun:
    """``snakemake -n`` of ``config`` in an empty working directory, started in the background
    (it takes seconds: measure meanwhile); :meth:`jobs` waits for it and parses its output."""

    def __init__(self, config: str | Path, snakefile: str | Path = SNAKEFILE):
        exe = Path(sys.executable).with_name("snakemake")
        self._dir = tempfile.TemporaryDirectory(prefix="prunelimit-plan-")
        self._log = open(Path(self._dir.name) / "dry_run.log", "w+")  # noqa: SIM115
        cmd = [str(exe), "--snakefile", str(snakefile), "-n", "--configfile",
               str(Path(config).resolve()), "--directory", self._dir.name]  # fmt: skip
        self._proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)

    def jobs(self, timeout: float = 600) -> list[Job]:
        """The planned jobs (:func:`parse_dry_run`); raises if the dry run failed."""
        try:
            code = self._proc.wait(timeout)
            self._log.seek(0)
            output = self._log.read()
        finally:
            self.close()
        if code != 0:
            raise RuntimeError(f"the dry run failed (exit {code}):\n{output[-3000:]}")
        return parse_dry_run(output)

    def close(self) -> None:
        """Stop the dry run if it still runs; remove its folder."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._log.close()
        self._dir.cleanup()


def planned_jobs(config: str | Path, snakefile: str | Path = SNAKEFILE) -> list[Job]:
    """Every job Snakemake plans for ``config`` from nothing (:class:`DryRun`)."""
    return DryRun(config, snakefile).jobs()


def job_counts(jobs: list[Job]) -> dict[str, int]:
    """Rule -> planned jobs, in the order rules first appear."""
    return dict(Counter(j.rule for j in jobs))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="?", default="benchmarks")
    parser.add_argument("--plan", metavar="CONFIG", help="print the jobs CONFIG plans instead")
    parser.add_argument("--json", help="also write the per-stage sums (or the plan) here")
    args = parser.parse_args(argv)
    if args.plan:
        jobs = planned_jobs(args.plan)
        print("\n".join(f"{r:28s} {n:5d}" for r, n in job_counts(jobs).items()))
        print(f"{'total':28s} {len(jobs):5d}")
        if args.json:
            plan = [{"rule": j.rule, "wildcards": j.wildcards} for j in jobs]
            Path(args.json).write_text(json.dumps(plan, indent=1) + "\n")
        return {"jobs": jobs}
    if not Path(args.benchmarks).is_dir():
        raise SystemExit(f"{args.benchmarks} is not a folder: run the workflow first")
    stages = by_stage(job_times(args.benchmarks))
    print(table(stages))
    if args.json:
        Path(args.json).write_text(json.dumps(stages, indent=2) + "\n")
    return {"stages": stages}


if __name__ == "__main__":
    main()
