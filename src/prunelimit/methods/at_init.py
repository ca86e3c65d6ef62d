"""The driver of the at-init methods: at each kept level, masks at the initialisation, then
training from it under the mask.

Every level starts from the same initialisation ``build()`` (seeded by the caller) and the
same data order (``seed``); the method's masks (:attr:`~prunelimit.methods.registry.Method.
at_init`) keep exactly ``keep_count(level / 100, D)`` weights; the masked network trains with
the method's settings (the budget, or what is left of it). Resumable by level: the records of
the finished levels are kept in ``checkpoint`` (and a level's training in ``<checkpoint>.level``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from torch import nn

from prunelimit.io import load_checkpoint, save_torch
from prunelimit.methods.budget import budget_columns
from prunelimit.methods.registry import InitContext, Method
from prunelimit.pruning import count_prunable, keep_count, kept_ratio
from prunelimit.training.loop import evaluate, fingerprint, fit


def level_record(
    i: int, model: nn.Module, masks: dict, history: dict, ctx: InitContext, tuned, total: int
) -> dict:
    """The record of level ``i``: the trained masked ``model``'s kept count and accuracies,
    and its budget (``tuned``: the settings it trained with; ``total``: every epoch spent)."""
    data = ctx.data
    val = evaluate(model, data.val) if len(data.val) else (math.nan, math.nan)
    test = evaluate(model, data.test)
    D = count_prunable(model)
    kept = round(kept_ratio(masks) * D)
    return {
        "iteration": i,
        "kept": kept,
        "percent": 100.0 * kept / D,
        "train_loss": history["train_loss"][-1] if history["train_loss"] else math.nan,
        "val_acc": val[1],
        "test_loss": test[0],
        "test_acc": test[1],
        **budget_columns("initialisation", tuned.epochs, total, tuned),
    }


def prune_at_init(
    method: Method,
    build: Callable[[], nn.Module],
    ctx: InitContext,
    levels: list[float],
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """One record per level (percent kept, largest first; see :func:`level_record`)."""
    if method.at_init is None:
        raise ValueError(f"method {method.name!r} is not an at-init method")
    tuned = method.at_init.training(ctx)
    total = ctx.budget.epochs  # the masks' own training (scores) is the rest of the budget
    run_id = fingerprint(method=method.name, levels=levels, settings=ctx.settings,
                         budget=repr(ctx.budget), seed=ctx.seed, data=ctx.data.meta)  # fmt: skip
    ckpt = Path(checkpoint) if checkpoint else None
    state = load_checkpoint(ckpt, log=log) if ckpt is not None else None
    records = state["records"] if state and state.get("run_id") == run_id else []
    for i, level in enumerate(sorted(levels, reverse=True)):
        if i < len(records):
            continue
        model = build()
        keep = keep_count(level / 100.0, count_prunable(model))
        log(f"[{method.name}] level {level:g} %: masks for {keep} weights")
        masks = method.at_init.masks(model, keep, ctx)
        level_ckpt = Path(f"{ckpt}.level") if ckpt is not None else None
        history = fit(model, ctx.data, tuned, ctx.seed, checkpoint=level_ckpt,
                      run_id=fingerprint(run=run_id, level=level), masks=masks, log=log,
                      evaluate_epochs=False)  # fmt: skip
        records.append(level_record(i, model, masks, history, ctx, tuned, total))
        log(f"[{method.name}] level {level:g} %: test acc {records[-1]['test_acc']:.4f}")
        if ckpt is not None:
            save_torch(ckpt, {"run_id": run_id, "records": records})
            Path(f"{ckpt}.level").unlink(missing_ok=True)
    return records
