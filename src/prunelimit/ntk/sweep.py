"""Seeded NTK sweeps of randomly pruned MLPs over widths x pruning probabilities x draws, as
tidy DataFrames (one row per width, p, draw and rescaled flag). Everything derives from one
integer ``seed``: per (width, draw) one set of ``N(0, 1)`` weights is drawn and shared by every
``p`` and by the dense network (only the masks differ, drawn from ``(seed, width, draw, p)``),
and each mask is used both without and with the ``1/sqrt(1 - p)`` rescaling; weights and masks
are drawn on the CPU, so the same arguments give the same networks on any device. Networks
and parametrisation as in :mod:`prunelimit.ntk.network`, kernels as in
:mod:`prunelimit.ntk.kernels` (``method`` ``"layerwise"``: :func:`mlp_ntk`, ``"jacobian"``:
:func:`empirical_ntk`), limits as in :mod:`prunelimit.ntk.analytic`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import pandas as pd
import torch

from prunelimit.ntk.analytic import analytic_ntk, analytic_ntk_gram, limit_scale, two_unit_inputs
from prunelimit.ntk.kernels import empirical_ntk, mlp_ntk
from prunelimit.ntk.network import PrunedMLP, derive_seed, init_weights, kept_fraction, random_masks

Method = Literal["layerwise", "jacobian"]


def _p_key(p: float) -> int:
    return int(round(p * 2**20))


def _draw_weights(
    in_dim: int, width: int, depth: int, seed: int, draw: int, dtype: torch.dtype
) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(derive_seed(seed, width, draw))
    return init_weights(in_dim, width, depth, 1, g, dtype)


def _draw_masks(
    weights: list[torch.Tensor], p: float, seed: int, width: int, draw: int
) -> list[torch.Tensor | None]:
    g = torch.Generator().manual_seed(derive_seed(seed, width, draw, 1 + _p_key(p)))
    return random_masks([w.shape for w in weights], p, g, weights[0].dtype)


def _ntk(model: PrunedMLP, x: torch.Tensor, method: Method, chunk_size: int) -> torch.Tensor:
    if method == "layerwise":
        return mlp_ntk(model, x)
    if method == "jacobian":
        return empirical_ntk(model, x, chunk_size=chunk_size)
    raise ValueError(f"method must be 'layerwise' or 'jacobian', got {method!r}")


def _grid(widths: Iterable[int], ps: Iterable[float], draws: int) -> tuple[list[int], list[float]]:
    widths, ps = [int(w) for w in widths], [float(p) for p in ps]
    if draws < 1 or not widths or not ps:
        raise ValueError("need at least one width, one p and one draw")
    return widths, ps


def ntk_sweep(
    widths: Iterable[int],
    ps: Iterable[float],
    draws: int,
    *,
    depth: int = 3,
    input_dim: int = 10,
    inner: float = 0.7688,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    method: Method = "layerwise",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Empirical NTK ``Theta_hat(x, y)`` of the two-input setup over widths x p x draws.

    Per (width, draw) one set of weights is shared by every ``p`` (only the masks differ) and each
    mask by the pruned and the rescaled network. One row per (width, p, draw, rescaled) with
    ``theta``, ``theta_inf`` (dense limit), ``theta_limit`` (this network's limit, ``(1-p)^L``
    ``theta_inf`` without rescaling), ``abs_dev = |theta - theta_inf|``, ``rel_dev = abs_dev /
    theta_inf``, ``abs_dev_limit = |theta - theta_limit|``, ``rel_dev_limit``, ``ratio = theta /
    theta_inf`` and ``kept`` (measured kept fraction of the prunable weights). ``method``:
    :func:`mlp_ntk` (``"layerwise"``) or :func:`empirical_ntk` (``"jacobian"``), equal up to
    rounding.
    """
    widths, ps = _grid(widths, ps, draws)
    x = two_unit_inputs(inner, input_dim, dtype).to(device)
    theta_inf = analytic_ntk(inner, depth)
    rows = []
    for width in widths:
        for draw in range(draws):
            weights = [
                w.to(device) for w in _draw_weights(input_dim, width, depth, seed, draw, dtype)
            ]
            for p in ps:
                masks = _draw_masks(weights, p, seed, width, draw)
                masks = [None if m is None else m.to(device) for m in masks]
                for rescaled in (False, True):
                    model = PrunedMLP(weights, masks, p, rescaled, copy=False)
                    theta = float(_ntk(model, x, method, 2)[0, 1])
                    row = {"width": width, "p": p, "draw": draw, "rescaled": rescaled}
                    rows.append(_deviations(row, model, theta, theta_inf, depth))
        if progress is not None:
            progress(f"ntk sweep: width {width} done ({draws} draws x {len(ps)} p)")
    return pd.DataFrame(rows)


