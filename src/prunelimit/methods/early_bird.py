"""The node-pruning driver of the spline stage (You et al., TMLR 2022): prune nodes of the
network at the spline early-bird epoch, retrain it, evaluate.

Every run starts from the same weights: those of the watched l1 run at its early-bird epoch
``e`` (:class:`~prunelimit.spline.tickets.CodeRecorder`; when no early bird was found, its final
weights, ``e`` = its epochs). A node method (:mod:`prunelimit.methods.nodes`) keeps a kept node
fraction of the nodes (layer-wise or global, :func:`~prunelimit.spline.pruning.select_nodes`);
the pruned network, its pruned nodes cut out (:func:`~prunelimit.spline.compact.compact`: the
same function as the network with those nodes masked, at the cost of its kept nodes), retrains
``retrain.epochs`` epochs (the run's schedule rescaled to them, ``l1 = 0``:
:func:`~prunelimit.config.kinds.rescaled`) with the data order of ``seed``; it trains as the
masked network would (a pruned node's output is 0 and its weights get no gradient), up to float
rounding. The ``unpruned`` run retrains the same weights: the reference.

**Training FLOPs** = 3 x forward FLOPs per sample x training samples x epochs (backward = 2 x
forward), summed over the ``e`` dense epochs before the early bird and the retraining epochs of
the pruned architecture (:func:`~prunelimit.spline.nodes.structure`: Linear and Conv MACs x 2;
the partition codes recorded to find the early bird are not counted).

**Training speed** (the paper's Figs. 2-3, middle): a training step of the pruned network
against one of the dense network, the two alternating, at the retraining batch on the job's
device (:func:`~prunelimit.spline.compact.step_seconds`): ``train_speedup`` > 1 is faster.

Resumable by run: the records of the finished runs are kept in ``checkpoint`` (and a run's
training in ``<checkpoint>.run``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from prunelimit.config.kinds import rescaled
from prunelimit.config.settings import TrainSettings
from prunelimit.data import DatasetSplits
from prunelimit.io import load_checkpoint, save_torch
from prunelimit.methods.budget import budget_columns
from prunelimit.methods.nodes import get_node_method
from prunelimit.spline.compact import compact, step_seconds
from prunelimit.spline.nodes import (
    has_batchnorm,
    node_layers,
    output_positions,
    structure,
)
from prunelimit.spline.pruning import select_nodes
from prunelimit.training.loop import evaluate, fingerprint, fit

UNPRUNED = ("unpruned", "-", 1.0)  # the reference run of a plan: no masks

Run = tuple[str, str, float]  # (method, scope, kept node fraction)


@dataclass(frozen=True)
class EarlyBirdContext:
    """What every run of the driver shares: the data, the seed (data order, random scores),
    the retraining settings, the early-bird epoch (None: not found, pruned at the end) and the
    dense epochs trained before pruning."""

    data: DatasetSplits
    seed: int
    retrain: TrainSettings
    eb_epoch: int | None
    dense_epochs: int


def early_bird_context(
    run: TrainSettings,
    detected: int | None,
    retrain_epochs: int | None,
    data: DatasetSplits,
    seed: int,
) -> EarlyBirdContext:
    """The context of a watched run trained with ``run`` whose early bird is ``detected``:
    retraining ``retrain_epochs`` (None: the run's epochs left after the early bird, at least
    one) with ``run`` rescaled to them and ``l1 = 0``."""
    dense = run.epochs if detected is None else int(detected)
    epochs = retrain_epochs if retrain_epochs is not None else max(1, run.epochs - dense)
    return EarlyBirdContext(data, int(seed), rescaled(run, int(epochs)), detected, dense)


def node_plan(
    methods: list[str], scopes: list[str], kept: list[float], batchnorm: bool
) -> tuple[list[Run], list[str]]:
    """The runs: the unpruned reference, then every method in every scope at every kept
    fraction (largest first); and the methods left out (needing BatchNorm the network lacks)."""
    runs, skipped = [UNPRUNED], []
    for name in methods:
        if get_node_method(name).needs_bn and not batchnorm:
            skipped.append(name)
            continue
        runs += [(name, s, float(f)) for s in scopes for f in sorted(kept, reverse=True)]
    return runs, skipped


def state_digest(model: nn.Module) -> str:
    """sha256 (16 hex digits) of a model's state: a checkpoint of other weights is ignored."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def training_flops(ctx: EarlyBirdContext, dense_flops: int, flops: int) -> int:
    """3 x forward FLOPs x samples x epochs: the dense epochs before pruning at
    ``dense_flops`` per sample, the retraining at ``flops`` (module docstring)."""
    n = len(ctx.data.train)
    return 3 * n * (dense_flops * ctx.dense_epochs + flops * ctx.retrain.epochs)


def _cost_columns(ctx: EarlyBirdContext, dense: dict, size: dict) -> dict:
    train, reference = (
        training_flops(ctx, dense["forward_flops"], size["forward_flops"]),
        training_flops(ctx, dense["forward_flops"], dense["forward_flops"]),
    )
    return {
        **size,
        "node_fraction": size["kept_nodes"] / size["nodes"],
        "weight_fraction": size["kept_weights"] / size["weights"],
        "dense_forward_flops": dense["forward_flops"],
        "train_flops": train,
        "dense_train_flops": reference,
        "flops_saving": reference / train,
        "train_speedup": size["dense_step_seconds"] / size["step_seconds"],
    }


