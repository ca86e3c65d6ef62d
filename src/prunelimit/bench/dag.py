"""Where a finished run's time went: ``benchmarks/`` summed by stage.

Run as ``python -m prunelimit.bench.dag [benchmarks] [--json out.json]`` after any run of the
workflow. Every job writes one Snakemake benchmark file (``benchmarks/{stage}/.../*.tsv``: wall
seconds ``s``, ``max_rss`` in MB, ``cpu_time``), under the folder of its stage (``train``,
``spectrum``, ``sap``: SAP/LT/OS runs with the PQI and their tables and figures, ``spline``,
``results``: the limits table and figures, ...). This prints, per stage, the number of jobs,
their summed and longest wall time and the largest resident memory, sorted by summed time. The
sum is the machine time of the DAG, not its wall time (jobs run in parallel up to ``--cores``).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def job_times(root: str | Path) -> list[dict]:
    """One row per benchmark file under ``root``: stage (first folder), job, seconds, max_rss."""
    root = Path(root)
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        with open(path) as fh:
            records = list(csv.DictReader(fh, delimiter="\t"))
        if not records:
            continue
        rec = records[-1]
        rel = path.relative_to(root)
        rows.append(
            {
                "stage": rel.parts[0] if len(rel.parts) > 1 else rel.stem,
                "job": str(rel.with_suffix("")),
                "s": float(rec["s"]),
                "max_rss_mb": float(rec["max_rss"]) if rec.get("max_rss", "-") != "-" else 0.0,
            }
        )
    return rows


def by_stage(rows: list[dict]) -> list[dict]:
    """Jobs, summed and longest seconds and largest resident memory per stage, by summed time."""
    out: dict[str, dict] = {}
    for r in rows:
        agg = out.setdefault(
            r["stage"],
            {"stage": r["stage"], "jobs": 0, "sum_s": 0.0, "max_s": 0.0, "max_rss_mb": 0.0},
        )
        agg["jobs"] += 1
        agg["sum_s"] += r["s"]
        agg["max_s"] = max(agg["max_s"], r["s"])
        agg["max_rss_mb"] = max(agg["max_rss_mb"], r["max_rss_mb"])
    return sorted(out.values(), key=lambda a: -a["sum_s"])


def table(stages: list[dict]) -> str:
    """A Markdown table of :func:`by_stage`, with the total."""
    lines = [
        "| stage | jobs | job time (s) | longest job (s) | max RSS (MB) |",
        "|---|---|---|---|---|",
    ]
    for a in stages:
        lines.append(
            f"| {a['stage']} | {a['jobs']} | {a['sum_s']:.1f} | {a['max_s']:.1f} | "
            f"{a['max_rss_mb']:.0f} |"
        )
    total = sum(a["sum_s"] for a in stages)
    lines.append(f"| **total** | {sum(a['jobs'] for a in stages)} | {total:.1f} | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="?", default="benchmarks")
    parser.add_argument("--json", help="also write the per-stage sums here")
    args = parser.parse_args(argv)
    if not Path(args.benchmarks).is_dir():
        raise SystemExit(f"{args.benchmarks} is not a folder: run the workflow first")
    stages = by_stage(job_times(args.benchmarks))
    print(table(stages))
    if args.json:
        Path(args.json).write_text(json.dumps(stages, indent=2) + "\n")
    return {"stages": stages}


if __name__ == "__main__":
    main()
