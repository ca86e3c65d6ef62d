"""Pruning strategies of the iterative driver (:mod:`prunelimit.sap.iterative`) and their registry.

A strategy is only its mask function: from the trained weights ``w_t``, the current masks
``m_t`` and the run's state (iteration ``t``, the dense weights ``w_0``) it computes ``m_{t+1}``
(:meth:`Strategy.next_masks`). Masks are made by :func:`prunelimit.pruning.keep_largest`, so
every strategy breaks ties the same way. Adding a method is one subclass with ``@register``;
the config schema's ``sap.methods`` enum is tested against :data:`STRATEGIES`.

Methods (Diao et al., ICLR 2023), per scope group with ``d_t`` kept weights:

- ``sap``: with PQ Index ``I(w_t)`` over the kept weights,
  ``r_t = d_t (1 + eta_r)^{-q/(q-p)} (1 - I)^{qp/(q-p)}`` and
  ``c_t = floor(d_t * min(gamma (1 - r_t/d_t), beta))``; remove the ``c_t`` smallest ``|w_t|``;
- ``lt`` (Lottery Ticket): remove ``round(lt_rate * d_t)`` smallest ``|w_t|`` (round half up);
- ``os`` (One Shot): keep the ``round((1 - lt_rate)^{t+1} * n_g)`` largest ``|w_0|`` of each group
  of ``n_g`` entries (``w_0``: the weights of the dense iteration 0), so ``m_t`` keeps
  ``(1 - lt_rate)^t`` of each group, always from the dense weights.

Scopes (groups): ``global`` (all prunable weights together), ``layer`` (one per tensor),
``neuron`` (one per output row, the first dimension of each tensor). SAP leaves groups with no
kept weight, or only zeros (PQI undefined), as they are (``c = 0``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch

from prunelimit.pruning import Masks, flat_weights, full_masks, keep_largest, split_flat
from prunelimit.sap.keys import STRATEGY_KEYS
from prunelimit.sap.pqi import check_pq, pq_bound, pq_index_rows

SCOPES = ("global", "layer", "neuron")


@dataclass(frozen=True)
class PruneSettings:
    """Hyperparameters of the pruning methods (the ``sap`` config section)."""

    p: float = 0.5
    q: float = 1.0
    eta_r: float = 0.0
    gamma: float = 1.0
    beta: float = 0.9
    lt_rate: float = 0.2

    def __post_init__(self) -> None:
        check_pq(self.p, self.q)
        if self.eta_r < 0 or self.gamma <= 0 or not 0 < self.beta <= 1:
            raise ValueError("SAP needs eta_r >= 0, gamma > 0 and 0 < beta <= 1")
        if not 0 < self.lt_rate < 1:
            raise ValueError(f"lt_rate must be in (0, 1), got {self.lt_rate}")

    @classmethod
    def from_dict(cls, d: dict) -> PruneSettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: float(v) for k, v in d.items() if k in known})


@dataclass(frozen=True)
class PruningState:
    """What a strategy may know of the run besides the current weights and masks."""

    iteration: int  # t: the network w_t was trained with m_t
    dense: dict[str, torch.Tensor] | None = None  # w_0, the trained dense weights (iteration 0)


# --------------------------------------------------------------------------- scope groups


Block = tuple[list[str], torch.Tensor, torch.Tensor]


def scope_blocks(weights: dict[str, torch.Tensor], masks: Masks, scope: str) -> Iterator[Block]:
    """Blocks ``(names, values, mask)`` of 2-D views whose *rows* are the scope's groups.

    ``global``: one block, one row holding all weights (in model order); ``layer``: one block
    per tensor with one row; ``neuron``: one block per tensor with one row per output unit.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if scope == "global":
        values = flat_weights(weights)
        mask = torch.cat([masks[n].to(values.device).reshape(-1) for n in weights])
        yield list(weights), values.view(1, -1), mask.view(1, -1)
        return
    for name, w in weights.items():
        rows = w.shape[0] if scope == "neuron" else 1
        yield [name], w.detach().reshape(rows, -1), masks[name].to(w.device).reshape(rows, -1)


def _unblock(names: list[str], mask2d: torch.Tensor, weights: dict[str, torch.Tensor]) -> Masks:
    parts = split_flat(mask2d.reshape(-1), {n: weights[n] for n in names})
    return {n: m.clone() for n, m in parts.items()}


def sap_prune_counts(
    values: torch.Tensor,
    mask: torch.Tensor,
    p: float,
    q: float,
    eta_r: float,
    gamma: float,
    beta: float,
) -> dict[str, torch.Tensor]:
    """SAP per row of a 2-D block: ``d``, ``pqi``, bound ``r`` and count ``c`` (float64).

    Rows with no kept weight or only zeros get ``c = 0`` (and ``r = d``).
    """
    d = mask.sum(1).double()
    pqi = pq_index_rows(values, p, q, mask)
    r = pq_bound(d, pqi, p, q, eta_r)
    undefined = pqi.isnan()
    r = torch.where(undefined, d, r)
    ratio = torch.where(d > 0, r / d.clamp_min(1), torch.ones_like(d))
    frac = torch.clamp(gamma * (1.0 - ratio), min=0.0, max=beta)
    c = torch.floor(d * frac)
    return {"d": d, "pqi": pqi, "r": r, "c": c}


RowsFn = Callable[[int, torch.Tensor, torch.Tensor, dict], torch.Tensor]