def run_record(
    run: Run, model: nn.Module, ctx: EarlyBirdContext, dense: dict, size: dict, pruned_acc: float
) -> dict:
    """The record of one run: what it kept, its cost, its accuracy right after pruning and
    after retraining, its budget (:func:`~prunelimit.methods.budget.budget_columns`)."""
    data = ctx.data
    val = evaluate(model, data.val) if len(data.val) else (math.nan, math.nan)
    test = evaluate(model, data.test)
    start = "final weights" if ctx.eb_epoch is None else f"early bird (epoch {ctx.eb_epoch})"
    return {
        "method": run[0],
        "scope": run[1],
        "kept_target": run[2],
        "eb_epoch": ctx.eb_epoch,
        "dense_epochs": ctx.dense_epochs,
        **_cost_columns(ctx, dense, size),
        "pruned_test_acc": pruned_acc,
        "val_acc": val[1],
        "test_loss": test[0],
        "test_acc": test[1],
        **budget_columns(
            start, ctx.retrain.epochs, ctx.dense_epochs + ctx.retrain.epochs, ctx.retrain
        ),  # fmt: skip
    }


def _prune(model: nn.Module, run: Run, ctx: EarlyBirdContext, cache: dict) -> tuple:
    """The node layers of ``model`` (the early-bird weights) and the kept node masks of ``run``
    (None: unpruned); the scores of a (method, scope) are computed once, in ``cache``."""
    layers = node_layers(model)
    if run == UNPRUNED:
        return layers, None
    name, scope, fraction = run
    if (name, scope) not in cache:
        cache[name, scope] = get_node_method(name).scores(model, layers, scope, ctx.seed)
    return layers, select_nodes(cache[name, scope], fraction, scope)


def prune_at_early_bird(
    build: Callable[[], nn.Module],
    ctx: EarlyBirdContext,
    runs: list[Run],
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """One record per run of ``runs`` (:func:`node_plan`; see :func:`run_record`), each from
    ``build()``: the network at the early bird, on its device."""
    probe = build()
    # "compact": a checkpoint of the masked retraining of earlier versions starts afresh
    run_id = fingerprint(runs=runs, retrain=repr(ctx.retrain), seed=ctx.seed, eb=ctx.eb_epoch,
                         dense=ctx.dense_epochs, data=ctx.data.meta,
                         weights=state_digest(probe), retrained="compact")  # fmt: skip
    positions = output_positions(probe, tuple(ctx.data.meta["input_shape"]))
    dense = structure(probe, node_layers(probe), None, positions)
    batch = _speed_batch(ctx)
    ckpt = Path(checkpoint) if checkpoint else None
    state = load_checkpoint(ckpt, log=log) if ckpt is not None else None
    records = state["records"] if state and state.get("run_id") == run_id else []
    cache: dict = {}
    for i, run in enumerate(runs):
        if i < len(records):
            continue
        t0 = time.perf_counter()
        model = build()
        layers, kept = _prune(model, run, ctx, cache)
        size = structure(model, layers, kept, positions)
        if kept is not None:  # the pruned network itself: it computes only its kept nodes
            model = compact(model, layers, kept)
        # the pruned network's training step against the dense one's, alternating
        times = step_seconds([probe] if kept is None else [probe, model], *batch)
        size["dense_step_seconds"], size["step_seconds"] = times[0], times[-1]
        pruned_acc = evaluate(model, ctx.data.test)[1]
        run_ckpt = Path(f"{ckpt}.run") if ckpt is not None else None
        fit(model, ctx.data, ctx.retrain, ctx.seed, checkpoint=run_ckpt,
            run_id=fingerprint(run=run_id, index=i), log=lambda s: None,
            evaluate_epochs=False)  # fmt: skip
        records.append(run_record(run, model, ctx, dense, size, pruned_acc))
        records[-1]["seconds"] = time.perf_counter() - t0
        r = records[-1]
        log(f"[{run[0]} {run[1]} {run[2]:g}] nodes {r['kept_nodes']}/{r['nodes']}, weights "
            f"{r['weight_fraction']:.3f}, acc pruned {pruned_acc:.4f} -> retrained "
            f"{r['test_acc']:.4f}, train FLOPs {r['train_flops']:.3g} "
            f"({r['flops_saving']:.2f}x fewer), a training step {r['train_speedup']:.2f}x as "
            f"fast made smaller, {r['seconds']:.1f} s")  # fmt: skip
        if ckpt is not None:
            save_torch(ckpt, {"run_id": run_id, "records": records})
            Path(f"{ckpt}.run").unlink(missing_ok=True)
    return records


def _speed_batch(ctx: EarlyBirdContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch the training speed is timed on: the first retraining batch's worth of
    training samples, on the data's device."""
    return ctx.data.train.get(slice(0, ctx.retrain.batch_size))


def batchnorm_network(model: nn.Module) -> bool:
    """Whether every node layer of ``model`` has a BatchNorm (network slimming applies)."""
    return has_batchnorm(node_layers(model))
