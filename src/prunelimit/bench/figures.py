"""Benchmark: the wall time of the figure jobs, each in a fresh Python process.

Run as ``python -m prunelimit.bench.figures RESULTS_DIR [--src SRC ...] [--repeats 3]``.
``RESULTS_DIR`` is a finished workflow's ``results`` folder. Each figure job found there (the
figures of ``ntk_figures``, ``sap_figures``, ``spline_figures``, ``regions_figure``,
``gradual_figure``, ``spline_partition_figure``, as in ``workflow/scripts``) is run as
``python -c`` with ``PYTHONPATH=SRC``: it loads the job's inputs, builds its figures and saves
them (.pdf and .png) into a temporary folder. The process's whole wall time counts (start-up and
imports included: seaborn's import is part of a figure job's cost). With several ``--src``
(e.g. an old checkout's ``src`` and this one), the runs of each job alternate between them,
back to back; the median seconds per job and source are printed, beside this machine's
one-thread float32 GEMM rate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prunelimit.bench import sgemm_gflops

PRELUDE = """
import glob, json, sys
from pathlib import Path
import numpy as np, pandas as pd
from prunelimit.plotting import save_figure
read_csv = pd.read_csv  # plain readers: the same in every checkout
def read_json(path):
    return json.loads(Path(path).read_text())
R, OUT = Path(sys.argv[1]), Path(sys.argv[2])
def save(fig, name):
    save_figure(fig, OUT / f"{name}.pdf", OUT / f"{name}.png")
def seeds(pattern):
    return sorted(glob.glob(str(R / pattern)))
"""

# job name -> (the inputs that must exist, as a glob under RESULTS_DIR; the job's code)
JOBS = {
    "ntk_figures": (
        "ntk/sweep.csv",
        """
from prunelimit.plotting.ntk import (plot_gram_distance, plot_ntk_deviation, plot_ntk_value,
    plot_rescaling, plot_width_needed)
sweep, gram, tol = read_csv(R / "ntk/sweep.csv"), read_csv(R / "ntk/gram.csv"), 0.3
save(plot_ntk_value(sweep), "value")
save(plot_ntk_deviation(sweep, tol), "deviation")
save(plot_width_needed(sweep, tol), "width")
save(plot_rescaling(sweep), "rescaling")
save(plot_gram_distance(gram), "gram")
""",
    ),
    "sap_figures": (
        "{exp}/seed*/sap/*.csv",
        """
from prunelimit.plotting.sap import limit_marks, plot_accuracy, plot_layers, plot_pqi
df = pd.concat([read_csv(p) for p in seeds("{exp}/seed*/sap/*.csv")], ignore_index=True)
marks = limit_marks([read_json(p) for p in seeds("{exp}/seed*/limit.json")])
save(plot_accuracy(df, marks, title="{exp}"), "accuracy")
save(plot_pqi(df[df["method"] != "lomp"], title="{exp}"), "pqi")
save(plot_layers(df, "sap", title="{exp}"), "layers")
""",
    ),
    "spline_figures": (
        "{exp}/seed*/spline/eb.json",
        """
from prunelimit.plotting.spline import early_bird, eb_limit
ebs = [read_json(p) for p in seeds("{exp}/seed*/spline/eb.json")]
mats = [read_csv(p, index_col=0).to_numpy() for p in seeds("{exp}/seed*/spline/eb_distances.csv")]
save(early_bird("{exp}", ebs, mats, 0.16, 3), "eb")
save(eb_limit("{exp}", [read_json(p) for p in seeds("{exp}/seed*/spline/eb_limit.json")]), "lim")
""",
    ),
    "regions_figure": (
        "{exp}/seed*/spline/regions.csv",
        """
from prunelimit.plotting.spline import regions
paths = seeds("{exp}/seed*/spline/regions.csv")
save(regions("{exp}", pd.concat([read_csv(p) for p in paths], ignore_index=True)), "regions")
""",
    ),
    "gradual_figure": (
        "{exp}/seed*/gradual/limits.json",
        """
from prunelimit.plotting.gradual import gradual_figure
runs = [read_json(p) for p in seeds("{exp}/seed*/gradual/limits.json")]
save(gradual_figure("{exp}", runs), "gradual")
""",
    ),
    "spline_partition_figure": (
        "*/seed0/spline/partition.json",
        """
from prunelimit.plotting.spline import partition
records = [read_json(p) for p in seeds("*/seed0/spline/partition.json")]
arrays = []
for p in seeds("*/seed0/spline/partition.npz"):
    with np.load(p) as f:
        arrays.append({k: f[k] for k in f.files})
save(partition(records, arrays), "partition")
""",
    ),
}


def jobs(results: Path) -> dict[str, str]:
    """The figure jobs whose inputs are in ``results``: name -> Python code."""
    found = {}
    experiments = sorted(p.name for p in results.iterdir() if (p / "seed0").is_dir())
    for name, (needs, code) in JOBS.items():
        for exp in experiments if "{exp}" in needs else [""]:
            if any(results.glob(needs.format(exp=exp))):
                label = f"{name}[{exp}]" if exp else name
                found[label] = PRELUDE + code.replace("{exp}", exp)
    return found


def run_once(code: str, src: str, results: Path) -> float:
    """Wall seconds of one fresh ``python -c code`` with ``PYTHONPATH=src``."""
    env = {**os.environ, "PYTHONPATH": src, "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code, str(results), out], env=env, check=True, timeout=600
        )
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="a finished workflow's results folder")
    ap.add_argument("--src", action="append", help="PYTHONPATH of a run (repeatable)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--job", action="append", help="only these jobs (default: all found)")
    args = ap.parse_args(argv)
    sources = args.src or [str(Path(__file__).resolve().parents[2])]
    found = {k: v for k, v in jobs(args.results).items() if not args.job or k in args.job}
    medians: dict[str, dict[str, float]] = {}
    for label, code in found.items():
        times: dict[str, list[float]] = {src: [] for src in sources}
        for _ in range(args.repeats):
            for src in sources:  # alternate, back to back
                times[src].append(run_once(code, src, args.results))
        medians[label] = {src: statistics.median(t) for src, t in times.items()}
        print(label, *(f"{src}: {m:.2f} s" for src, m in medians[label].items()), sep="\t")

    print(f"one-thread float32 GEMM (2048^2): {sgemm_gflops(2048):.1f} GFLOP/s")
    return medians


if __name__ == "__main__":
    main()