def scoped_step(
    weights: dict[str, torch.Tensor], masks: Masks, scope: str, hyper: PruneSettings, rows: RowsFn
) -> tuple[Masks, dict]:
    """Apply ``rows(block index, values, mask, stats) -> new 2-D mask`` to every scope block.

    ``stats`` are the block's SAP measurements (:func:`sap_prune_counts`, with the ``p``, ``q``
    of ``hyper``). Returns the new masks and per-group float64 tensors ``d`` (kept before),
    ``pqi``, ``r`` (SAP bound), ``c`` (removed: ``d_t - d_{t+1}``) and ``layer`` (each group's
    tensor, ``*`` for the global group).
    """
    new_masks: Masks = {}
    parts: dict[str, list] = {"d": [], "pqi": [], "r": [], "c": [], "layer": []}
    for k, (names, values, mask) in enumerate(scope_blocks(weights, masks, scope)):
        stats = sap_prune_counts(
            values, mask, hyper.p, hyper.q, hyper.eta_r, hyper.gamma, hyper.beta
        )
        new = rows(k, values, mask, stats)
        stats["c"] = (mask.sum(1) - new.sum(1)).double()
        for key in ("d", "pqi", "r", "c"):
            parts[key].append(stats[key].cpu())
        parts["layer"] += ["*" if len(names) > 1 else names[0]] * values.shape[0]
        new_masks.update(_unblock(names, new, weights))
    info = {k: torch.cat(v) if k != "layer" else v for k, v in parts.items()}
    return new_masks, info


# --------------------------------------------------------------------------- registry


class Strategy:
    """A pruning method in one scope. Subclasses set ``name`` (the config's method name) and
    ``hyper_keys`` (the ``sap`` config keys it reads besides ``p``, ``q``, ``iterations`` and
    ``epochs``), and implement :meth:`remove` (how many kept weights each group loses, pruned
    smallest-first from ``w_t``) or override :meth:`next_masks`."""

    name: ClassVar[str]
    hyper_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, scope: str, hyper: PruneSettings) -> None:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        self.scope, self.hyper = scope, hyper

    def next_masks(
        self, weights: dict[str, torch.Tensor], masks: Masks, state: PruningState
    ) -> tuple[Masks, dict]:
        """``m_{t+1}`` from ``w_t`` (``weights``) and ``m_t`` (``masks``), with the per-group
        measurements of :func:`scoped_step`."""

        def rows(_k: int, values: torch.Tensor, mask: torch.Tensor, stats: dict) -> torch.Tensor:
            removed = self.remove(stats, state).to(mask.device)  # keep_largest clips at 0
            return keep_largest(values, mask, stats["d"] - removed)

        return scoped_step(weights, masks, self.scope, self.hyper, rows)

    def remove(self, stats: dict, state: PruningState) -> torch.Tensor:
        """Per group: how many of its ``stats["d"]`` kept weights to remove (float64)."""
        raise NotImplementedError(f"{type(self).__name__} must implement remove or next_masks")


STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` available to the driver under ``cls.name``."""
    if cls.name in STRATEGIES:
        raise ValueError(f"a pruning strategy named {cls.name!r} is already registered")
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str) -> type[Strategy]:
    """The registered strategy class ``name``; the error lists the registered names."""
    if name not in STRATEGIES:
        raise ValueError(f"method must be one of {tuple(STRATEGIES)}, got {name!r}")
    return STRATEGIES[name]


@register
class SAP(Strategy):
    """Sparsity-informed Adaptive Pruning: remove ``c_t`` (from the PQ Index) per group."""

    name = "sap"
    hyper_keys = STRATEGY_KEYS[name]

    def remove(self, stats: dict, state: PruningState) -> torch.Tensor:
        return stats["c"]


@register
class LotteryTicket(Strategy):
    """Lottery Ticket: remove ``round(lt_rate * d_t)`` (half up) per group."""

    name = "lt"
    hyper_keys = STRATEGY_KEYS[name]

    def remove(self, stats: dict, state: PruningState) -> torch.Tensor:
        return torch.floor(self.hyper.lt_rate * stats["d"] + 0.5)


@register
class OneShot(Strategy):
    """One Shot: keep ``round((1 - lt_rate)^{t+1} n_g)`` largest ``|w_0|`` of each group."""

    name = "os"
    hyper_keys = STRATEGY_KEYS[name]

    def next_masks(
        self, weights: dict[str, torch.Tensor], masks: Masks, state: PruningState
    ) -> tuple[Masks, dict]:
        if state.dense is None:
            raise ValueError("one shot prunes from the dense weights: state.dense is missing")
        keep_fraction = (1.0 - self.hyper.lt_rate) ** (state.iteration + 1)
        return self.masks_at(state.dense, keep_fraction, weights, masks)

    def masks_at(
        self,
        dense: dict[str, torch.Tensor],
        keep_fraction: float,
        weights: dict[str, torch.Tensor],
        masks: Masks,
    ) -> tuple[Masks, dict]:
        """Keep ``round(keep_fraction * n_g)`` (half up) largest ``|dense|`` of each group;
        ``weights``/``masks`` (the current network) are what the measurements describe."""
        full = full_masks(masks)
        device = next(iter(weights.values())).device
        dense = {k: v.to(device) for k, v in dense.items()}
        dense_blocks = list(scope_blocks(dense, full, self.scope))

        def rows(k: int, values: torch.Tensor, mask: torch.Tensor, stats: dict) -> torch.Tensor:
            _, dvalues, dfull = dense_blocks[k]
            n = dfull.sum(1).double()
            return keep_largest(dvalues, dfull.to(device), torch.floor(keep_fraction * n + 0.5))

        return scoped_step(weights, masks, self.scope, self.hyper, rows)


# --------------------------------------------------------------------------- one step each
