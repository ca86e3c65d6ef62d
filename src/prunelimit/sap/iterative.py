"""The iterative pruning driver: train, prune with a registered strategy, rewind, repeat.

Diao et al. (ICLR 2023). Iteration ``t = 0, 1, ..., T``: rewind to the true initialisation
(the full initial state dict: weights, biases and BatchNorm) and apply the mask ``m_t``, train
``E`` epochs with the mask held (``fit(..., masks=m_t)``) to ``w_t``, then let the strategy
(:mod:`prunelimit.sap.strategies`: ``sap``, ``lt``, ``os`` or any registered one) make ``m_{t+1}``.
Only the prunable weights of :mod:`prunelimit.pruning` (Linear/Conv ``weight``) are measured
and pruned.

Iteration 0 is the dense network (same initialisation and data order for every method of a
seed), trained with the dense start's settings (:func:`prunelimit.config.kinds.start_settings`:
as the l1 run under the matched budget). ``T`` iterations prune ``T`` times; the last record
also carries the step it *would* take (``next_percent``, ``pqi_pruned``). Each later iteration
retrains with the dense start's settings rescaled to ``epochs = E`` (``l1 = 0``; milestones
and warm-up rescaled by ``E / epochs``). Runs are resumable at iteration granularity (and
within an iteration at epoch granularity) and a resumed run gives exactly the records of an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

import pandas as pd
import torch
from torch import nn

from prunelimit.config.kinds import rescaled
from prunelimit.config.settings import TrainSettings
from prunelimit.data import DatasetSplits
from prunelimit.io import load_checkpoint, save_torch
from prunelimit.pruning import (
    Masks,
    apply_masks,
    count_prunable,
    flat_weights,
    full_masks,
    kept_ratio,
    masked,
    prunable_weights,
)
from prunelimit.sap.pqi import pq_index
from prunelimit.sap.strategies import PruneSettings, PruningState, Strategy, get_strategy
from prunelimit.training.loop import evaluate, fingerprint, fit


class IterationObserver(Protocol):
    """What :func:`run_pruning` calls after each trained iteration (and checkpoints)."""

    def __call__(self, t: int, model: nn.Module, masks: Masks) -> None: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def _masks_hash(masks: Masks) -> str:
    h = hashlib.sha256()
    for name, m in masks.items():
        h.update(name.encode())
        h.update(m.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _cpu(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in d.items()}


def _train_iteration(
    model: nn.Module,
    init_state: dict[str, torch.Tensor],
    masks: Masks,
    t: int,
    data: DatasetSplits,
    settings: TrainSettings,
    seed: int,
    checkpoint: Path | None,
    run_id: str,
    log: Callable[[str], None],
) -> dict:
    """Rewind ``model`` to ``init_state`` under ``masks`` and train iteration ``t``; per-epoch
    evaluations are skipped (the records evaluate the trained network once)."""
    model.load_state_dict(init_state)  # rewind everything: weights, biases, BN
    apply_masks(model, masks)
    iter_seed = seed * 100_003 + t  # same data order for every method of a seed
    torch.manual_seed(iter_seed)
    return fit(
        model,
        data,
        settings,
        iter_seed,
        checkpoint=checkpoint,
        run_id=fingerprint(run=run_id, t=t, masks=_masks_hash(masks)),
        masks=masks,
        log=log,
        evaluate_epochs=False,
    )


def dense_start(
    build: Callable[[], nn.Module],
    data: DatasetSplits,
    settings: TrainSettings,
    seed: int,
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Iteration 0 of every method and scope of a seed, trained once with ``settings``
    (:func:`prunelimit.config.kinds.start_settings`) from ``w_init`` (``build()``), with its
    test accuracy: :func:`run_pruning`'s ``start`` (with ``train = settings``)."""
    model = build()
    init_state = _cpu(model.state_dict())
    masks = full_masks(prunable_weights(model))
    run_id = fingerprint(dense_start=True, seed=seed, settings=asdict(settings), data=data.meta)
    ckpt = Path(checkpoint) if checkpoint else None
    log(f"[dense start] iteration 0: {settings.epochs} epochs from the initialisation")
    history = _train_iteration(model, init_state, masks, 0, data, settings, seed, ckpt, run_id, log)
    test_loss, test_acc = evaluate(model, data.test)
    log(f"[dense start] test accuracy {test_acc:.4f}")
    return {
        "init_state": init_state,
        "state": _cpu(model.state_dict()),
        "train_loss": history["train_loss"][-1],
        "test_loss": test_loss,
        "test_acc": test_acc,
        "settings": asdict(settings),
        "seed": seed,
    }


