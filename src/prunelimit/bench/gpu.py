"""What a GPU machine should run once: the deterministic-mode check and the paper grid's cost.

Run as ``python -m prunelimit.bench.gpu [--config config/paper.yaml] [--json gpu.json]`` on a
GPU machine (minutes on one GPU). It writes one JSON with

- torch, CUDA and cuDNN versions and the device name;
- the deterministic-mode check (:func:`prunelimit.runtime.setup`, as ``tests/test_runtime.py``):
  every registered model trains a step and takes a Hessian product, or the error naming the
  kernel that has no deterministic implementation;
- per experiment of the config, the primitives of :mod:`prunelimit.bench.units` timed on the
  device (median of ``--repeats``): a training step (the library's ``fit``: l1, masks held,
  augmentation, the config's precision) at the experiment's batch; an evaluation pass per
  sample; a pruning-curve point (timed on ``--eval-samples`` per split, extended per sample to
  the paper's split sizes); a Hessian-vector product of all probes at the chunk ``batch_size:
  auto`` picks under ``memory_gb`` (with its peak memory); an SAP pruning step per scope; and
  one NTK draw per width;
- the projection: per rule, the jobs Snakemake plans for the config (a dry run in an empty
  folder, :class:`prunelimit.bench.dag.DryRun`, started first and read last) times each job's
  seconds (:data:`prunelimit.bench.units.UNITS`: its counts of the primitives, from the
  settings the job gets); GPU hours per rule and in total. Rules without a GPU are listed with
  the reason (:data:`~prunelimit.bench.units.NEGLIGIBLE`), any other as "not modelled".

Without CUDA it exits with a message, unless ``--device cpu``: a smoke test at tiny sizes
(``--only fc5 --batch 2 --samples 8 --steps 2 --eval-samples 16 --memory-gb 6 --repeats 1``),
whose seconds are CPU seconds at those sizes, not GPU figures. ``--only`` names the experiments or
models to measure (and ``ntk``; the deterministic check then covers only their models).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch
import yaml
from torch.nn import functional as F

from prunelimit.bench.dag import DryRun, Job, job_counts
from prunelimit.bench.measure import measure_experiment, measure_ntk
from prunelimit.bench.units import NEGLIGIBLE, UNITS, seconds
from prunelimit.config.settings import Settings
from prunelimit.config.validate import load_settings
from prunelimit.curvature.operator import HessianOperator
from prunelimit.models.registry import MODELS, build_model
from prunelimit.runtime import setup


class SavedPlan:
    """Planned jobs read from a plan JSON (``python -m prunelimit.bench.dag --plan CONFIG
    --json plan.json``), for a machine without Snakemake."""

    def __init__(self, path: str | Path):
        rows = json.loads(Path(path).read_text())
        self._jobs = [Job(r["rule"], r["wildcards"]) for r in rows]

    def jobs(self) -> list[Job]:
        return self._jobs

    def close(self) -> None:
        pass


def deterministic_check(device: torch.device, models: list[str] | None = None) -> dict[str, str]:
    """Per model (all registered, or ``models``): ``ok`` if a training step and a Hessian
    product run in deterministic mode, else the error (PyTorch names the kernel)."""
    out = {}
    for name in sorted(MODELS if models is None else models):
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


def project(settings: Settings, jobs: list[Job], measured: dict[str, dict]) -> list[dict]:
    """Per rule of ``jobs``: jobs, the unit model (or why there is none), the jobs whose
    primitives were measured, their mean seconds and GPU hours; the modelled rules in the
    order of :data:`UNITS`, then the rules not modelled, then those without a GPU.
    ``measured``: experiment (or ``ntk``) -> ``{"sizes": Sizes | None, "primitives": {name:
    seconds}}``."""
    counts = job_counts(jobs)
    order = [r for r in UNITS if r in counts]
    order += [r for r in counts if r not in UNITS and r not in NEGLIGIBLE]
    order += [r for r in counts if r in NEGLIGIBLE]
    rows = []
    for rule in order:
        row = {"rule": rule, "jobs": counts[rule], "measured": 0, "s_per_job": None}
        if rule in NEGLIGIBLE:
            rows.append({**row, "status": "no GPU", "model": NEGLIGIBLE[rule], "gpu_hours": 0.0})
        elif rule not in UNITS:
            rows.append({**row, "status": "not modelled", "model": "", "gpu_hours": None})
        else:
            rows.append({**row, **_rule_cost(settings, rule, jobs, measured)})
    return rows


def _rule_cost(settings: Settings, rule: str, jobs: list[Job], measured: dict[str, dict]) -> dict:
    """Unit model, measured jobs, mean seconds and GPU hours of one modelled rule's jobs."""
    unit, words = UNITS[rule]
    times = []
    for job in (j for j in jobs if j.rule == rule):
        m = measured.get(job.wildcards.get("experiment", "ntk"))
        if m is not None:
            t = seconds(unit(settings, job.wildcards, m["sizes"]), m["primitives"])
            times += [] if t is None else [t]
    mean = sum(times) / len(times) if times else None
    hours = sum(times) / 3600 if times else None
    return {"status": "modelled", "model": words, "measured": len(times), "s_per_job": mean,
            "gpu_hours": hours}  # fmt: skip


