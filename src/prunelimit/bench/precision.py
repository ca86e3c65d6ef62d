"""Check a run's recorded spectrum against an independent float64 eigensolver.

Run as ``python -m prunelimit.bench.precision --experiment fc5 --seed 0`` from a workflow
directory (after the ``spectrum`` job of that run). It rebuilds the Hessian operator exactly as
the ``spectrum`` rule did (the same weights, training samples and chunks), in float64, and asks
scipy's ``eigsh`` (implicitly restarted Lanczos, ARPACK) for the largest and smallest
eigenvalues. Exact Lanczos cannot produce a Ritz value above the largest eigenvalue or below the
smallest; a recorded extreme outside them, or far from them, is a precision fault of the
float32 run. Prints and writes (``--out``) one JSON: both extremes, the recorded values and
their relative differences.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy.sparse.linalg import LinearOperator, eigsh

from prunelimit.config.validate import load_settings
from prunelimit.curvature.operator import HessianOperator
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.limit.prediction import training_tensors


def float64_extremes(
    op: HessianOperator, tol: float = 1e-10, smallest: bool = True
) -> tuple[float, float, int]:
    """The largest and (``smallest``; else NaN) the smallest eigenvalue of ``op`` (built on
    float64 weights and inputs) by ARPACK, and the number of Hessian-vector products it took.
    The smallest end of a network's spectrum is tiny next to the largest, so ARPACK needs many
    more products for it."""
    n0 = op.n_hvp

    def mv(v: np.ndarray) -> np.ndarray:
        return op.matvec(torch.from_numpy(np.ascontiguousarray(v.ravel()))).numpy()

    lin = LinearOperator((op.D, op.D), matvec=mv, dtype=np.float64)
    v0 = np.ones(op.D) / np.sqrt(op.D)
    top = float(eigsh(lin, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0])
    low = math.nan
    if smallest:
        low = float(eigsh(lin, k=1, which="SA", tol=tol, v0=v0, return_eigenvectors=False)[0])
    return top, low, op.n_hvp - n0


def check_run(
    config: dict, experiment: str, seed: int, workdir: Path = Path("."), smallest: bool = True
) -> dict:
    """The float64 extremes of run (experiment, seed) against its ``spectrum.json``."""
    settings = load_settings(config)
    exp = settings.experiment(experiment)
    h = settings.hessian_for(experiment)
    run = workdir / f"results/{experiment}/seed{seed}"
    recorded = json.loads((run / "spectrum.json").read_text())
    data = load_dataset(workdir / f"resources/datasets/{exp.dataset}.pt")
    model = load_trained(exp, data, run / "l1.pt").double()
    x, y = training_tensors(data, h.samples, h.seed)
    batch = h.batch_size if isinstance(h.batch_size, int) else recorded.get("batch_size", 1000)
    op = HessianOperator(model, x.double(), y, batch_size=batch)
    t0 = time.perf_counter()
    top, low, n_hvp = float64_extremes(op, smallest=smallest)
    out = {
        "experiment": experiment,
        "seed": seed,
        "D": op.D,
        "samples": op.n,
        "float64_lambda_max": top,
        "float64_lambda_min": low,
        "recorded_lambda_max": recorded["lambda_max"],  # the extreme Ritz values of all probes
        "recorded_lambda_min": recorded["lambda_min"],
        "lanczos_steps": recorded["lanczos_steps"],
        "probes": recorded["probes"],
        "n_hvp": n_hvp,
        "seconds": time.perf_counter() - t0,
    }
    out["max_rel_diff"] = (out["recorded_lambda_max"] - top) / abs(top)
    out["min_rel_diff"] = (out["recorded_lambda_min"] - low) / abs(low)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--workdir", default=".")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--largest-only", action="store_true", help="skip the smallest eigenvalue")
    ap.add_argument("--out", default=None, help="write the JSON here too")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.config).read_text())
    out = check_run(config, args.experiment, args.seed, Path(args.workdir), not args.largest_only)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return out


if __name__ == "__main__":
    main()