def _deviations(row: dict, model: PrunedMLP, theta: float, theta_inf: float, depth: int) -> dict:
    """``row`` (width, p, draw, rescaled) of :func:`ntk_sweep` with the empirical NTK ``theta``
    of ``model``, its deviations from the dense limit ``theta_inf`` and from this network's
    limit, the ratio ``theta / theta_inf`` and the kept fraction."""
    lim = limit_scale(row["p"], depth, row["rescaled"]) * theta_inf
    return {
        **row,
        "theta": theta,
        "theta_inf": theta_inf,
        "theta_limit": lim,
        "abs_dev": abs(theta - theta_inf),
        "rel_dev": abs(theta - theta_inf) / theta_inf,
        "abs_dev_limit": abs(theta - lim),
        "rel_dev_limit": abs(theta - lim) / lim,
        "ratio": theta / theta_inf,
        "kept": kept_fraction(model),
    }


def _rel_frob(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.to(torch.float64).cpu(), b.to(torch.float64).cpu()
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def gram_distances(
    x: torch.Tensor,
    widths: Iterable[int],
    ps: Iterable[float],
    draws: int,
    *,
    depth: int = 3,
    seed: int = 0,
    input_scale: float = 1.0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    method: Method = "layerwise",
    chunk_size: int = 64,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Relative Frobenius distances of empirical NTK Gram matrices on a batch ``x`` (N, ...).

    For each (width, draw) the dense network (p = 0) and every pruned one share the weights (same
    init seed, different masks). Rows (width, p, draw, rescaled) hold ``rel_frob_dense =
    ||K_p - K_dense||_F / ||K_dense||_F`` and ``rel_frob_inf = ||K_p - K_inf||_F / ||K_inf||_F``
    against the analytic dense limit (``input_scale`` as in :class:`PrunedMLP`); ``method`` and
    ``chunk_size`` as in :func:`ntk_sweep` and :func:`empirical_ntk`.
    """
    widths, ps = _grid(widths, ps, draws)
    x = x.flatten(1).to(device=device, dtype=dtype)
    k_inf = analytic_ntk_gram(x, depth=depth, input_scale=input_scale)
    rows = []
    for width in widths:
        for draw in range(draws):
            weights = [
                w.to(device) for w in _draw_weights(x.shape[1], width, depth, seed, draw, dtype)
            ]
            dense = PrunedMLP(weights, None, 0.0, False, input_scale, copy=False)
            k_dense = _ntk(dense, x, method, chunk_size)
            for p in ps:
                masks = _draw_masks(weights, p, seed, width, draw)
                masks = [None if m is None else m.to(device) for m in masks]
                for rescaled in (False, True):
                    model = PrunedMLP(weights, masks, p, rescaled, input_scale, copy=False)
                    k = k_dense if p == 0.0 else _ntk(model, x, method, chunk_size)
                    rows.append(
                        {
                            "width": width,
                            "p": p,
                            "draw": draw,
                            "rescaled": rescaled,
                            "n_inputs": len(x),
                            "rel_frob_dense": _rel_frob(k, k_dense),
                            "rel_frob_inf": _rel_frob(k, k_inf),
                        }
                    )
        if progress is not None:
            progress(f"ntk gram: width {width} done ({draws} draws x {len(ps)} p)")
    return pd.DataFrame(rows)


def real_input_scale(x: torch.Tensor) -> float:
    """Input scale ``s = 1/sqrt(features)`` of the Gram runs on real inputs ``x`` (N, ...), so
    that ``s^2 <x, y>`` is of order one for entries of order one."""
    return x.flatten(1).shape[1] ** -0.5
