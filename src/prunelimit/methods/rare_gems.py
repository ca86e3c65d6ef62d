"""Rare Gems / Gem-Miner (Sreenivasan et al., NeurIPS 2022, "Rare Gems: finding lottery tickets
at initialization"): a mask of the frozen initial weights, found by training one score per weight.

Conventions (as :mod:`prunelimit.pruning`): ``keep`` is the kept count, ``rho = keep / D`` the
kept ratio over the ``D`` prunable weights; masks are bool, True = kept. The caller fine-tunes
the masked network afterwards (``fit(model, data, settings, seed, masks=masks)``).

As the public code (ksreenivasan/pruning_is_enough, algorithm ``hc_iter``: ``utils/conv_type.py``
GetSubnet/SubnetConv, ``utils/net_utils.py`` prune/get_regularization_loss/get_prune_rate,
``trainers/default.py`` train, ``main.py``): scores start uniform in ``[0, 1)``; the forward
pass uses ``w * 1[s > 0.5]`` with the gradient passed straight through to ``s``; the loss is
cross-entropy + ``l2 * sum s^2``; SGD with momentum, no weight decay, the learning rate cosine
over the epochs (per epoch, as ``CosineAnnealingLR(T_max=epochs)``); scores clamped to
``[0, 1]`` (there before each step, here after it); after the (0-based) epochs ``e > 0`` with
``e % prune_every == 0`` the lowest scores among the survivors are pruned globally (``N =
(epochs - 1) // prune_every`` rounds). The public rate ``p = 1 - rho^(1/N)`` prunes
``ceil(p * survivors)`` per round (ties at the threshold too), so its last count only
approximates the target; here round ``i`` leaves ``round(D * rho^(i / N))`` survivors and the
last exactly ``keep`` (the same geometric schedule), ties as
:func:`~prunelimit.pruning.keep_largest`. Pruned scores are set to 0 and frozen (the public
code zeroes a flag instead; the same forward pass). The final mask is the survivors with
``s > 0.5``, cut or filled to ``keep`` by score: with the last round at ``keep`` survivors this
is every survivor, as the public configs with ``unflag_before_finetune: True``. Departures: the
weights keep the model's own initialisation (the public configs use signed constants and
non-affine BatchNorm); BatchNorm running statistics update as in training (in the model's
buffers, the only state of the model that changes); biases are not scored (``bias: False``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from prunelimit.config.settings import Section, TrainSettings, setting
from prunelimit.data import DatasetSplits
from prunelimit.pruning import Masks, flat_weights, keep_largest, prunable_weights, split_flat
from prunelimit.runtime import generator as make_generator
from prunelimit.training.loop import TrainingDiverged, lr_at_epoch
from prunelimit.training.optimizer import optimizer_step


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require(name: str, value: object, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"RareGemsSettings.{name} must be {what}, got {value!r}")


@dataclass(frozen=True)
class RareGemsSettings(Section):
    """Hyperparameters of the score training (defaults: the public ResNet-20 configs)."""

    epochs: int = setting(150)  # score-training epochs
    batch_size: int = setting(128)  # samples per score step
    lr: float = setting(0.1)  # SGD learning rate of the scores, cosine to 0 over the epochs
    momentum: float = setting(0.9)  # SGD momentum of the scores
    l2: float = setting(1e-4)  # strength of the penalty l2 * sum s^2 over the survivors
    prune_every: int = setting(5)  # epochs between pruning rounds (public iter_period)
    augment: bool = setting(False)  # random crop + flip of augmentable images (as fit)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "prune_every"):
            value = getattr(self, name)
            _require(name, value, _is_int(value) and value >= 1, "an integer >= 1")
        _require("lr", self.lr, _is_real(self.lr) and self.lr > 0, "a finite number > 0")
        m = self.momentum
        _require("momentum", m, _is_real(m) and 0 <= m < 1, "a number in [0, 1)")
        _require("l2", self.l2, _is_real(self.l2) and self.l2 >= 0, "a finite number >= 0")
        _require("augment", self.augment, isinstance(self.augment, bool), "true or false")

    def schedule(self) -> TrainSettings:
        """The learning-rate schedule as training settings (for :func:`lr_at_epoch`)."""
        return TrainSettings(epochs=self.epochs, lr=self.lr, schedule="cosine")


def survivor_targets(total: int, keep: int, rounds: int) -> list[int]:
    """Survivors after each pruning round ``i = 1..rounds``: ``round(total * rho^(i/rounds))``
    with ``rho = keep / total``, the last exactly ``keep`` (non-increasing)."""
    rho = keep / total
    return [round(total * rho ** (i / rounds)) for i in range(1, rounds)] + [keep] * (rounds > 0)


def _ste(score: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """``1[s > 0.5]`` of the survivors in the forward pass, the identity (times ``alive``) in
    the backward pass: the straight-through estimator."""
    hard = (score > 0.5).to(score.dtype)
    return (hard + score - score.detach()) * alive


def _score_epoch(
    model: nn.Module,
    data: DatasetSplits,
    s: RareGemsSettings,
    params: dict[str, torch.Tensor],
    scores: dict[str, torch.Tensor],
    alive: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
) -> tuple[float, float]:
    """One epoch of score steps over ``data.train`` in the order drawn from ``gen``; returns
    the mean cross-entropy and the mean objective."""
    sums = torch.zeros(2, dtype=torch.float64, device=data.train.x.device)
    n = 0
    for x, y in data.train.batches(s.batch_size, gen, augment=s.augment):
        call = dict(params)
        for name, score in scores.items():
            call[name] = params[name] * _ste(score, alive[name])
        loss = F.cross_entropy(functional_call(model, call, (x,)), y)
        objective = loss + s.l2 * sum(score.square().sum() for score in scores.values())
        opt.zero_grad(set_to_none=True)
        objective.backward()
        optimizer_step(opt)
        with torch.no_grad():
            for name, score in scores.items():
                score.clamp_(0.0, 1.0).mul_(alive[name])
        sums += torch.stack([loss.detach(), objective.detach()]).double() * len(y)
        n += len(y)
    loss_mean, objective_mean = (sums / max(n, 1)).tolist()
    return loss_mean, objective_mean


@torch.no_grad()
def _prune_round(
    scores: dict[str, torch.Tensor],
    alive: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    target: int,
) -> None:
    """Keep the ``target`` largest scores of the survivors (globally); the others' scores (and
    momentum) are set to 0 and they leave the survivors."""
    flat = flat_weights(scores).view(1, -1)
    kept = keep_largest(flat, flat_weights(alive).view(1, -1), torch.tensor([target]))[0]
    for name, m in split_flat(kept, scores).items():
        alive[name].copy_(m)
        scores[name].mul_(m)
        buf = opt.state.get(scores[name], {}).get("momentum_buffer")
        if buf is not None:
            buf.mul_(m)


def _final_masks(
    scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor], keep: int
) -> Masks:
    """The survivors with score > 0.5, cut to ``keep`` by score, or filled up to ``keep`` with
    the best-scored other survivors (ties as :func:`keep_largest`)."""
    flat, survivors = flat_weights(scores), flat_weights(alive)
    above = survivors & (flat > 0.5)
    pool = above if int(above.sum()) >= keep else survivors
    kept = keep_largest(flat.view(1, -1), pool.view(1, -1), torch.tensor([keep]))[0]
    return {name: m.clone() for name, m in split_flat(kept, scores).items()}


def _epoch_row(
    epoch: int,
    lr: float,
    loss: float,
    objective: float,
    scores: dict[str, torch.Tensor],
    alive: dict[str, torch.Tensor],
) -> dict:
    """The history row of ``epoch`` (0-based), after its pruning round."""
    survivors = int(flat_weights(alive).sum())
    above = sum(int(((scores[n] > 0.5) & alive[n]).sum()) for n in scores)
    return {
        "epoch": epoch + 1,
        "lr": lr,
        "loss": loss,
        "objective": objective,
        "survivors": survivors,
        "above_half": above / max(survivors, 1),
    }


def _record(history: dict[str, list], values: dict, log: Callable[[str], None]) -> None:
    for key, value in values.items():
        history.setdefault(key, []).append(value)
    log(
        "rare gems epoch {epoch} lr {lr:.4g} loss {loss:.4f} objective {objective:.4f} "
        "survivors {survivors} above_half {above_half:.4f}".format(**values)
    )


def rare_gems_masks(
    model: nn.Module,
    data: DatasetSplits,
    keep: int,
    s: RareGemsSettings,
    seed: int,
    log: Callable[[str], None] = print,
) -> tuple[Masks, dict]:
    """Rare Gems masks keeping exactly ``keep`` of the prunable weights of ``model``, whose
    parameters stay untouched (frozen at their current, initial values; the forward passes use
    :func:`torch.func.functional_call`; BatchNorm running statistics update as in training).
    Scores and the batch order come from ``make_generator(seed)`` (CPU): first the scores, in
    model order, then one permutation per epoch of ``data.train``. Returns the masks (bool, on
    the weights' device) and the per-epoch history: ``epoch``, ``lr``, ``loss`` (mean
    cross-entropy), ``objective`` (with the penalty), ``survivors`` (count after the epoch's
    pruning round), ``above_half`` (fraction of the survivors with score > 0.5).
    """
    weights = prunable_weights(model)
    total = sum(w.numel() for w in weights.values())
    if not 0 <= keep <= total or total == 0:
        raise ValueError(f"keep must be in [0, {total}] (the prunable weights), got {keep}")
    gen = make_generator(seed)
    scores = {
        n: torch.rand(w.shape, generator=gen).to(w.device, w.dtype).requires_grad_()
        for n, w in weights.items()
    }
    alive = {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    params = {n: p.detach() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(list(scores.values()), lr=s.lr, momentum=s.momentum)
    targets = survivor_targets(total, keep, (s.epochs - 1) // s.prune_every)
    history: dict[str, list] = {}
    was_training = model.training
    model.train()
    try:
        for epoch in range(s.epochs):
            lr = lr_at_epoch(s.schedule(), epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            loss, objective = _score_epoch(model, data, s, params, scores, alive, opt, gen)
            if not math.isfinite(objective):
                raise TrainingDiverged(f"rare gems diverged in epoch {epoch + 1} (lr={lr})")
            if epoch > 0 and epoch % s.prune_every == 0:
                _prune_round(scores, alive, opt, targets[epoch // s.prune_every - 1])
            row = _epoch_row(epoch, lr, loss, objective, scores, alive)
            _record(history, row, log)
    finally:
        model.train(was_training)
    return _final_masks(scores, alive, keep), history
