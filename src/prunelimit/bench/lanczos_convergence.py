"""Diagnostic: is the theoretical limit converged in the SLQ settings?

Run as ``python -m prunelimit.bench.lanczos_convergence --experiment mlp --seeds 0 1
--steps 80 160 320 --probes 4``, from a directory where the workflow has run (it reads
``results/{experiment}/seed{seed}/l1.pt`` and the prepared dataset). For each seed and each
number of Lanczos steps it recomputes the spectrum at ``w*`` and prints ``rho_th`` (all probes,
and each probe alone), its sensitivity to ``eps`` (x 0.5, x 2) and to the treatment of negative
eigenvalues (``clip``), and the spectral weight below ``|lambda| = 1e-4``. When ``rho_th``
still moves with the steps, the quadrature does not resolve the near-zero part of the spectrum
that ``delta`` depends on (docs/theory.md, "Quadrature accuracy").
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its thread pool

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from prunelimit.config import hessian_settings  # noqa: E402
from prunelimit.data import load_dataset  # noqa: E402
from prunelimit.experiment import load_trained, loss_tolerance, spectrum_of  # noqa: E402
from prunelimit.pruning import flat_prunable, sorted_magnitudes  # noqa: E402
from prunelimit.runtime import setup  # noqa: E402
from prunelimit.theory import pruning_limit  # noqa: E402


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--experiment", default="mlp")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[80, 160, 320])
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)

    cfg = yaml.safe_load(open(args.config))
    exp = next(e for e in cfg["experiments"] if e["name"] == args.experiment)
    rows = []
    for seed in args.seeds:
        device = setup(seed, threads=args.threads, device=args.device)
        data = load_dataset(f"resources/datasets/{exp['dataset']}.pt", device)
        model = load_trained(exp, data, f"results/{exp['name']}/seed{seed}/l1.pt", device)
        eps, _ = loss_tolerance(model, data, cfg["theory"]["eps"], exp["train"]["batch_size"], seed)
        mags = sorted_magnitudes(flat_prunable(model).cpu())
        for steps in args.steps:
            h = {
                **hessian_settings(exp, cfg["hessian"]),
                "lanczos_steps": steps,
                "probes": args.probes,
            }
            t0 = time.perf_counter()
            sp = spectrum_of(model, data, h)
            nodes, w = np.asarray(sp["nodes"]), np.asarray(sp["weights"])

            def rho(nodes=nodes, w=w, e=eps, neg="abs", mags=mags):
                return pruning_limit(mags, nodes, w, e, neg)["rho_th"]

            row = {
                "seed": seed,
                "steps": steps,
                "probes": args.probes,
                "eps": eps,
                "rho_th": rho(),
                "per_probe": [rho(nodes[i : i + 1], w[i : i + 1]) for i in range(len(nodes))],
                "rho_th_eps_half": rho(e=eps / 2),
                "rho_th_eps_double": rho(e=eps * 2),
                "rho_th_clip": rho(neg="clip"),
                "weight_below_1e-4": float((w * (np.abs(nodes) < 1e-4)).sum(1).mean()),
                "time_s": time.perf_counter() - t0,
            }
            rows.append(row)
            print(
                f"seed {seed} m {steps:4d}: rho_th {100 * row['rho_th']:6.2f} %  per probe "
                f"{' '.join(f'{100 * r:.1f}' for r in row['per_probe'])}  eps/2 "
                f"{100 * row['rho_th_eps_half']:.1f}  eps*2 {100 * row['rho_th_eps_double']:.1f}"
                f"  clip {100 * row['rho_th_clip']:.1f}  weight(|l|<1e-4) "
                f"{row['weight_below_1e-4']:.2f}  ({row['time_s']:.0f} s)",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
