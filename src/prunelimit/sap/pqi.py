"""PQ Index (PQI) of Diao et al. (ICLR 2023): a norm-ratio measure of sparsity.

``I_{p,q}(w) = 1 - d^{1/q - 1/p} ||w||_p / ||w||_q`` for ``0 < p < q``, where ``d`` is the number
of *surviving* entries. Conventions here:

- the entries measured are those selected by ``mask`` (True = kept); without a mask, all entries
  of the tensor (so ``d = w.numel()``; zeros count as entries, which makes a vector sparser);
- ``0 <= I <= 1 - d^{1/q - 1/p}``: 0 for a constant vector, the upper bound for a one-hot vector;
- an all-zero selection, or an empty one, has no PQI: ``nan``;
- computed in float64 on ``|w| / max|w|`` (PQI is scale invariant), so ``p < 1`` norms of tiny
  or huge weights do not under- or overflow.

Scopes over a model's prunable weights (see :mod:`prunelimit.pruning`): *global* (all prunable
weights as one vector), *layer* (one vector per tensor) and *neuron* (one vector per output row,
i.e. per index of the first dimension of the tensor).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from prunelimit.pruning import Masks, global_magnitude_masks, keep_count, prunable_weights

#: The two (p, q) pairs of the public code of the paper.
DEFAULT_PQ: tuple[tuple[float, float], ...] = ((0.5, 1.0), (1.0, 2.0))


def check_pq(p: float, q: float) -> None:
    """The PQ Index is defined for ``0 < p < q``."""
    if not 0 < p < q:
        raise ValueError(f"the PQ Index needs 0 < p < q, got p={p}, q={q}")


def pq_index_rows(
    w: torch.Tensor, p: float, q: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """PQI of each row of a 2-D tensor (rows = vectors), over the entries ``mask`` keeps.

    Returns a float64 tensor with one value per row; ``nan`` where a row keeps no entry or only
    zeros.
    """
    check_pq(p, q)
    if w.dim() != 2:
        raise ValueError(f"pq_index_rows needs a 2-D tensor, got shape {tuple(w.shape)}")
    a = w.detach().double().abs_()  # one float64 copy, then worked in place
    if mask is None:
        d = torch.full((a.shape[0],), float(a.shape[1]), dtype=a.dtype, device=a.device)
    else:
        keep = mask.to(device=a.device, dtype=torch.bool).reshape(a.shape)
        a.mul_(keep)
        d = keep.sum(1).double()
    top = a.amax(1, keepdim=True)
    a.div_(torch.where(top > 0, top, torch.ones_like(top)))
    norm_p, norm_q = _row_norm(a, p), _row_norm(a, q)  # dropped entries: 0, and 0^p = 0
    index = 1.0 - d.pow(1.0 / q - 1.0 / p) * norm_p / norm_q
    undefined = (d == 0) | (top.squeeze(1) == 0)
    return torch.where(undefined, torch.full_like(index, math.nan), index)


def _row_norm(a: torch.Tensor, r: float) -> torch.Tensor:
    """``(sum_j a_ij^r)^(1/r)`` of each row of the non-negative ``a``: one fused reduction for
    ``r`` = 1 or 2; else a power then a sum (torch's vector_norm at other orders takes twice as
    long)."""
    if r in (1.0, 2.0):
        return torch.linalg.vector_norm(a, ord=r, dim=1)
    return a.pow(r).sum(1).pow(1.0 / r)


def pq_index(w: torch.Tensor, p: float, q: float, mask: torch.Tensor | None = None) -> float:
    """PQI of ``w`` as one vector over the entries selected by ``mask`` (all if ``None``).

    ``nan`` for an empty or all-zero selection.
    """
    flat = w.reshape(1, -1)
    return float(pq_index_rows(flat, p, q, None if mask is None else mask.reshape(1, -1))[0])


def pq_bound(
    d: int | torch.Tensor, index: float | torch.Tensor, p: float, q: float, eta_r: float = 0.0
) -> float | torch.Tensor:
    """Theorem 2 of the paper: ``r = d (1 + eta_r)^{-q/(q-p)} (1 - I)^{qp/(q-p)}``.

    A lower bound on how many of the largest entries must stay to keep all but an ``eta_r``
    fraction of the ``l_p`` mass; SAP keeps at least this many.
    """
    check_pq(p, q)
    return d * (1.0 + eta_r) ** (-q / (q - p)) * (1.0 - index) ** (q * p / (q - p))


def _as_weights(model_or_weights: nn.Module | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(model_or_weights, nn.Module):
        return {k: v.detach() for k, v in prunable_weights(model_or_weights).items()}
    return {k: v.detach() for k, v in model_or_weights.items()}


def _nanmean(values: torch.Tensor) -> float:
    values = values[~values.isnan()]
    return float(values.mean()) if values.numel() else math.nan


def pqi_report(
    model: nn.Module | dict[str, torch.Tensor],
    masks: Masks | None,
    p: float,
    q: float,
) -> dict:
    """PQI of a model's prunable weights (or a name -> tensor dict) in the three scopes.

    ``masks`` (True = kept; ``None`` = everything kept) selects the surviving entries. Returns
    ``global`` (one vector over all prunable weights), ``layer`` (name -> PQI per tensor),
    ``layer_mean`` (mean over tensors), ``neuron_mean`` (mean over all output rows of all
    tensors), ``neuron_layer_mean`` (name -> mean over the tensor's rows); means skip ``nan``.
    """
    weights = _as_weights(model)
    if masks is None:
        masks = {k: torch.ones_like(v, dtype=torch.bool) for k, v in weights.items()}
    flat_w = torch.cat([w.reshape(-1) for w in weights.values()])
    flat_m = torch.cat([masks[k].to(flat_w.device).reshape(-1) for k in weights])
    layer, neuron_layer, rows = {}, {}, []
    for name, w in weights.items():
        m = masks[name].to(w.device)
        layer[name] = pq_index(w, p, q, m)
        per_row = pq_index_rows(w.reshape(w.shape[0], -1), p, q, m.reshape(w.shape[0], -1))
        neuron_layer[name] = _nanmean(per_row)
        rows.append(per_row)
    return {
        "p": p,
        "q": q,
        "global": pq_index(flat_w, p, q, flat_m),
        "layer_mean": _nanmean(torch.tensor(list(layer.values()), dtype=torch.float64)),
        "neuron_mean": _nanmean(torch.cat(rows)),
        "layer": layer,
        "neuron_layer_mean": neuron_layer,
    }


def network_pqi(
    model: nn.Module | dict[str, torch.Tensor],
    masks: Masks | None = None,
    pairs: tuple[tuple[float, float], ...] = DEFAULT_PQ,
) -> list[dict]:
    """Summary PQI of a network for each ``(p, q)``: ``global``, ``layer_mean``,
    ``neuron_mean`` and ``layer`` (per tensor), over the entries ``masks`` keeps."""
    out = []
    for p, q in pairs:
        rep = pqi_report(model, masks, p, q)
        out.append({k: rep[k] for k in ("p", "q", "global", "layer_mean", "neuron_mean", "layer")})
    return out


def trained_pqi(
    dense: nn.Module,
    l1: nn.Module,
    rho: float,
    pairs: tuple[tuple[float, float], ...] = DEFAULT_PQ,
) -> dict:
    """PQI of the dense and l1 networks and of the l1 network pruned one-shot (global
    magnitude) to kept ratio ``rho`` (its actual limit), for each ``(p, q)``."""
    nets = {"dense": _as_weights(dense), "l1": _as_weights(l1)}
    total = sum(w.numel() for w in nets["l1"].values())
    keep = keep_count(rho, total)
    masks = global_magnitude_masks(nets["l1"], keep)
    return {
        "rho_loss": rho,
        "kept": keep,
        "D": total,
        "networks": {
            "dense": network_pqi(nets["dense"], None, pairs),
            "l1": network_pqi(nets["l1"], None, pairs),
            "l1_pruned": network_pqi(nets["l1"], masks, pairs),
        },
    }
