"""An experiment (dataset + model + training settings) run for one seed: train, reload.

This is the glue between the config's experiment dicts and the library; the workflow scripts
call it so they stay free of science.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from prunelimit.data import DatasetSplits
from prunelimit.io import load_torch, save_torch, write_json
from prunelimit.models import build_model
from prunelimit.pruning import count_prunable
from prunelimit.training import TrainSettings, fingerprint, fit, summarise

KINDS = ("dense", "l1")


def settings_for(exp: dict, kind: str) -> TrainSettings:
    """Training settings of ``kind``: ``l1`` uses the experiment's l1 strength, ``dense`` 0."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    train = dict(exp["train"])
    if kind == "dense":
        train["l1"] = 0.0
    return TrainSettings.from_dict(train)


def new_model(exp: dict, data: DatasetSplits, seed: int | None = None) -> nn.Module:
    return build_model(
        exp["model"], data.input_shape, data.num_classes, seed=seed, **exp.get("model_args", {})
    )


def load_trained(
    exp: dict, data: DatasetSplits, path: str | Path, device: torch.device | str = "cpu"
) -> nn.Module:
    """Rebuild the experiment's model and load a saved state dict (eval mode)."""
    model = new_model(exp, data)
    model.load_state_dict(load_torch(path))
    return model.to(device).eval()


def train_experiment(
    exp: dict,
    kind: str,
    seed: int,
    data: DatasetSplits,
    device: torch.device,
    model_out: str | Path,
    metrics_out: str | Path,
    checkpoint: str | Path | None = None,
) -> dict:
    """Train ``exp`` (dense or l1) for ``seed``; write the state dict and the metrics JSON.

    Initial weights depend only on ``seed`` (dense and l1 runs start from the same point). The
    checkpoint is removed once both outputs are written.
    """
    s = settings_for(exp, kind)
    model = new_model(exp, data, seed=seed).to(device)
    run_id = fingerprint(exp=exp, kind=kind, seed=seed, data=data.meta, settings=repr(s))
    print(
        f"training {exp['name']} ({exp['model']} on {exp['dataset']}), {kind}, seed {seed}, "
        f"D = {count_prunable(model)}, device {device}",
        flush=True,
    )
    history = fit(model, data, s, seed=seed, checkpoint=checkpoint, run_id=run_id)
    summary = summarise(history, s, data, model)
    if not math.isfinite(summary["final"]["train_loss"]):
        raise RuntimeError(f"{exp['name']} {kind} seed {seed}: final training loss is not finite")
    metrics = {
        "experiment": exp["name"],
        "kind": kind,
        "seed": seed,
        "dataset": exp["dataset"],
        "model": exp["model"],
        "settings": s.__dict__,
        "D": count_prunable(model),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        **summary,
        "history": history,
    }
    save_torch(model_out, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    write_json(metrics_out, metrics)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    verdict = "converged" if summary["converged"] else "NOT converged (loss still falling)"
    print(
        f"done: train loss {summary['final']['train_loss']:.4f}, test acc "
        f"{summary['final']['test_acc']:.4f}, {verdict}",
        flush=True,
    )
    return metrics
