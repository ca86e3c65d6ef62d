"""An experiment (dataset + model + training settings) run for one seed: train, import, reload.

Glue between a config's experiments (:class:`~prunelimit.config.settings.ExperimentSettings`)
and the library; the workflow scripts call it so they stay free of science. ``kind`` is one of
:data:`~prunelimit.config.kinds.KINDS` (``dense``, ``l1``, ``l2``), each trained with
:func:`~prunelimit.config.kinds.train_settings`.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import ExperimentSettings, TrainSettings
from prunelimit.data import DatasetSpec, DatasetSplits
from prunelimit.io import load_torch, save_torch, write_json
from prunelimit.limit.regime import regime_diagnostic, warning, weights_only_regime
from prunelimit.models.import_path import ModelError
from prunelimit.models.registry import build_model
from prunelimit.pruning import (
    count_prunable,
    prunable_weights,
)
from prunelimit.sap.iterative import run_pruning
from prunelimit.sap.strategies import PruneSettings
from prunelimit.spline.tickets import MAX_LAYER_BITS
from prunelimit.spline.trajectory import watch_recorder, watched
from prunelimit.training.convergence import training_summary
from prunelimit.training.imported import check_state_dict, sha256_of
from prunelimit.training.loop import final_metrics, fingerprint, fit, loss_gradient, lr_at_epoch


def new_model(
    exp: ExperimentSettings, data: DatasetSplits | DatasetSpec, seed: int | None = None
) -> nn.Module:
    """The experiment's model for ``data``'s input shape and classes (a prepared dataset or
    just its :class:`~prunelimit.data.DatasetSpec`), initialised from ``seed``."""
    try:
        return build_model(
            exp.model, data.input_shape, data.num_classes, seed=seed, **exp.model_args
        )
    except ModelError as err:
        raise ModelError(f"experiment {exp.name!r}: {err}") from None


def record_of(path: str | Path) -> Path:
    """The JSON that records the sha256 of a run's torch file: ``{kind}_metrics.json``, written
    beside ``{kind}.pt`` and ``{kind}_watch.pt`` by the same job."""
    path = Path(path)
    return path.with_name(f"{path.stem.removesuffix('_watch')}_metrics.json")


def load_run_file(path: str | Path, device: torch.device | str = "cpu") -> object:
    """Load a run's torch file (state dict, observations), checked against the sha256 its
    metrics recorded (a file without a record, written before digests were, loads unchecked)."""
    return load_torch(path, map_location=device, record=record_of(path))


def load_trained(
    exp: ExperimentSettings,
    data: DatasetSplits | DatasetSpec,
    path: str | Path,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Rebuild the experiment's model and load a saved state dict (eval mode), checked
    (:func:`load_run_file`)."""
    model = new_model(exp, data)
    state = load_run_file(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise RuntimeError(
            f"{path} does not hold weights of experiment {exp.name!r} "
            f"({exp.model} on {exp.dataset}); delete it to retrain: {err}"
        ) from err
    return model.to(device).eval()


def metrics_header(exp: ExperimentSettings, kind: str, seed: int, model: nn.Module) -> dict:
    """What every ``{kind}_metrics.json`` starts with: the run and the network's size."""
    return {
        "experiment": exp.name,
        "kind": kind,
        "seed": seed,
        "dataset": exp.dataset,
        "model": exp.model,
        "D": count_prunable(model),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


def write_run(
    model: nn.Module,
    metrics: dict,
    model_out: str | Path,
    metrics_out: str | Path,
    files: Mapping[str | Path, object] | None = None,
) -> None:
    """Write a run's outputs: its state dict at ``model_out``, each of ``files`` (path ->
    object) as a torch file, and last ``metrics`` at ``metrics_out`` with the sha256 of each
    (the record :func:`load_run_file` checks)."""
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    metrics["sha256"] = {Path(model_out).name: save_torch(model_out, weights)}
    for path, obj in (files or {}).items():
        metrics["sha256"][Path(path).name] = save_torch(path, obj)
    write_json(metrics_out, metrics)  # last: it records the digests of the files above


def train_experiment(
    exp: ExperimentSettings,
    kind: str,
    seed: int,
    data: DatasetSplits,
    device: torch.device,
    model_out: str | Path,
    metrics_out: str | Path,
    checkpoint: str | Path | None = None,
    watch: dict | None = None,
    watch_out: str | Path | None = None,
) -> dict:
    """Train ``exp`` (dense or l1) for ``seed``; write the state dict and the metrics JSON.

    Initial weights depend only on ``seed`` (dense and l1 runs start from the same point). With
    ``watch`` (``grid``, ``margin``, ``threshold``, ``window`` of the spline stage) the run is
    observed by a :class:`~prunelimit.spline.tickets.CodeRecorder`, which does not change the
    training, and ``watch_out`` receives its observations (``{"watched": False}`` without
    ``watch``). The checkpoint (and the recorder's spool) is removed once every output is written.
    """
    s = train_settings(exp, kind)
    model = new_model(exp, data, seed=seed).to(device)
    run_id = fingerprint(exp=exp.as_dict(), kind=kind, seed=seed, data=data.meta, settings=repr(s))
    recorder = None
    if watch:
        # a recording with another cap on its codes cannot be continued (nor an older one)
        run_id = fingerprint(run=run_id, watch=watch, max_layer_bits=MAX_LAYER_BITS)
        spool = Path(f"{checkpoint}.codes") if checkpoint is not None else None
        recorder = watch_recorder(data, watch, spool)
        recorder(0, model)  # the initialisation (a resumed run restores the whole recording)
    print(
        f"training {exp.name} ({exp.model} on {exp.dataset}), {kind}, seed {seed}, "
        f"D = {count_prunable(model)}, device {device}",
        flush=True,
    )
    history = fit(
        model, data, s, seed=seed, checkpoint=checkpoint, run_id=run_id, on_epoch_end=recorder
    )
    summary = training_summary(history, s, data, model)
    if not math.isfinite(summary["final"]["train_loss"]):
        raise RuntimeError(f"{exp.name} {kind} seed {seed}: final training loss is not finite")
    metrics = {**metrics_header(exp, kind, seed, model), "settings": s.__dict__, **summary}
    metrics["history"] = history
    if s.l1 > 0:
        metrics["regime"] = regime_of(model, s, data, summary)
        message = warning(metrics["regime"])
        print(message or "in the l1 regime: " + metrics["regime"]["rule"], flush=True)
    files = {}
    if watch_out is not None:
        files[watch_out] = (
            {"watched": False} if recorder is None else watched(recorder, watch, history)
        )
    write_run(model, metrics, model_out, metrics_out, files)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
        shutil.rmtree(f"{checkpoint}.codes", ignore_errors=True)
    print(
        f"done: train loss {summary['final']['train_loss']:.4f}, test acc "
        f"{summary['final']['test_acc']:.4f}, {summary['verdict']}",
        flush=True,
    )
    return metrics


def _schedule(model: nn.Module, s: TrainSettings, n_train: int) -> dict:
    """The arguments of :func:`prunelimit.limit.regime.regime_diagnostic` that the settings and the
    architecture determine: prunable shapes, the lr of each epoch, steps, l1, momentum."""
    return {
        "shapes": {n: tuple(w.shape) for n, w in prunable_weights(model).items()},
        "epoch_lrs": [lr_at_epoch(s, e) for e in range(s.epochs)],
        "steps_per_epoch": math.ceil(n_train / s.batch_size),
        "l1": s.l1,
        "momentum": s.momentum,
    }


def regime_of(model: nn.Module, s: TrainSettings, data: DatasetSplits, summary: dict) -> dict:
    """The l1-regime diagnostic (:mod:`prunelimit.limit.regime`) of a finished l1 run of ``model``,
    with the stationarity of ``w*`` from one full-batch gradient of the training loss."""
    weights = prunable_weights(model)
    # in chunks of the training batch, which fits where the run trained (a ResNet50 on 64x64
    # inputs keeps ~0.4 GB per sample for the backward pass; the default 1024 would not fit)
    grads = loss_gradient(model, data.train, batch_size=s.batch_size)
    return regime_diagnostic(
        **_schedule(model, s, len(data.train)),
        weights=list(weights.values()),
        objective_plateau=summary["objective_plateau"]["converged"],
        grads=[grads[n] for n in weights],
        collapsed=bool((summary.get("collapse") or {}).get("collapsed")),
    )


def import_experiment(
    exp: ExperimentSettings,
    kind: str,
    seed: int,
    data: DatasetSplits,
    source: str | Path,
    model_out: str | Path,
    metrics_out: str | Path,
) -> dict:
    """Check and import weights trained elsewhere for ``exp``
    (:func:`prunelimit.training.imported.check_state_dict`): written where a trained run would
    be, with the weights-only regime diagnostic (and the drift rule when the experiment's
    ``train`` block describes how they were made)."""
    model = new_model(exp, data, seed=seed)
    described = (
        f"model {exp.model} for {exp.dataset} (input {tuple(data.input_shape)}, "
        f"{data.num_classes} classes)"
    )
    model.load_state_dict(check_state_dict(model, source, exp.name, described))
    model.eval()
    metrics = {
        **metrics_header(exp, kind, seed, model),
        "source": str(source),
        "source_sha256": sha256_of(source),
        "trained_here": False,
        "settings": exp.train,
        "final": final_metrics(model, data),
        "converged": None,
    }
    if kind == "l1":
        drift = None
        if exp.train:
            s = train_settings(exp, "l1")
            drift = regime_diagnostic(**_schedule(model, s, len(data.train)))
        metrics["regime"] = weights_only_regime(model, drift)
    write_run(model, metrics, model_out, metrics_out)
    print(
        f"imported {kind} weights of {exp.name} from {source} (sha256 "
        f"{metrics['source_sha256'][:12]}...): train loss {metrics['final']['train_loss']:.4f}, "
        f"test acc {metrics['final']['test_acc']:.4f}",
        flush=True,
    )
    return metrics


def prune_experiment(
    exp: ExperimentSettings,
    data: DatasetSplits,
    method: str,
    scope: str,
    hyper: dict,
    seed: int,
    device: torch.device | str,
    checkpoint: str | Path | None,
    start: dict | None,
    train: TrainSettings,
    observer=None,
) -> list[dict]:
    """The iterative pruning run of ``method`` in ``scope`` (:func:`prunelimit.sap.iterative.
    run_pruning`) for an experiment: its model, the dense start's settings ``train``
    (:func:`~prunelimit.config.kinds.start_settings`, rescaled to ``E`` per iteration), the SAP
    hyperparameters ``hyper`` (``iterations``, ``epochs`` and the strategy's), resumable from
    ``checkpoint``, from the shared dense ``start``."""
    return run_pruning(
        method,
        scope,
        lambda: new_model(exp, data, seed=seed).to(device),
        data,
        train,
        iterations=int(hyper["iterations"]),
        epochs=int(hyper["epochs"]),
        hyper=PruneSettings.from_dict(hyper),
        seed=seed,
        checkpoint=checkpoint,
        log=lambda s: print(s, flush=True),
        identity=exp.identity(),
        start=start,
        observer=observer,
    )
