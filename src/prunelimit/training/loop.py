"""Dense and l1-regularised training, evaluation, resumable checkpoints.

Objective: cross-entropy + ``l1 * sum |theta|`` over all parameters (weights and biases, as the
public code of the pruning-limit paper), SGD with momentum. Learning-rate schedules are stepped
once per epoch: linear warm-up over ``warmup_epochs``, then ``none``, ``cosine`` (to 0 at the
last epoch) or ``multistep`` (times ``gamma`` at each milestone epoch).

A run is resumable: after an epoch, at most every :func:`checkpoint_interval_s` seconds (and never
after the last, whose outputs follow at once), the model, optimizer, data-order generator and
RNG states are checkpointed atomically together with a fingerprint of everything that determines
the run; a restarted run continues from the last checkpointed epoch and ends with exactly the
weights of an uninterrupted run. A checkpoint whose fingerprint does not match is ignored.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from prunelimit.config.settings import TrainSettings
from prunelimit.data import DatasetSplits, Split
from prunelimit.io import load_checkpoint, save_torch
from prunelimit.pruning import Masks, apply_masks
from prunelimit.runtime import generator as make_generator
from prunelimit.runtime import training_precision
from prunelimit.training.optimizer import optimizer_step, sgd


def _checkpoint_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise ValueError(
            f"PRUNELIMIT_CHECKPOINT_EVERY_S must be a number of seconds >= 0, got {value!r}"
        )
    return seconds


def checkpoint_interval_s() -> float:
    """Seconds of training between checkpoints (0: after every epoch), from the environment's
    ``PRUNELIMIT_CHECKPOINT_EVERY_S`` when called (default 60). A kill loses at most this much
    plus one epoch; the checkpoint time does not change the result."""
    return _checkpoint_interval(os.environ.get("PRUNELIMIT_CHECKPOINT_EVERY_S", "60"))


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def lr_at_epoch(s: TrainSettings, epoch: int) -> float:
    """Learning rate used during ``epoch`` (0-based)."""
    if epoch < s.warmup_epochs:
        return s.lr * (epoch + 1) / s.warmup_epochs
    if s.schedule == "cosine":
        span = max(1, s.epochs - s.warmup_epochs)
        return s.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - s.warmup_epochs) / span))
    if s.schedule == "multistep":
        return s.lr * s.gamma ** sum(epoch >= m for m in s.milestones)
    return s.lr


def l1_norm(model: nn.Module) -> torch.Tensor:
    """``sum |theta|`` over all parameters (weights and biases)."""
    return sum(p.abs().sum() for p in model.parameters())


def sgd_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    l1: float = 0.0,
    masks: Masks | None = None,
    params: dict[str, nn.Parameter] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step on cross-entropy + ``l1 * sum |theta|``; returns (logits, loss, objective).

    The l1 term's gradient ``l1 * sign(theta)`` is added to every parameter's in one fused
    update after the backward pass of the cross-entropy (the same float operations as autograd
    of the l1 term: ``sign`` is exact, the sum commutes), not as a graph over every parameter.
    With ``masks`` (True or 1.0 = kept, on the model's device; float masks, made once by the
    caller, save a cast per step) pruned weights stay at zero: their gradients are zeroed
    before the step and the weights re-zeroed after it. ``params``
    (``dict(model.named_parameters())``, built once by a caller's loop) saves rebuilding it.
    """
    params = params if params is not None else dict(model.named_parameters())
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    objective = loss
    if l1 > 0:
        with torch.no_grad():
            objective = loss.detach() + l1 * l1_norm(model)
            weights = [p for p in params.values() if p.requires_grad]
            for p in weights:  # a parameter the loss does not reach still gets the l1 term's
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            grads = [p.grad for p in weights]
            torch._foreach_add_(grads, torch._foreach_sign(weights), alpha=l1)
    if masks is not None:
        for name, m in masks.items():
            params[name].grad.mul_(m)
    optimizer_step(opt)
    if masks is not None:
        apply_masks(model, masks)
    return logits, loss, objective


EVAL_BATCH = 1024  # samples per forward pass of an evaluation (no gradients)


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on a whole split."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=split.x.device)  # loss, correct
    n = 0
    for x, y in split.batches(batch_size):
        logits = model(x)
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        sums[1] += (logits.argmax(1) == y).sum()
        n += len(y)
    model.train(was_training)
    loss_sum, correct = sums.tolist()
    return loss_sum / n, int(correct) / n


def loss_gradient(
    model: nn.Module, split: Split, batch_size: int = 1024
) -> dict[str, torch.Tensor]:
    """Gradient of the mean cross-entropy over a whole split (eval mode, no l1 term), per
    parameter name."""
    was_training = model.training
    model.eval()
    model.zero_grad(set_to_none=True)
    for x, y in split.batches(batch_size):  # backward accumulates the sums into .grad
        F.cross_entropy(model(x), y, reduction="sum").backward()
    out = {
        name: (p.grad if p.grad is not None else torch.zeros_like(p)) / len(split)
        for name, p in model.named_parameters()
    }
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return out