def table(rows: list[dict]) -> str:
    """The Markdown table of :func:`project`: a row per modelled rule, the rules without a
    GPU grouped by reason; the total of the measured jobs."""
    lines = ["| rule | jobs | unit model | s per job (mean) | GPU hours |", "|---|---|---|---|---|"]
    for r in rows:
        if r["status"] == "not modelled":
            lines.append(f"| {r['rule']} | {r['jobs']} | **not modelled** | - | - |")
        elif r["status"] == "modelled":
            part = "" if r["measured"] == r["jobs"] else f" ({r['measured']} jobs measured)"
            s = "-" if r["s_per_job"] is None else f"{r['s_per_job']:.4g}"
            hours = "not measured" if r["gpu_hours"] is None else f"{r['gpu_hours']:.4g}{part}"
            lines.append(f"| {r['rule']} | {r['jobs']} | {r['model']} | {s} | {hours} |")
    for reason in dict.fromkeys(r["model"] for r in rows if r["status"] == "no GPU"):
        group = [r for r in rows if r["status"] == "no GPU" and r["model"] == reason]
        names = ", ".join(r["rule"] for r in group)
        lines.append(f"| {names} | {sum(r['jobs'] for r in group)} | no GPU: {reason} | - | 0 |")
    total = sum(r["gpu_hours"] or 0.0 for r in rows)
    lines.append(f"| **total** | {sum(r['jobs'] for r in rows)} | | | {total:.4g} |")
    return "\n".join(lines)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/paper.yaml")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", nargs="*", default=None, help="experiments, models, or ntk")
    ap.add_argument("--batch", type=int, default=None, help="training batch (default: config)")
    ap.add_argument("--samples", type=int, default=None, help="Hessian samples (default: config)")
    ap.add_argument("--steps", type=int, default=20, help="training steps per timed epoch")
    ap.add_argument("--eval-samples", type=int, default=2048, help="per split, timed passes")
    ap.add_argument("--memory-gb", default=None, help="override hessian.memory_gb (GB or auto)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plan", help="a plan JSON (bench.dag --plan) instead of the dry run")
    ap.add_argument("--json", default="gpu.json")
    return ap.parse_args(argv)


def _chosen(settings: Settings, only: list[str] | None) -> list:
    return [e for e in settings.experiments if not only or e.name in only or e.model in only]


def _plan(args: argparse.Namespace) -> DryRun | SavedPlan:
    """The planned jobs, read later: a started :class:`DryRun`, or ``--plan``'s."""
    return SavedPlan(args.plan) if args.plan else DryRun(args.config)


def main(argv: list[str] | None = None) -> dict:
    args = _arguments(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench.gpu: no CUDA device here; run it on a GPU machine (or --device cpu)")
    plan = _plan(args)  # the dry run takes seconds: it runs while the device measures
    settings = load_settings(yaml.safe_load(Path(args.config).read_text()))
    try:
        res, measured = _measure(args, settings)
        rows = project(settings, plan.jobs(), measured)
    finally:
        plan.close()
    res["projection"] = rows
    res["gpu_hours"] = {"total": sum(r["gpu_hours"] or 0.0 for r in rows)}
    print(table(rows))
    kind = "CPU hours at the smoke test's sizes, not GPU" if res["device"] == "cpu" else "GPU"
    print(f"{res['device']}: {res['gpu_hours']['total']:.4g} {kind} hours of the measured jobs")
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return res


def _measure(args: argparse.Namespace, settings: Settings) -> tuple[dict, dict[str, dict]]:
    """The device's versions and deterministic check, and the primitives of the chosen
    experiments (and the NTK sweep's): the result so far, and what :func:`project` reads."""
    device = setup(0, device=args.device)
    chosen = _chosen(settings, args.only)
    models = None if not args.only else sorted({e.model for e in chosen})
    res: dict = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "deterministic": deterministic_check(device, models),
        "experiments": {},
    }
    measured = {}
    for exp in chosen:
        h = settings.hessian_for(exp.name)
        if args.memory_gb is not None:
            gb = args.memory_gb if args.memory_gb == "auto" else float(args.memory_gb)
            h = dataclasses.replace(h, memory_gb=gb)
        row, sizes = measure_experiment(exp, h, settings, device, args)
        res["experiments"][exp.name] = row
        measured[exp.name] = {"sizes": sizes, "primitives": row["primitives"]}
        print(json.dumps({k: v for k, v in row.items() if k != "auto_chunk"}), flush=True)
    if not args.only or "ntk" in args.only:
        res["ntk"] = measure_ntk(settings.ntk, device)
        measured["ntk"] = {"sizes": None, "primitives": res["ntk"]}
    return res, measured


if __name__ == "__main__":
    main()
