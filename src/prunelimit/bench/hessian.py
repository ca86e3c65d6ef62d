"""Benchmark: gradient, Hessian-vector product and full SLQ with both spectrum engines.

Run as ``python -m prunelimit.bench.hessian [--model fc5 --samples 1000 --steps 80 ...]``. On the
same model (an experiment's trained weights with ``--weights``, else a seeded initialisation:
the cost does not depend on the values) and the same training samples of a prepared dataset
(MNIST-1D is generated if ``--data`` does not exist) it times

- one gradient of the mean loss (the unit of cost),
- one Hessian-vector product: built-in (``torch.func`` forward-over-reverse) with one vector,
  per vector in a batch of ``--probes``, and linearised once (``cache_primal``, the default of
  the workflow), and pyhessian's (autograd double backward),
- a full SLQ at equal settings (``--steps`` Lanczos steps, ``--probes`` probes, full
  reorthogonalisation in both; the defaults are the workflow's, 80 x 4; built-in linearised,
  its set-up included) with each engine, with peak memory (pyhessian runs first so that its
  small allocations are not served from memory the built-in engine freed),

and prints the ratios. It also counts the floating-point operations of each product
(``torch.utils.flop_counter``): on a compute-bound device the SLQ speed-up cannot exceed
pyhessian's product FLOPs over the built-in's (the "FLOP ceiling"), because both engines do the
same number of products and the same reorthogonalisation. Targets: a Hessian-vector product
costs at most 3 gradients; the built-in SLQ is at least 2x faster than pyhessian's.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its thread pool

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from prunelimit.bench import sync, time_it  # noqa: E402
from prunelimit.curvature.operator import HessianOperator  # noqa: E402
from prunelimit.curvature.peak import PeakMemory  # noqa: E402
from prunelimit.curvature.pyhessian_engine import _torch_eig_for_pyhessian  # noqa: E402
from prunelimit.curvature.spectrum import builtin_spectrum  # noqa: E402
from prunelimit.data import load_dataset, prepare_dataset  # noqa: E402
from prunelimit.io import load_torch  # noqa: E402
from prunelimit.models.registry import build_model  # noqa: E402
from prunelimit.runtime import setup  # noqa: E402


def _pyhessian(model: nn.Module, op: HessianOperator):
    from pyhessian import hessian as PyHessian

    for n, p in model.named_parameters():
        p.requires_grad_(n in op.w0)
    return PyHessian(
        model, nn.CrossEntropyLoss(), dataloader=op.chunks, cuda=op.device.type == "cuda"
    )


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring); ``argv`` None: ``sys.argv``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fc5")
    ap.add_argument("--widths", type=int, nargs="*", help="hidden widths (model mlp)")
    ap.add_argument("--data", default="resources/datasets/mnist1d.pt")
    ap.add_argument("--weights", help="a trained state dict of the same model (optional)")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=1000, help="samples per HVP chunk")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write the results here")
    return ap.parse_args(argv)


def _problem(args: argparse.Namespace):
    """The device, the model (``--weights`` loaded, else seed 0; in eval mode on the device) and
    the first ``--samples`` training samples ``x, y``; MNIST-1D is prepared first when ``--data``
    does not exist."""
    device = setup(0, threads=args.threads, device=args.device)
    if not Path(args.data).exists():
        print(f"preparing {args.data} (MNIST-1D, offline)")
        prepare_dataset("mnist1d", Path(args.data).parent.parent / "raw" / "mnist1d", args.data)
    data = load_dataset(args.data, device)
    kwargs = {"widths": args.widths} if args.widths else {}
    model = build_model(args.model, data.input_shape, data.num_classes, seed=0, **kwargs)
    if args.weights:
        model.load_state_dict(load_torch(args.weights))
    model = model.to(device).eval()
    x, y = data.train.get(slice(0, args.samples))
    return device, model, x, y


def _builtin_times(op, lin, v, V, device, repeats: int) -> dict[str, float]:
    """Median seconds of a gradient and of the built-in products: ``hvp`` (one vector ``v``),
    ``hvp_batch`` (per vector of the batch ``V``) and ``hvp_lin`` (``lin``, linearised)."""
    return {
        "grad": time_it(op.gradient, device, 1, repeats)[0],
        "hvp": time_it(lambda: op.matvec(v), device, 1, repeats)[0],
        "hvp_batch": time_it(lambda: op.matvec(V), device, 1, repeats)[0] / len(V),
        "hvp_lin": time_it(lambda: lin.matvec(v), device, 1, repeats)[0],
    }


def _flop_counts(op, lin, comp, v, V, vs) -> dict[str, float]:
    """Floating-point operations of a gradient and of each product, keyed as the times of
    :func:`_builtin_times` and ``hvp_py`` (pyhessian's ``comp`` with ``vs``, ``v`` unflattened)."""
    return {
        "grad": _flops(op.gradient),
        "hvp": _flops(lambda: op.matvec(v)),
        "hvp_batch": _flops(lambda: op.matvec(V)) / len(V),
        "hvp_lin": _flops(lambda: lin.matvec(v)),
        "hvp_py": _flops(lambda: comp.dataloader_hv_product(vs)),
    }


def _slq_runs(comp, model, x, y, args, device) -> dict[str, tuple[float, float]]:
    """A full SLQ (``--steps`` x ``--probes``) with each engine, pyhessian's first: per engine
    (``pyhessian``, ``builtin``) its seconds and peak memory (MiB above the start)."""
    torch.manual_seed(0)
    with (
        PeakMemory(device) as mem_p,
        _torch_eig_for_pyhessian(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        t0 = time.perf_counter()
        comp.density(iter=args.steps, n_v=args.probes)
        sync(device)
        t_slq_py = time.perf_counter() - t0
    fresh = HessianOperator(model, x, y, batch_size=args.batch_size, cache_primal=True)
    with PeakMemory(device) as mem_b:
        t0 = time.perf_counter()
        builtin_spectrum(fresh, args.steps, args.probes, top_k=1, seed=0)
        sync(device)
        t_slq = time.perf_counter() - t0
    return {"pyhessian": (t_slq_py, mem_p.peak_mb), "builtin": (t_slq, mem_b.peak_mb)}


def _results(args, D: int, samples: int, device, t: dict, f: dict, slq: dict) -> dict:
    """The benchmark's results (as returned and written by ``--json``) from the times ``t``,
    FLOPs ``f`` (:func:`_flop_counts`'s keys) and SLQ runs ``slq`` (:func:`_slq_runs`)."""
    (t_slq, peak_b), (t_slq_py, peak_p) = slq["builtin"], slq["pyhessian"]
    return {
        "model": args.model,
        "D": D,
        "samples": samples,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "probes": args.probes,
        "gradient_s": t["grad"],
        "hvp_builtin_s": t["hvp"],
        "hvp_builtin_batched_per_vector_s": t["hvp_batch"],
        "hvp_pyhessian_s": t["hvp_py"],
        "slq_builtin_s": t_slq,
        "slq_pyhessian_s": t_slq_py,
        "slq_builtin_peak_mb": peak_b,
        "slq_pyhessian_peak_mb": peak_p,
        "hvp_over_gradient": t["hvp"] / t["grad"],
        "hvp_linearized_over_gradient": t["hvp_lin"] / t["grad"],
        "hvp_batched_over_gradient": t["hvp_batch"] / t["grad"],
        "pyhessian_hvp_over_gradient": t["hvp_py"] / t["grad"],
        "slq_speedup": t_slq_py / t_slq,
        "gradient_gflop": f["grad"] / 1e9,
        "hvp_flops_over_gradient": f["hvp"] / f["grad"],
        "hvp_linearized_flops_over_gradient": f["hvp_lin"] / f["grad"],
        "hvp_batched_flops_over_gradient": f["hvp_batch"] / f["grad"],
        "pyhessian_hvp_flops_over_gradient": f["hvp_py"] / f["grad"],
        "slq_speedup_flop_ceiling": f["hvp_py"] / f["hvp_lin"],
        "krylov_basis_mb": {
            "builtin": args.probes * args.steps * D * 4 / 2**20,
            "pyhessian": args.steps * D * 4 / 2**20,
        },
    }


def _report(args, res: dict, t: dict, f: dict) -> None:
    """Print the products' times and FLOPs in gradients, then the SLQ comparison."""
    rows = [
        ("gradient (the unit)", t["grad"], f["grad"]),
        ("HVP built-in, 1 vector (jvp)", t["hvp"], f["hvp"]),
        ("HVP built-in, linearised", t["hvp_lin"], f["hvp_lin"]),
        (f"HVP built-in, per vector of {args.probes}", t["hvp_batch"], f["hvp_batch"]),
        ("HVP pyhessian, 1 vector", t["hvp_py"], f["hvp_py"]),
    ]
    print(f"{'':34} {'time':>10} {'grads':>6} {'flops/grad':>10}")
    for label, seconds, flops in rows:
        grads, flop_ratio = seconds / t["grad"], flops / f["grad"]
        print(f"{label:34} {seconds * 1e3:7.1f} ms {grads:6.2f} {flop_ratio:10.2f}")
    print(
        f"SLQ {args.probes} x {args.steps}: built-in {res['slq_builtin_s']:.2f} s "
        f"(peak +{res['slq_builtin_peak_mb']:.0f} MB), pyhessian {res['slq_pyhessian_s']:.2f} s "
        f"(peak +{res['slq_pyhessian_peak_mb']:.0f} MB): "
        f"built-in {res['slq_speedup']:.2f}x faster"
    )
    basis_mb = res["krylov_basis_mb"]
    print(
        f"FLOP ceiling of that speed-up (pyhessian HVP / linearised HVP): "
        f"{res['slq_speedup_flop_ceiling']:.2f}x; Krylov bases held: built-in "
        f"{basis_mb['builtin']:.0f} MB (all probes), pyhessian {basis_mb['pyhessian']:.0f} MB "
        f"(one probe)"
    )


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark on the command line ``argv``; print and return its results."""
    args = _arguments(argv)
    device, model, x, y = _problem(args)
    op = HessianOperator(model, x, y, batch_size=args.batch_size)
    lin = HessianOperator(model, x, y, batch_size=args.batch_size, cache_primal=True)
    print(
        f"model {args.model}, D = {op.D}, {len(y)} samples in chunks of {args.batch_size}, "
        f"device {device}, {torch.get_num_threads()} threads"
    )

    g = torch.Generator().manual_seed(0)
    v = torch.randn(op.D, generator=g).to(device)
    V = torch.randn(args.probes, op.D, generator=g).to(device)
    t = _builtin_times(op, lin, v, V, device, args.repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = _pyhessian(model, op)
        vs = list(op.unflatten(v).values())
        t["hvp_py"] = time_it(
            lambda: comp.dataloader_hv_product(vs)[1][0], device, 1, args.repeats
        )[0]
        f = _flop_counts(op, lin, comp, v, V, vs)
        slq = _slq_runs(comp, model, x, y, args, device)

    res = _results(args, op.D, len(y), device, t, f, slq)
    _report(args, res, t, f)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