def _run_fingerprint(
    method: str,
    scope: str,
    hyper: PruneSettings,
    seed: int,
    settings: TrainSettings,
    first: TrainSettings,
    model: nn.Module,
    data: DatasetSplits,
    identity: dict | None,
) -> str:
    """Fingerprint of everything that determines a :func:`run_pruning` run (``settings``: one
    iteration's, ``first``: iteration 0's; the prunable tensors' names and count of ``model``);
    a checkpoint is resumed only under the same one."""
    return fingerprint(
        method=method,
        scope=scope,
        hyper=asdict(hyper),
        seed=seed,
        settings=asdict(settings),
        first=asdict(first),
        names=list(prunable_weights(model)),
        total=count_prunable(model),
        data=data.meta,
        identity=identity or {},
    )


@dataclass
class _Progress:
    """A :func:`run_pruning` run between iterations, as its checkpoint holds it: the rewind point
    ``w_init`` (full state dict, CPU), the records of the iterations trained so far, the mask
    ``m_t`` of the next (on the model's device) and the dense weights ``w_0`` (CPU; None until
    iteration 0 is trained)."""

    init_state: dict[str, torch.Tensor]
    records: list[dict]
    masks: Masks
    dense: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class _Run:
    """What stays fixed over the iterations of one :func:`run_pruning` run (``settings``: one
    iteration's; ``total``: ``D``; ``iter_ckpt``: the within-iteration checkpoint; ``label``:
    ``[method/scope]`` for the log)."""

    strategy: Strategy
    model: nn.Module
    data: DatasetSplits
    settings: TrainSettings
    first: TrainSettings
    hyper: PruneSettings
    seed: int
    iterations: int
    total: int
    run_id: str
    start: dict | None
    observer: IterationObserver | None
    iter_ckpt: Path | None
    label: str
    log: Callable[[str], None]


def _resume(
    ckpt: Path | None,
    run_id: str,
    fresh: _Progress,
    device: torch.device,
    iterations: int,
    observer: IterationObserver | None,
    log: Callable[[str], None],
) -> _Progress:
    """The progress saved in ``ckpt`` if it was written for ``run_id`` (masks moved to
    ``device``, records cut to ``iterations + 1``, the observer's state restored), else
    ``fresh``."""
    state = load_checkpoint(ckpt, log=log)
    if state is None:
        return fresh
    if state.get("run_id") != run_id:
        log(f"ignoring checkpoint {ckpt}: it belongs to another run configuration")
        return fresh
    masks = {k: v.to(device) for k, v in state["masks"].items()}
    records = state["records"][: iterations + 1]
    progress = _Progress(state["init_state"], records, masks, state["dense"])
    if observer is not None:
        observer.load_state_dict(state.get("observer", {}))
    log(f"resumed from {ckpt} after iteration {len(records) - 1}")
    return progress


def _save_progress(ckpt: Path, run: _Run, progress: _Progress) -> None:
    """Write ``progress`` (masks on the CPU) and the observer's state atomically to ``ckpt``,
    then remove the within-iteration checkpoint: the iteration is done."""
    save_torch(
        ckpt,
        {
            "run_id": run.run_id,
            "init_state": progress.init_state,
            "records": progress.records,
            "masks": _cpu(progress.masks),
            "dense": progress.dense,
            "observer": run.observer.state_dict() if run.observer is not None else {},
        },
    )
    if run.iter_ckpt is not None:
        run.iter_ckpt.unlink(missing_ok=True)


