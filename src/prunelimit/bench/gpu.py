"""What a GPU machine should run once: the deterministic-mode check and the paper grid's cost.

Run as ``python -m prunelimit.bench.gpu [--config config/paper.yaml] [--json gpu.json]`` on a
GPU machine (under 10 minutes on one GPU). It writes one JSON with

- torch, CUDA and cuDNN versions and the device name;
- the deterministic-mode check (:func:`prunelimit.runtime.setup`, as ``tests/test_runtime.py``):
  every registered model trains a step and takes a Hessian product, or the error naming the
  kernel that has no deterministic implementation;
- per experiment of the config: the training step's median time and peak memory (bytes,
  :func:`prunelimit.curvature.memory.peak_memory`) at its batch size, and the Hessian product's (all
  ``probes`` vectors at once) at the chunk ``batch_size: auto`` picks under ``memory_gb``;
- the projected GPU hours of the grid: trainings (epochs x steps per epoch x step time, dense
  and l1, every seed), spectra (Lanczos steps x chunks x product time), SAP/LT/OS (the dense
  start and methods x scopes x iterations trainings of ``sap.epochs`` epochs per seed).

Without CUDA it exits with a message, unless ``--device cpu`` (a smoke test at tiny sizes:
``--batch 2 --samples 8 --memory-gb 6``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import yaml
from torch.nn import functional as F

from prunelimit.bench import time_it
from prunelimit.bench.memory import DATASET_SIZES
from prunelimit.config.kinds import train_settings
from prunelimit.config.validate import load_settings
from prunelimit.curvature.memory import auto_chunk, peak_memory
from prunelimit.curvature.operator import HessianOperator
from prunelimit.data import get_spec
from prunelimit.models.registry import MODELS, build_model
from prunelimit.runtime import setup
from prunelimit.training.loop import sgd_step


def deterministic_check(device: torch.device) -> dict[str, str]:
    """Per model: ``ok`` if a training step and a Hessian product run in deterministic mode,
    else the error (PyTorch names the kernel)."""
    out = {}
    for name in sorted(MODELS):
        shape = (3, 8, 8) if name in ("alexnet", "vgg16", "resnet18", "resnet50") else (1, 40)
        try:
            model = build_model(name, shape, 10, seed=0).to(device)
            x, y = torch.randn(4, *shape, device=device), torch.arange(4, device=device)
            F.cross_entropy(model(x), y).backward()
            op = HessianOperator(model, x, y, batch_size=2)
            hv = op.matvec(torch.ones(2, op.D, device=device))
            out[name] = "ok" if bool(torch.isfinite(hv).all()) else "non-finite product"
        except RuntimeError as err:
            out[name] = f"{type(err).__name__}: {err}"
    return out


def measure(exp, h, device: torch.device, batch: int, samples: int, repeats: int) -> dict:
    """Step and product time (s) and peak memory (bytes) of one experiment's model."""
    spec = get_spec(exp.dataset)
    model = build_model(exp.model, spec.input_shape, spec.num_classes, seed=0, **exp.model_args)
    model = model.to(device)
    x = torch.randn(max(batch, samples), *spec.input_shape, device=device)
    y = torch.randint(0, spec.num_classes, (len(x),), device=device)
    s = train_settings(exp, "l1")
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=s.momentum)
    model.train()

    def step():
        return sgd_step(model, opt, x[:batch], y[:batch], s.l1)[1]

    _, step_peak = peak_memory(step, device)
    t_step = time_it(step, device, 1, repeats)[0]
    steps = h.lanczos_steps if isinstance(h.lanczos_steps, int) else h.max_lanczos_steps
    xs, ys = x[:samples], y[:samples]
    choice = auto_chunk(model, xs, ys, h.memory_gb, h.probes, steps, h.basis_memory_gb)
    op = HessianOperator(model, xs[: choice.batch_size], ys[: choice.batch_size], choice.batch_size)
    V = torch.randn(h.probes, op.D, device=device)
    _, hvp_peak = peak_memory(lambda: op.matvec(V), device)
    t_hvp = time_it(lambda: op.matvec(V), device, 1, repeats)[0]
    return {
        "experiment": exp.name,
        "train_batch": batch,
        "train_step_s": t_step,
        "train_step_peak_bytes": step_peak,
        "auto_chunk": choice.as_dict(),
        "hvp_chunk_s": t_hvp,
        "hvp_chunk_peak_bytes": hvp_peak,
        "lanczos_steps": steps,
    }


def gpu_hours(settings, rows: dict[str, dict], samples: int) -> dict[str, float]:
    """Projected GPU hours of the grid's trainings, spectra and SAP/LT/OS from measured times
    (at paper batch sizes; a smoke run's tiny batches scale the step count accordingly)."""
    seeds, val = len(settings.seeds), settings.data.val_fraction
    hours = {"train": 0.0, "spectrum": 0.0, "sap": 0.0}
    sap = settings.sap
    for exp in settings.experiments:
        r = rows.get(exp.name)
        if r is None:
            continue
        per_epoch = math.ceil(DATASET_SIZES[exp.dataset][0] * (1 - val) / r["train_batch"])
        epoch_s = per_epoch * r["train_step_s"]
        hours["train"] += 2 * seeds * exp.train["epochs"] * epoch_s / 3600
        chunks = math.ceil(samples / r["auto_chunk"]["batch_size"])
        hours["spectrum"] += seeds * r["lanczos_steps"] * chunks * r["hvp_chunk_s"] / 3600
        if exp.name in sap.experiments:
            trainings = 1 + len(sap.methods) * len(sap.scopes) * sap.iterations
            hours["sap"] += seeds * trainings * sap.epochs * epoch_s / 3600
    hours["total"] = sum(hours.values())
    return hours


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/paper.yaml")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", nargs="*", default=None, help="experiments or models to measure")
    ap.add_argument("--batch", type=int, default=None, help="training batch (default: config)")
    ap.add_argument("--samples", type=int, default=None, help="Hessian samples (default: config)")
    ap.add_argument("--memory-gb", type=float, default=None, help="override hessian.memory_gb")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="gpu.json")
    args = ap.parse_args(argv)

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench.gpu: no CUDA device here; run it on a GPU machine (or --device cpu)")
    device = setup(0, device=args.device)
    settings = load_settings(yaml.safe_load(open(args.config)))
    res: dict = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "deterministic": deterministic_check(device),
        "experiments": {},
    }
    for exp in settings.experiments:
        if args.only and exp.name not in args.only and exp.model not in args.only:
            continue
        h = settings.hessian_for(exp.name)
        if args.memory_gb is not None:
            h = type(h).from_dict({**h.as_dict(), "memory_gb": args.memory_gb})
        samples = args.samples or h.samples or DATASET_SIZES[exp.dataset][0]
        batch = args.batch or train_settings(exp, "l1").batch_size
        res["experiments"][exp.name] = measure(exp, h, device, batch, samples, args.repeats)
        print(json.dumps(res["experiments"][exp.name]), flush=True)
    samples = args.samples or settings.hessian.samples or 5000
    res["gpu_hours"] = gpu_hours(settings, res["experiments"], samples)
    print(json.dumps({k: res[k] for k in ("device", "deterministic", "gpu_hours")}, indent=1))
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
