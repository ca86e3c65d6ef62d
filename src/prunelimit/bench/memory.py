"""Memory of the paper grid's jobs: measured at small batch sizes, projected to paper settings.

Run as ``python -m prunelimit.bench.memory [--config config/paper.yaml] [--device cpu]
[--json memory.json] [--only resnet50]``. For each experiment of the config (its model, input
shape and classes; seeded initial weights: memory does not depend on the values) it measures
with :func:`prunelimit.curvature.peak.peak_memory` the fixed and per-sample bytes
(:func:`prunelimit.curvature.memory.per_sample_cost`, at 2, 4 and 8 samples, more for small
models) of

- a training step (``sgd_step``: SGD with momentum, l1; gradients and momentum count),
- a Hessian-vector product over one chunk with ``probes`` vectors at once (``cache_primal``
  false, as the paper config),

and projects the peak of each job at the config's settings: training at its batch size
(weights, the uint8 dataset on the device, the step), the spectrum at the chunk that
``batch_size: auto`` picks under ``hessian.memory_gb`` (or ``--memory-gb``; ``auto`` is a share
of the measuring device's memory: :func:`~prunelimit.curvature.memory.resolve_memory_gb`, so
give the GPU's budget in GB to project a GPU from the CPU) and ``basis_memory_gb`` and at a
fixed chunk (``--fixed-chunk``, 500: the old paper setting, with the whole basis on the device), and
the Lanczos basis ``probes x steps x D x 4`` bytes. Prints a Markdown table (GB = 1e9 bytes,
MB = 1e6) and the machine's one-thread SGEMM rate. CPU peaks are resident memory (oneDNN/MKL
kernels); a GPU's allocator differs by its workspaces, not in the activations that dominate.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its thread pool

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402
from torch import nn

from prunelimit.bench import sgemm_gflops  # noqa: E402
from prunelimit.bench.host import spilled_basis_bytes  # noqa: E402
from prunelimit.config.kinds import train_settings  # noqa: E402
from prunelimit.config.validate import load_settings  # noqa: E402
from prunelimit.curvature.memory import (
    GB,
    LinearCost,
    hvp_measure,
    lanczos_basis_bytes,
    per_sample_cost,
    plan_chunk,
    resolve_memory_gb,
    tensor_bytes,
)
from prunelimit.curvature.peak import peak_memory  # noqa: E402
from prunelimit.data import get_spec  # noqa: E402
from prunelimit.models.registry import build_model  # noqa: E402
from prunelimit.pruning import prunable_names  # noqa: E402
from prunelimit.runtime import resolve_device  # noqa: E402
from prunelimit.training.loop import (
    EVAL_BATCH,  # noqa: E402
    sgd_step,
)

# (train, test) samples of each paper dataset; prepared files hold uint8 inputs, int64 labels
DATASET_SIZES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000)}
DATASET_SIZES["tinyimagenet"] = (100_000, 10_000)
GPUS_GB = ((16, "16 GB (V100, T4)"), (24, "24 GB (A10, L4)"), (40, "40 GB (A100-40)"))
GPUS_GB += ((80, "80 GB (A100-80, H100)"), (141, "141 GB (H200)"))
CONTEXT_BYTES = 1.0 * GB  # CUDA context and allocator slack assumed on top of a projected peak


def gpu_needed(peak_bytes: float) -> str:
    """The smallest GPU memory class that holds ``peak_bytes`` plus the CUDA context."""
    need = (peak_bytes + CONTEXT_BYTES) / 2**30  # GPU memory is sold in GiB
    return next((label for gib, label in GPUS_GB if need <= gib), f"> 141 GB ({need:.0f} GiB)")


def dataset_bytes(dataset: str) -> int:
    """Bytes of a prepared dataset on the device: uint8 inputs and int64 labels, all splits."""
    return sum(DATASET_SIZES[dataset]) * (math.prod(get_spec(dataset).input_shape) + 8)


def measure_experiment(exp, h, device: torch.device, fixed_chunk: int) -> dict:
    """Fixed and per-sample bytes of a training step and of a product, and projected peaks."""
    spec = get_spec(exp.dataset)
    shape, classes, train = spec.input_shape, spec.num_classes, train_settings(exp, "l1")
    model = build_model(exp.model, shape, classes, seed=0, **exp.model_args).to(device)
    D = sum(dict(model.named_parameters())[n].numel() for n in prunable_names(model))
    weights = tensor_bytes([*model.parameters(), *model.buffers()])
    t0 = time.perf_counter()
    step = per_sample_cost(
        train_step_measure(model, shape, classes, train.l1, train.momentum), max_size=2048
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = per_sample_cost(eval_measure(model, shape, classes), max_size=2048)
    t_eval = time.perf_counter() - t0
    x = torch.randn(2048, *shape, device=device)
    y = torch.randint(0, classes, (2048,), device=device)
    t0 = time.perf_counter()
    hvp = per_sample_cost(hvp_measure(model, x, y, h.probes, False), max_size=2048)
    t_hvp = time.perf_counter() - t0
    del model, x, y
    steps = h.lanczos_steps if isinstance(h.lanczos_steps, int) else h.max_lanczos_steps
    samples = h.samples or DATASET_SIZES[exp.dataset][0]
    held = weights + samples * (4 * math.prod(shape) + 8)  # + the Hessian samples (float32)
    basis = lanczos_basis_bytes(h.probes, steps, D)
    data = dataset_bytes(exp.dataset)
    budget = resolve_memory_gb(h.memory_gb, device)  # auto: a share of this device's
    auto = plan_chunk(hvp, budget, held, basis, h.basis_memory_gb, samples)
    batch = train.batch_size
    train_peak = weights + data + step.at(batch)
    eval_peak = weights + data + ev.at(EVAL_BATCH)  # the training job's evaluation passes
    auto_peak = data + auto.reserved_bytes + hvp.at(auto.batch_size)
    fixed_peak = data + held + basis + hvp.at(min(fixed_chunk, samples))
    return {
        "experiment": exp.name,
        "model": exp.model,
        "dataset": exp.dataset,
        "input_shape": list(shape),
        "classes": classes,
        "D": D,
        "weights_bytes": weights,
        "dataset_bytes": data,
        "train": step.as_dict(),
        "hvp": hvp.as_dict(),
        "eval": ev.as_dict(),
        "measure_seconds": {"train": t_train, "eval": t_eval, "hvp": t_hvp},
        "train_batch": batch,
        "train_peak_bytes": train_peak,
        "eval_batch": EVAL_BATCH,
        "eval_peak_bytes": eval_peak,
        "train_gpu": gpu_needed(max(train_peak, eval_peak)),
        "basis_bytes": basis,
        "lanczos_steps": steps,
        "probes": h.probes,
        "hessian_samples": samples,
        "auto_chunk": auto.as_dict(),
        "spectrum_auto_peak_bytes": auto_peak,
        "basis_host_bytes": spilled_basis_bytes(h.probes, steps, D, h.basis_memory_gb),
        "fixed_chunk": fixed_chunk,
        "spectrum_fixed_peak_bytes": fixed_peak,
    }


def table(rows: list[dict]) -> str:
    """The Markdown table of :func:`measure_experiment` rows (MB = 1e6, GB = 1e9 bytes)."""
    head = (
        "| experiment | D | train fixed / per sample (MB) | HVP fixed / per sample (MB) | "
        "train peak at batch (GB) | evaluation peak at batch (GB) | GPU for training | "
        "basis (GB) | auto chunk | spectrum peak, auto (GB) | basis in pinned host memory (GB) | "
        "spectrum peak, chunk 500 (GB) |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        t, v = LinearCost(**r["train"]), LinearCost(**r["hvp"])
        lines.append(
            f"| {r['experiment']} | {r['D'] / 1e6:.1f}M | {t.fixed / 1e6:.0f} / "
            f"{t.per_sample / 1e6:.2f} | {v.fixed / 1e6:.0f} / {v.per_sample / 1e6:.2f} | "
            f"{r['train_peak_bytes'] / GB:.1f} at {r['train_batch']} | "
            f"{r['eval_peak_bytes'] / GB:.1f} at {r['eval_batch']} | {r['train_gpu']} | "
            f"{r['basis_bytes'] / GB:.1f} | {r['auto_chunk']['batch_size']} | "
            f"{r['spectrum_auto_peak_bytes'] / GB:.1f} | {r['basis_host_bytes'] / GB:.1f} | "
            f"{r['spectrum_fixed_peak_bytes'] / GB:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/paper.yaml")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", nargs="*", default=None, help="experiments or models to measure")
    ap.add_argument("--fixed-chunk", type=int, default=500, help="the fixed chunk compared")
    ap.add_argument("--memory-gb", type=float, help="GB for hessian.memory_gb (default: config)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    settings = load_settings(yaml.safe_load(open(args.config)))
    t0 = time.perf_counter()
    rows = []
    for exp in settings.experiments:
        if args.only and exp.name not in args.only and exp.model not in args.only:
            continue
        h = settings.hessian_for(exp.name)
        if args.memory_gb is not None:
            h = dataclasses.replace(h, memory_gb=args.memory_gb)
        rows.append(measure_experiment(exp, h, device, args.fixed_chunk))
        print(
            f"{exp.name}: measured in {sum(rows[-1]['measure_seconds'].values()):.0f} s", flush=True
        )
    h = settings.hessian
    res = {
        "config": args.config,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sgemm_gflops_one_thread": sgemm_gflops(),
        "memory_gb": h.memory_gb if args.memory_gb is None else args.memory_gb,
        "basis_memory_gb": h.basis_memory_gb,
        "seconds": time.perf_counter() - t0,
        "experiments": rows,
    }
    print(table(rows))
    print(
        f"{res['device']}, {res['threads']} threads, one-thread SGEMM "
        f"{res['sgemm_gflops_one_thread']:.0f} GFLOP/s; hessian.memory_gb {res['memory_gb']}, "
        f"basis_memory_gb {h.basis_memory_gb}; {res['seconds']:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return res


def train_step_measure(
    model: nn.Module,
    input_shape: Sequence[int],
    num_classes: int,
    l1: float = 1e-5,
    momentum: float = 0.9,
) -> Callable[[int], int]:
    """``measure(n)``: peak bytes of one training step at batch ``n`` (random inputs made in
    the step; a fresh SGD-with-momentum optimizer, so gradients and momentum buffers count)."""
    device = next(model.parameters()).device

    def measure(n: int) -> int:
        model.train().zero_grad(set_to_none=True)

        def step() -> None:
            x = torch.randn(n, *input_shape, device=device)
            y = torch.randint(0, num_classes, (n,), device=device)
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=momentum)
            sgd_step(model, opt, x, y, l1)

        _, peak = peak_memory(step, device)
        model.zero_grad(set_to_none=True)
        return peak

    return measure


def eval_measure(
    model: nn.Module, input_shape: Sequence[int], num_classes: int
) -> Callable[[int], int]:
    """``measure(n)``: peak bytes of one evaluation pass at batch ``n`` (eval mode, no
    gradients, the cross-entropy and the predictions, as
    :func:`prunelimit.training.loop.evaluate`)."""
    device = next(model.parameters()).device

    def measure(n: int) -> int:
        model.eval()

        def forward() -> None:
            x = torch.randn(n, *input_shape, device=device)
            y = torch.randint(0, num_classes, (n,), device=device)
            with torch.no_grad():
                out = model(x)
                torch.nn.functional.cross_entropy(out, y), (out.argmax(1) == y).sum()

        _, peak = peak_memory(forward, device)
        return peak

    return measure


if __name__ == "__main__":
    main()