def _trained_history(run: _Run, t: int, progress: _Progress) -> dict:
    """Put ``w_t`` in ``run.model`` and return its training history: iteration 0 of
    ``run.start`` (:func:`dense_start`) if given, else ``w_init`` under ``m_t`` trained by
    :func:`_train_iteration`."""
    if t == 0 and run.start is not None:
        run.model.load_state_dict(run.start["state"])
        return {"train_loss": [run.start["train_loss"]]}
    settings = run.first if t == 0 else run.settings
    return _train_iteration(run.model, progress.init_state, progress.masks, t, run.data,
                            settings, run.seed, run.iter_ckpt, run.run_id, run.log)  # fmt: skip


def _record(
    run: _Run,
    t: int,
    kept: int,
    history: dict,
    weights: dict[str, torch.Tensor],
    masks: Masks,
    new_masks: Masks,
    info: dict,
) -> dict:
    """The record of iteration ``t`` (fields: see :func:`run_pruning`) of the trained network
    ``w_t`` (``weights``, in ``run.model``) with ``kept`` weights under ``masks`` (``m_t``);
    ``new_masks`` (``m_{t+1}``) and ``info`` from the strategy."""
    data, hyper = run.data, run.hyper
    val = evaluate(run.model, data.val) if len(data.val) else (math.nan, math.nan)
    test = evaluate(run.model, data.test)
    with masked(run.model, new_masks):  # the just-pruned network, before retraining
        just_pruned = evaluate(run.model, data.test)
    pqi_groups = info["pqi"][~info["pqi"].isnan()]
    return {
        "iteration": t,
        "kept": kept,
        "percent": 100.0 * kept / run.total,
        "train_loss": history["train_loss"][-1] if history["train_loss"] else math.nan,
        "val_loss": val[0],
        "val_acc": val[1],
        "test_loss": test[0],
        "test_acc": test[1],
        "pruned_test_acc": just_pruned[1],
        "pqi_trained": pq_index_all(weights, masks, hyper.p, hyper.q),
        "pqi_pruned": pq_index_all(weights, new_masks, hyper.p, hyper.q),
        "pqi_scope": float(pqi_groups.mean()) if pqi_groups.numel() else math.nan,
        "bound": float(info["r"].sum()),
        "pruned": int(info["c"].sum()),
        "next_percent": 100.0 * kept_ratio(new_masks),
        "layers": {n: float(m.float().mean()) for n, m in masks.items()},
    }


def _iterate(run: _Run, t: int, progress: _Progress) -> None:
    """Iteration ``t``: get ``w_t`` (:func:`_trained_history`), let the strategy make
    ``m_{t+1}``, append the record, call the observer with ``m_t``, then advance
    ``progress.masks`` to ``m_{t+1}``."""
    kept = sum(int(m.sum()) for m in progress.masks.values())
    run.log(f"{run.label} iteration {t}/{run.iterations}: {100 * kept / run.total:.3f} % kept")
    history = _trained_history(run, t, progress)
    weights = {n: p.detach() for n, p in prunable_weights(run.model).items()}
    if t == 0:
        progress.dense = _cpu(weights)
    state = PruningState(t, progress.dense)
    new_masks, info = run.strategy.next_masks(weights, progress.masks, state)
    r = _record(run, t, kept, history, weights, progress.masks, new_masks, info)
    progress.records.append(r)
    run.log(
        f"{run.label} iteration {t}: test_acc {r['test_acc']:.4f} pqi "
        f"{r['pqi_trained']:.4f} -> {r['pqi_pruned']:.4f} bound {r['bound']:.1f} "
        f"pruned {r['pruned']} -> {r['next_percent']:.3f} % kept"
    )
    if run.observer is not None:
        run.observer(t, run.model, progress.masks)
    progress.masks = new_masks


