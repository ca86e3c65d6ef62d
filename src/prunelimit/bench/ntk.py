"""Benchmark: the torch.func NTKs against the per-sample autograd loop.

Run as ``python -m prunelimit.bench.ntk [--width 512 --batch 64 --input-dim 40 --p 0.5 ...]``.
Three implementations compute the full empirical NTK Gram matrix of the same pruned, rescaled
network on the same batch: ``naive_ntk`` (one ``autograd.grad`` per sample), ``empirical_ntk``
(generic: ``vmap(jacrev)`` per-sample Jacobians, contracted) and ``mlp_ntk`` (``torch.func.vjp``
cotangents contracted layer by layer, no per-sample Jacobians). The script checks that they
agree, then prints median times and the speed-ups over the naive loop.
"""

from __future__ import annotations

import os

# Idle OpenMP threads spin by default, which is very slow on a shared, loaded CPU; this must be
# set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402

import torch  # noqa: E402

from prunelimit.bench import time_it  # noqa: E402
from prunelimit.ntk.kernels import empirical_ntk, mlp_ntk, naive_ntk
from prunelimit.ntk.network import pruned_mlp  # noqa: E402
from prunelimit.runtime import resolve_device  # noqa: E402


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring); ``argv`` None: ``sys.argv``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=3, help="hidden layers")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--input-dim", type=int, default=40, help="40 = MNIST-1D")
    ap.add_argument("--p", type=float, default=0.5, help="pruning probability (rescaled net)")
    ap.add_argument("--chunk-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def _problem(args: argparse.Namespace, device: torch.device):
    """The pruned, rescaled MLP of ``args`` and its batch ``x`` (standard normal inputs), both
    seeded by ``--seed``, on ``device``."""
    model = pruned_mlp(
        args.input_dim,
        args.width,
        args.depth,
        args.p,
        True,
        seed=args.seed,
        device=device,
        input_scale=args.input_dim**-0.5,
    )
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch, args.input_dim, generator=g).to(device)
    return model, x


def _time_implementations(model, x, args: argparse.Namespace, device: torch.device) -> dict:
    """Per implementation (the naive loop first: the reference) :func:`time_it`'s median and
    all times (s) and its NTK Gram matrix."""
    impls = {
        "naive loop (autograd per sample)": lambda: naive_ntk(model, x),
        "torch.func vmap(jacrev) + contraction": lambda: empirical_ntk(
            model, x, chunk_size=args.chunk_size
        ),
        "torch.func vjp, layer-wise contraction": lambda: mlp_ntk(model, x),
    }
    return {name: time_it(fn, device, args.warmup, args.repeats) for name, fn in impls.items()}


def _compare(results: dict) -> tuple[dict, bool]:
    """Print each implementation's time, speed-up and largest difference relative to the first
    (the reference); return the per-method summary and whether all agree (difference < 1e-4)."""
    t_ref, _, k_ref = next(iter(results.values()))
    methods, ok = {}, True
    for name, (t, times, k) in results.items():
        err = float((k - k_ref).abs().max() / k_ref.abs().max())
        ok &= err < 1e-4
        print(f"{name:40s} {t * 1e3:9.1f} ms  speed-up {t_ref / t:6.1f}x  max rel. diff {err:.1e}")
        methods[name] = {
            "median_s": t,
            "times_s": times,
            "speedup": t_ref / t,
            "max_rel_diff": err,
        }
    return methods, ok


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark on the command line ``argv``; print and return its summary."""
    args = _arguments(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model, x = _problem(args, device)
    n_params = sum(p.numel() for p in model.parameters())
    results = _time_implementations(model, x, args, device)
    print(
        f"device={device} threads={torch.get_num_threads()} width={args.width} "
        f"depth={args.depth} p={args.p} batch={args.batch} input_dim={args.input_dim} "
        f"params={n_params} repeats={args.repeats}"
    )
    methods, ok = _compare(results)
    if not ok:
        raise SystemExit("the NTK implementations disagree")
    print("all implementations agree (max relative difference < 1e-4)")
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "width": args.width,
        "depth": args.depth,
        "p": args.p,
        "batch": args.batch,
        "input_dim": args.input_dim,
        "params": n_params,
        "methods": methods,
    }


if __name__ == "__main__":
    main()