@torch.no_grad()
def minibatch_losses(
    model: nn.Module, split: Split, batch_size: int, seed: int = 0
) -> torch.Tensor:
    """Cross-entropy of each mini-batch of a seeded shuffled pass (eval mode, no augmentation).

    Its standard deviation is the automatic loss tolerance ``eps`` of the pruning objective.
    """
    was_training = model.training
    model.eval()
    out = [
        F.cross_entropy(model(x), y).item()
        for x, y in split.batches(batch_size, make_generator(seed))
    ]
    model.train(was_training)
    return torch.tensor(out, dtype=torch.float64)


def fingerprint(**parts) -> str:
    """Stable hash of what determines a run (settings, model, dataset, seed, masks...)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "train_objective", "val_loss",
                    "val_acc", "test_loss", "test_acc", "samples_per_s")  # fmt: skip


def _run_fingerprint(model: nn.Module, s: TrainSettings, seed: int, run_id: str) -> str:
    """``run_id`` (default: a fingerprint of the settings and seed) with the model's parameter
    shapes added: a checkpoint of another network is never loaded."""
    run_id = run_id or fingerprint(settings=asdict(s), seed=seed)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    return fingerprint(run=run_id, shapes=shapes)


def _resume(
    ckpt: Path | None,
    run_id: str,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    observer: Callable[[int, nn.Module], None] | None,
    log: Callable[[str], None],
) -> tuple[dict, int] | None:
    """Restore the model, optimizer, data-order generator, torch RNG and observer states from
    ``ckpt`` if it was written for ``run_id``; return (history, epochs done), else None."""
    state = load_checkpoint(ckpt, next(model.parameters()).device, log)
    if state is None:
        return None
    if state.get("run_id") != run_id:
        log(f"ignoring checkpoint {ckpt}: it belongs to another run configuration")
        return None
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"].cpu())
    torch.set_rng_state(state["torch_rng"].cpu())
    if "observer" in state:
        observer.load_state_dict(state["observer"])
    log(f"resumed from {ckpt} after epoch {state['epoch']}")
    return state["history"], state["epoch"]


def _save_checkpoint(
    ckpt: Path,
    run_id: str,
    epochs_done: int,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    history: dict[str, list],
    observer: Callable[[int, nn.Module], None] | None,
) -> None:
    """Write atomically to ``ckpt`` what :func:`_resume` restores (the observer's state only if
    it has ``state_dict``)."""
    state = {
        "run_id": run_id,
        "epoch": epochs_done,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history,
    }
    if hasattr(observer, "state_dict"):
        state["observer"] = observer.state_dict()
    save_torch(ckpt, state)


def _train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    split: Split,
    s: TrainSettings,
    gen: torch.Generator,
    masks: Masks | None,
    params: dict[str, nn.Parameter],
) -> tuple[float, float, int, int]:
    """One epoch of :func:`sgd_step` over ``split`` in the order drawn from ``gen``; returns the
    sums of the loss and of the objective (each batch's times its size), the number correct and
    the number of samples.

    The sums stay on the device (float64, the same operations as Python floats on ``.item()``
    values) and are read once, at the end: no host synchronisation inside the epoch.
    """
    model.train()
    sums = torch.zeros(3, dtype=torch.float64, device=next(model.parameters()).device)
    n = 0
    for x, y in split.batches(s.batch_size, gen, augment=s.augment):
        logits, loss, objective = sgd_step(model, opt, x, y, s.l1, masks, params)
        sums[0] += loss.detach().double() * len(y)
        sums[1] += objective.detach().double() * len(y)
        sums[2] += (logits.argmax(1) == y).sum()
        n += len(y)
    loss_sum, obj_sum, correct = sums.tolist()  # the epoch's one read (synchronises)
    return loss_sum, obj_sum, int(correct), n


def _check_finite(
    s: TrainSettings, epoch: int, lr: float, sums: tuple[float, float, int, int]
) -> None:
    """Raise :class:`TrainingDiverged` if the objective sum of epoch ``epoch`` (0-based) is NaN
    or infinite (``sums``: of :func:`_train_epoch`)."""
    loss_sum, obj_sum, _, n = sums
    if not math.isfinite(obj_sum):
        raise TrainingDiverged(
            f"training diverged in epoch {epoch + 1}: the loss is {loss_sum / n} "
            f"(lr={lr}, l1={s.l1}); lower the learning rate or l1 strength"
        )


def _held_out(model: nn.Module, data: DatasetSplits, evaluate_epochs: bool) -> tuple[float, ...]:
    """(val_loss, val_acc, test_loss, test_acc) after an epoch; NaN where not evaluated (without
    ``evaluate_epochs``, or for an empty validation split)."""
    val_loss, val_acc = test_loss, test_acc = math.nan, math.nan
    if evaluate_epochs:
        if len(data.val):
            val_loss, val_acc = evaluate(model, data.val)
        test_loss, test_acc = evaluate(model, data.test)
    return val_loss, val_acc, test_loss, test_acc


def _record_epoch(
    history: dict[str, list],
    s: TrainSettings,
    epoch: int,
    lr: float,
    sums: tuple[float, float, int, int],
    held_out: tuple[float, ...],
    elapsed: float,
    log: Callable[[str], None],
) -> None:
    """Append epoch ``epoch`` (0-based) to ``history`` (the columns of
    :data:`_HISTORY_COLUMNS`) from the :func:`_train_epoch` ``sums``, the :func:`_held_out`
    metrics and the epoch's seconds, and log it."""
    loss_sum, obj_sum, correct, n = sums
    row = (epoch + 1, lr, loss_sum / n, correct / n, obj_sum / n, *held_out, n / elapsed)
    for k, v in zip(history, row, strict=True):
        history[k].append(v)
    log(
        f"epoch {epoch + 1:4d}/{s.epochs} lr {lr:.4g} loss {loss_sum / n:.4f} "
        f"acc {correct / n:.4f} val_acc {held_out[1]:.4f} test_acc {held_out[3]:.4f} "
        f"{n / elapsed:.0f} samples/s"
    )


def fit(
    model: nn.Module,
    data: DatasetSplits,
    s: TrainSettings,
    seed: int,
    checkpoint: str | Path | None = None,
    run_id: str = "",
    masks: Masks | None = None,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    evaluate_epochs: bool = True,
    checkpoint_every_s: float | None = None,
) -> dict:
    """Train ``model`` in place for ``s.epochs`` epochs; return the per-epoch history.

    ``masks`` (bool, True = kept) keep pruned weights at zero: their gradients are zeroed and
    the masks re-applied after each step. ``checkpoint`` enables resuming; ``run_id`` (e.g. a
    :func:`fingerprint`; default: of the settings and seed) must change whenever anything else
    that determines the run changes; the model's parameter shapes are always added to it.
    ``on_epoch_end(epoch, model)`` is called after each epoch (1-based), before the checkpoint
    (epoch 0, the initialisation, is not reported; a resumed run reports only the epochs it runs).
    An observer with ``state_dict``/``load_state_dict`` has its state saved in the checkpoint
    and restored on resume, so it sees the run as if it had not been interrupted. Without
    ``evaluate_epochs`` the validation and test columns of the history are NaN (no passes).
    ``checkpoint_every_s`` (default :func:`checkpoint_interval_s`): checkpoint after an epoch once
    this many seconds have passed since the last checkpoint (or the start); never after the
    last epoch.
    """
    device = next(model.parameters()).device
    opt = sgd(model, s)
    gen = make_generator(seed)
    run_id = _run_fingerprint(model, s, seed, run_id)
    ckpt = Path(checkpoint) if checkpoint else None
    resumed = _resume(ckpt, run_id, model, opt, gen, on_epoch_end, log)
    history, start = resumed or ({k: [] for k in _HISTORY_COLUMNS}, 0)
    params = dict(model.named_parameters())
    if masks is not None:  # as float once: the steps multiply by them without a cast
        masks = {k: m.to(device=device, dtype=params[k].dtype) for k, m in masks.items()}
        apply_masks(model, masks)
    every = checkpoint_interval_s() if checkpoint_every_s is None else checkpoint_every_s
    last_saved = time.perf_counter()
    for epoch in range(start, s.epochs):
        lr = lr_at_epoch(s, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        with training_precision(s.precision):  # evaluation below stays strict FP32
            sums = _train_epoch(model, opt, data.train, s, gen, masks, params)
        elapsed = time.perf_counter() - t0
        _check_finite(s, epoch, lr, sums)
        held_out = _held_out(model, data, evaluate_epochs)
        _record_epoch(history, s, epoch, lr, sums, held_out, elapsed, log)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, model)
        if ckpt is not None and epoch + 1 < s.epochs and time.perf_counter() - last_saved >= every:
            _save_checkpoint(ckpt, run_id, epoch + 1, model, opt, gen, history, on_epoch_end)
            last_saved = time.perf_counter()
    return history


def final_metrics(model: nn.Module, data: DatasetSplits) -> dict[str, float]:
    """Loss and accuracy of ``model`` on the train, validation and test splits (NaN for an
    empty split): the ``final`` block of every metrics file."""
    out = {}
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        loss, acc = evaluate(model, split) if len(split) else (math.nan, math.nan)
        out[f"{name}_loss"], out[f"{name}_acc"] = loss, acc
    return out
