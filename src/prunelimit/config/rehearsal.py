"""The papers' grid (``config/paper.yaml``) shrunk to a CPU rehearsal of its whole DAG.

:func:`rehearsal_config` copies every section and experiment of the paper config and overrides
only sizes (one seed, the CPU, epochs, batches, samples, steps, grids, draws), so the rehearsal
runs the same rules on the same experiments, models, datasets, schedules, warm-up, augmentation
and comparisons, and keys added to the paper config flow through. An override applies only to a
key the paper config has; each carries its one-line reason, repeated in the generated file's
header. ``python -m prunelimit.config.rehearsal`` writes ``.test/rehearsal.yaml`` from
``config/paper.yaml`` (run from the repository root); ``--check`` fails when that file is out of
date. ``tests/test_rehearsal.py`` runs it on synthetic datasets (:mod:`prunelimit.data.synthetic`).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from prunelimit.config.schema import SCHEMA
from prunelimit.config.validate import load_settings

PAPER = Path("config/paper.yaml")
OUT = Path(".test/rehearsal.yaml")
COMMAND = "python -m prunelimit.config.rehearsal"


# A new value (or a function of the paper's value; None: derived in `_train`) and why.
Override = tuple[Any, str]

EPOCHS = 3  # every training block; a warm-up epoch, two milestones and the early-bird check fit

TOP: dict[str, Override] = {
    "device": ("cpu", "CI has no GPU"),
    "threads_per_job": (1, "two jobs at once on CI's 2 cores"),
    "seeds": (lambda s: s[:1], "one seed: every seed runs the same jobs"),
}

TRAIN: dict[str, Override] = {
    "epochs": (EPOCHS, "room for one warm-up epoch, two milestones and one early-bird check"),
    "batch_size": (8, "ResNet50 at 64x64 trains at ~0.4 GB per sample; >= 2 batches for eps"),
    "warmup_epochs": (lambda w: min(w, 1), "one warm-up epoch where the paper warms up"),
    "milestones": (None, "moved into the shrunk epochs (by their share of the paper's)"),
    "lr": (None, "times the batch's shrink (linear scaling): ResNets diverge at the paper's"),
}

HESSIAN: dict[str, Override] = {
    "lanczos_steps": (
        lambda m: m if m == "auto" else 3,
        "3: a reorthogonalised run and its verdict against m // 2 (auto stays auto)",
    ),
    "lanczos_block": (2, "auto: the smallest block"),
    "max_lanczos_steps": (4, "auto: the smallest maximum (two blocks)"),
    "probes": (lambda p: min(p, 2), "two probes: the batched-probe path at the least cost"),
    "samples": (
        3,
        "a ResNet50 Hessian-vector product at 64x64 costs ~1.3 s per sample and vector on a "
        "core; three make two chunks (2 + 1) where the chunk is 2",
    ),
    "batch_size": (
        lambda b: b if b == "auto" else 2,
        "2 (two chunks, summed) unless auto, which memory_gb bounds",
    ),
    "memory_gb": (3, "auto within a CI job's share: ResNet50 on 64x64 gets chunks of 2 or 3"),
    "rows": (3, "three Hessian rows: a batched block of two (the probes) and a single one"),
    "basis_memory_gb": (
        0.2,
        "as the paper's 8 at 128 steps: FC5's, FC12's bases stay, others spill",
    ),
    "power_iterations": (3, "pyhessian's power iteration: a few steps"),
}

SECTIONS: dict[str, dict[str, Override]] = {
    "hessian": HESSIAN,
    "limit": {
        "coarse_points": (4, "the schema's minimum: each point evaluates every split"),
        "resolution": (0.1, "the coarsest grid allowed: at most 10 kept ratios per curve"),
    },
    "sap": {
        "iterations": (1, "one pruning step per method and scope"),
        "epochs": (1, "one epoch per retraining"),
    },
    "gradual": {
        "iterations": (lambda it: [0, 1], "the dense start and the one iteration trained"),
    },
    "compare": {
        "levels": (lambda v: v[-1:], "the sparsest level: one training per method at init"),
    },
    "ntk": {
        "widths": (lambda w: w[:2], "the paper's two smallest widths (a deviation trend)"),
        "p": (lambda p: [p[0], p[-1]], "the paper's first and last pruning probability"),
        "draws": (2, "two draws: a mean and a spread"),
        "real_batch": (8, "eight test inputs in the Gram matrices"),
        "real_widths": (lambda w: w[:1], "the paper's smallest width of the Gram comparison"),
    },
    "spline": {
        "grid": (16, "16 x 16 inputs for the partition codes"),
        "finetune_epochs": (lambda e: min(e, 1), "one masked fine-tuning epoch"),
        "densities": (
            lambda d: [d[0], d[len(d) // 2]],
            "the paper's first density and its middle one, where the bound's allocation differs",
        ),
    },
}


# sap.ablations: the first setting of each kind, so both ablation figures come from one run each
ABLATIONS: dict[str, Override] = {
    "pq": (lambda v: v[:1], "the first (p, q) setting: one extra SAP run"),
    "eta_gamma": (lambda v: v[:1], "the first (eta_r, gamma) setting: one extra SAP run"),
}
# spline.pruning (node pruning at the early bird): its own entries
NODE_PRUNING: dict[str, Override] = {
    "kept": (lambda k: sorted(k)[:1], "the sparsest kept node fraction: one run per method"),
    "retrain_epochs": (1, "one retraining epoch per pruned network"),
}
# Blocks inside sections, with their overrides.
NESTED: dict[tuple[str, str], dict[str, Override]] = {
    ("spline", "hessian"): HESSIAN,
    ("gradual", "hessian"): HESSIAN,
    ("sap", "ablations"): ABLATIONS,
    ("spline", "pruning"): NODE_PRUNING,
}


def _apply(block: dict, overrides: dict[str, Override]) -> dict:
    """``block`` with the overrides of the keys it has."""
    out = dict(block)
    for key, (value, _) in overrides.items():
        if key in out and value is not None:
            out[key] = value(out[key]) if callable(value) else value
    return out


def _scaled_milestones(milestones: list[int], before: int, after: int) -> list[int]:
    """Milestones moved from a run of ``before`` epochs to one of ``after``, inside it."""
    return sorted({min(after - 1, max(1, round(m * after / before))) for m in milestones})


def _train(block: dict, paper: dict) -> dict:
    """A ``train`` (or ``l1_train``, ``l2_train``) block shrunk, ``paper`` the experiment's
    ``train`` block (what ``block`` does not set): milestones follow the epochs and the
    learning rate follows the batch size (the linear scaling rule), so the smaller batches do
    not diverge."""
    out = _apply(block, TRAIN)
    if "milestones" in block:
        epochs = block.get("epochs", paper["epochs"])
        new = out.get("epochs", EPOCHS)
        out["milestones"] = _scaled_milestones(block["milestones"], epochs, new)
    if "lr" in block:
        before = block.get("batch_size", paper["batch_size"])
        after = _apply({"batch_size": before}, TRAIN)["batch_size"]
        out["lr"] = float(f"{block['lr'] * after / before:.6g}")
    return out


def _experiment(exp: dict) -> dict:
    out = dict(exp)
    if "train" in exp:
        out["train"] = _train(exp["train"], exp["train"])
        for block in ("l1_train", "l2_train"):
            if block in exp:
                out[block] = _train(exp[block], exp["train"])
    if "hessian" in exp:
        out["hessian"] = _apply(exp["hessian"], HESSIAN)
    return out


def rehearsal_config(paper: dict) -> dict:
    """The paper config with only its sizes shrunk (see the module docstring)."""
    cfg = _apply(copy.deepcopy(paper), TOP)
    cfg["experiments"] = [_experiment(e) for e in cfg["experiments"]]
    for name, overrides in SECTIONS.items():
        if name in cfg:
            cfg[name] = _apply(cfg[name], overrides)
    for (section, block), overrides in NESTED.items():
        if block in cfg.get(section, {}):
            cfg[section][block] = _apply(cfg[section][block], overrides)
    return cfg


def _reasons() -> list[str]:
    """One line per override: where, which key, why."""
    tables: list[tuple[str, dict[str, Override]]] = [
        ("top level", TOP),
        ("experiments[].train, l1_train and l2_train", TRAIN),
        ("hessian, experiments[].hessian, spline.hessian, gradual.hessian", HESSIAN),
        *((name, o) for name, o in SECTIONS.items() if name != "hessian"),
        ("sap.ablations", ABLATIONS),
        ("spline.pruning", NODE_PRUNING),
    ]
    lines = []
    for where, table in tables:
        lines += [f"{where}:", *(f"  {key}: {why}" for key, (_, why) in table.items())]
    return lines


def render(paper: dict, source: Path = PAPER) -> str:
    """The text of the rehearsal config: a header naming its ``source`` and the reasons, then
    the YAML."""
    header = [
        f"GENERATED from {source} by `{COMMAND}`: do not edit; rerun it",
        "after changing the paper config (`--check` and tests/test_rehearsal.py fail until then).",
        "The paper grid shrunk to a CPU rehearsal of its whole DAG (tests/test_rehearsal.py, on",
        "synthetic datasets): same experiments, models, datasets, schedules and comparisons.",
        "Only sizes differ (of the keys the paper config has), each for a reason:",
        *(f"  {line}" for line in _reasons()),
    ]
    body = yaml.safe_dump(
        rehearsal_config(paper), sort_keys=False, default_flow_style=None, width=80
    )
    return "".join(f"# {line}\n" for line in header) + body


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    """Write (or, with ``--check``, compare) the rehearsal config; 1 when it is out of date."""
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    ap.add_argument("--paper", type=Path, default=PAPER, help="the paper config")
    ap.add_argument("--out", type=Path, default=OUT, help="the rehearsal config written")
    ap.add_argument("--check", action="store_true", help="fail if --out is not up to date")
    args = ap.parse_args(argv)
    paper = yaml.safe_load(args.paper.read_text())
    text = render(paper, args.paper)
    load_settings(yaml.safe_load(text), SCHEMA)  # the workflow's validation
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            out(f"{args.out} is out of date with {args.paper}: run {COMMAND}")
            return 1
        out(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    out(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