def run_pruning(
    method: str,
    scope: str,
    build: Callable[[], nn.Module],
    data: DatasetSplits,
    train: TrainSettings,
    iterations: int,
    epochs: int,
    hyper: PruneSettings,
    seed: int,
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = print,
    identity: dict | None = None,
    start: dict | None = None,
    observer: IterationObserver | None = None,
) -> list[dict]:
    """Run ``iterations`` (``T``) pruning iterations of ``method`` in ``scope``; one record per
    trained network ``t = 0..T`` (see the module docstring).

    ``build()`` returns the freshly initialised model on the training device (seeded by the
    caller); its full state dict is ``w_init``. ``train``: the dense start's settings
    (iteration 0 trains with them and ``l1 = 0``; iteration ``t >= 1`` with them rescaled to
    ``epochs``: :func:`prunelimit.config.kinds.rescaled`). Each record: ``iteration``, ``kept``,
    ``percent`` (of prunable weights kept by ``m_t``), ``train_loss``, ``val_loss``,
    ``val_acc``, ``test_loss``, ``test_acc``, ``pruned_test_acc`` (of the just-pruned network
    ``w_t * m_{t+1}``, before retraining), ``pqi_trained`` / ``pqi_pruned`` (global PQI of
    ``w_t`` over ``m_t`` / ``m_{t+1}``), ``pqi_scope`` (mean group PQI in the scope), ``bound``
    (sum of the groups' ``r_t``), ``pruned`` (sum of ``c_t``), ``next_percent`` and ``layers``
    (tensor name -> kept fraction of ``m_t``). ``checkpoint``: resume file, written atomically
    after every iteration (plus ``<checkpoint>.iter`` within an iteration). A checkpoint is
    resumed only if it was written for the same data, ``identity`` (e.g. the experiment's name,
    dataset, model), method, scope, hyperparameters, seed and settings. ``start``: the trained
    iteration 0 of :func:`dense_start` (the same for every method and scope of a seed), used
    instead of training it again. ``observer(t, model, masks)`` is called after each trained
    iteration (``masks`` = ``m_t``); its ``state_dict()`` is kept in the checkpoint.
    """
    strategy = get_strategy(method)(scope, hyper)
    model = build()
    device = next(model.parameters()).device
    init_state = _cpu(model.state_dict())
    fresh = _Progress(init_state, [], full_masks(prunable_weights(model)))
    settings, first = rescaled(train, epochs), replace(train, l1=0.0)
    run_id = _run_fingerprint(method, scope, hyper, seed, settings, first, model, data, identity)
    if start is not None:
        same_init = all(torch.equal(v, start["init_state"][k]) for k, v in init_state.items())
        if not same_init or start["settings"] != asdict(first) or start["seed"] != seed:
            raise ValueError("the dense start belongs to another initialisation or settings")
    ckpt = Path(checkpoint) if checkpoint else None
    progress = _resume(ckpt, run_id, fresh, device, iterations, observer, log)
    iter_ckpt = Path(f"{ckpt}.iter") if ckpt is not None else None
    run = _Run(strategy=strategy, model=model, data=data, settings=settings, first=first,
               hyper=hyper,
               seed=seed, iterations=iterations, total=count_prunable(model), run_id=run_id,
               start=start, observer=observer, iter_ckpt=iter_ckpt, label=f"[{method}/{scope}]",
               log=log)  # fmt: skip
    for t in range(len(progress.records), iterations + 1):
        _iterate(run, t, progress)
        if ckpt is not None:
            _save_progress(ckpt, run, progress)
    return progress.records


def pq_index_all(weights: dict[str, torch.Tensor], masks: Masks, p: float, q: float) -> float:
    """Global PQI: all prunable weights as one vector, over the entries ``masks`` keeps."""
    flat = flat_weights(weights)
    mask = torch.cat([masks[n].to(flat.device).reshape(-1) for n in weights])
    return pq_index(flat, p, q, mask)


def records_frame(records: list[dict], **columns: object) -> pd.DataFrame:
    """Records as a table; ``layers`` become ``kept[<name>]`` columns; ``columns`` are added
    as constant columns in front (e.g. experiment, method, scope, seed)."""
    rows = []
    for rec in records:
        row = {**columns, **{k: v for k, v in rec.items() if k != "layers"}}
        row.update({f"kept[{n}]": f for n, f in rec.get("layers", {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)
