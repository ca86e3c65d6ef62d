"""Neural tangent kernel (NTK) of randomly pruned ReLU networks (Yang & Wang, AISTATS 2023).

Conventions (those of Arora et al. 2019, which Yang & Wang follow):

- network: bias-free ReLU MLP with ``depth`` hidden layers of width ``n`` and a linear readout,
  ``f_1 = s W_1 x``, ``f_h = c_h (M_h * W_h) relu(f_{h-1})`` for ``h = 2..depth+1``, output
  ``f = f_{depth+1}``; every ``W`` entry is drawn from ``N(0, 1)`` (NTK parametrisation);
- ``s = input_scale`` (1 for the paper's unit-norm inputs, so that ``S_0 = <x, y>``);
- ``c_h = sqrt(2 / n_in)`` with ``n_in`` the fan-in of layer ``h``; with the rescaling of the
  pruned network ``c_h = sqrt(2 / (n_in (1 - p)))``, i.e. kept weights times ``1/sqrt(1 - p)``;
- random pruning at initialisation: every entry of ``W_2 .. W_{depth+1}`` (the readout included)
  is kept independently with probability ``1 - p``; the first layer is never pruned; ``p = 0``
  gives no masks at all, and then the rescaling is exactly the identity;
- the NTK is ``Theta(x, y) = <df(x)/dW, df(y)/dW>`` over the parameters (pruned entries have zero
  gradient, so only kept weights count). For vector outputs ``empirical_ntk`` returns the trace
  over outputs (``mode="trace"``) or the full ``(O, O)`` blocks (``mode="full"``).

Infinite-width limit for this parametrisation (arc-cosine recursion), with
``S_0 = s^2 <x, y>``: ``S_h = (sqrt(|x|^2|y|^2 - S^2) + S (pi - arccos(S / (|x||y|)))) / pi``
(= ``(sqrt(1 - S^2) + S asin S) / pi + S / 2`` for unit correlations),
``Sdot_h = 1/2 + asin(S_{h-1} / (|x||y|)) / pi`` and
``Theta = sum_{h=0..L} S_h prod_{h'=h+1..L} Sdot_{h'}``; ``Theta = 2.42873`` for unit inputs with
``<x, y> = 0.7688`` and ``L = 3``. Without rescaling the pruned NTK converges to
``(1 - p)^L Theta`` (one factor ``1 - p`` per pruned layer); with it, to ``Theta``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

Mode = Literal["trace", "full"]

# --------------------------------------------------------------------------- analytic limit


def _ntk_from_correlation(rho: torch.Tensor, depth: int) -> torch.Tensor:
    """Limit NTK for inputs of unit norm with correlations ``rho`` (any shape, float64)."""
    s = rho.clamp(-1.0, 1.0)
    theta = s.clone()
    for _ in range(depth):
        sdot = 0.5 + torch.asin(s) / math.pi
        s = (torch.sqrt((1.0 - s * s).clamp_min(0.0)) + s * torch.asin(s)) / math.pi + s / 2
        s = s.clamp(-1.0, 1.0)
        theta = theta * sdot + s
    return theta


def analytic_ntk(inner: float, depth: int) -> float:
    """Infinite-width NTK ``Theta(x, y)`` of the dense net for unit inputs with ``<x, y> = inner``.

    ``depth`` is the number of hidden layers ``L``; ``analytic_ntk(0.7688, 3) = 2.42873``.
    """
    if not -1.0 <= inner <= 1.0:
        raise ValueError(f"inner product of unit inputs must be in [-1, 1], got {inner}")
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    return float(_ntk_from_correlation(torch.tensor(inner, dtype=torch.float64), depth))


def analytic_ntk_gram(
    x1: torch.Tensor, x2: torch.Tensor | None = None, *, depth: int, input_scale: float = 1.0
) -> torch.Tensor:
    """Infinite-width NTK Gram matrix ``(N1, N2)`` (float64) of the dense net for any inputs.

    Inputs are flattened to ``(N, features)``. ReLU is positively homogeneous, so
    ``Theta(x, y) = s^2 |x| |y| Theta_unit(cos(x, y))`` with ``s = input_scale``; a zero input
    has zero kernel.
    """
    a = x1.detach().flatten(1).to(torch.float64).cpu()
    b = a if x2 is None else x2.detach().flatten(1).to(torch.float64).cpu()
    na, nb = a.norm(dim=1), b.norm(dim=1)
    norms = na[:, None] * nb[None, :]
    rho = torch.where(norms > 0, (a @ b.T) / norms.clamp_min(1e-300), torch.zeros_like(norms))
    return input_scale**2 * norms * _ntk_from_correlation(rho, depth)


def limit_scale(p: float, depth: int, rescaled: bool) -> float:
    """Factor between the pruned and the dense NTK limit: ``1`` rescaled, else ``(1-p)^depth``."""
    return 1.0 if rescaled else (1.0 - p) ** depth


# --------------------------------------------------------------------------- network


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that is a deterministic function of integer ``keys`` (via SeedSequence)."""
    words = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return int((int(words[0]) << 31) ^ int(words[1])) & (2**63 - 1)


def _p_key(p: float) -> int:
    return int(round(p * 2**20))


def init_weights(
    in_dim: int,
    width: int,
    depth: int,
    out_dim: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """``N(0, 1)`` weights ``[W_1 (n, in), W_2 .. W_depth (n, n), W_out (out, n)]``.

    Drawn on the generator's device (pass a CPU generator for device-independent numbers).
    """
    dims = [in_dim] + [width] * depth + [out_dim]
    device = generator.device if generator is not None else torch.device("cpu")
    return [
        torch.randn(dims[k + 1], dims[k], generator=generator, dtype=dtype, device=device)
        for k in range(len(dims) - 1)
    ]


def random_masks(
    shapes: Sequence[torch.Size | tuple[int, ...]],
    p: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor | None]:
    """Bernoulli(1 - p) keep masks for every layer but the first (``None`` there, and for p = 0)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"pruning probability p must be in [0, 1), got {p}")
    device = generator.device if generator is not None else torch.device("cpu")
    masks: list[torch.Tensor | None] = [None]
    for shape in shapes[1:]:
        if p == 0.0:
            masks.append(None)
        else:
            u = torch.rand(tuple(shape), generator=generator, device=device)
            masks.append((u >= p).to(dtype))
    return masks


class PrunedMLP(nn.Module):
    """Bias-free ReLU MLP in NTK parametrisation with fixed random pruning masks.

    ``weights[k]`` are the raw ``N(0, 1)`` matrices (the trainable parameters); ``masks[k]`` are
    buffers (``None``: layer not pruned). Layer ``k >= 1`` output is multiplied by
    ``sqrt(2 / (fan_in * keep))`` with ``keep = 1 - p`` if ``rescale`` else 1; layer 0 by
    ``input_scale``. Inputs of any shape ``(N, ...)`` are flattened; the output is ``(N, out)``.
    ``copy=False`` shares the given tensors instead of cloning them (cheap sweeps, no training).
    """

    def __init__(
        self,
        weights: Sequence[torch.Tensor],
        masks: Sequence[torch.Tensor | None] | None = None,
        p: float = 0.0,
        rescale: bool = False,
        input_scale: float = 1.0,
        copy: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"pruning probability p must be in [0, 1), got {p}")
        masks = list(masks) if masks is not None else [None] * len(weights)
        if len(masks) != len(weights) or masks[0] is not None:
            raise ValueError("need one mask per layer, and the first layer is never pruned")
        self.p, self.rescale, self.input_scale = float(p), bool(rescale), float(input_scale)
        own = (lambda t: t.detach().clone()) if copy else (lambda t: t.detach())
        self.weights = nn.ParameterList([nn.Parameter(own(w)) for w in weights])
        self.masked: list[bool] = []
        for k, m in enumerate(masks):
            if m is not None and m.shape != weights[k].shape:
                raise ValueError(f"mask {k} has shape {tuple(m.shape)}, weight {weights[k].shape}")
            self.register_buffer(f"mask{k}", None if m is None else own(m))
            self.masked.append(m is not None)
        keep = 1.0 - self.p if self.rescale else 1.0
        self.scales = [self.input_scale] + [
            math.sqrt(2.0 / (w.shape[1] * keep)) for w in list(weights)[1:]
        ]

    @property
    def depth(self) -> int:
        return len(self.weights) - 1

    def effective_weight(self, k: int) -> torch.Tensor:
        w = self.weights[k]
        return w * getattr(self, f"mask{k}") if self.masked[k] else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for k in range(len(self.weights)):
            if k > 0:
                h = torch.relu(h)
            h = self.scales[k] * (h @ self.effective_weight(k).T)
        return h


def pruned_mlp(
    in_dim: int,
    width: int,
    depth: int,
    p: float = 0.0,
    rescale: bool = False,
    *,
    seed: int = 0,
    mask_seed: int | None = None,
    out_dim: int = 1,
    input_scale: float = 1.0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> PrunedMLP:
    """Build a :class:`PrunedMLP`: weights from ``seed``, masks from ``mask_seed`` (both on CPU).

    The same ``seed`` with different ``p`` gives the same weights (only the masks differ);
    ``mask_seed`` defaults to ``derive_seed(seed, 1)``.
    """
    gw = torch.Generator().manual_seed(seed)
    weights = init_weights(in_dim, width, depth, out_dim, gw, dtype)
    gm = torch.Generator().manual_seed(derive_seed(seed, 1) if mask_seed is None else mask_seed)
    masks = random_masks([w.shape for w in weights], p, gm, dtype)
    return PrunedMLP(weights, masks, p, rescale, input_scale).to(device)


def kept_fraction(model: PrunedMLP) -> float:
    """Fraction of kept entries over the prunable layers (all layers but the first)."""
    kept = total = 0
    for k in range(1, len(model.weights)):
        n = model.weights[k].numel()
        total += n
        kept += int(getattr(model, f"mask{k}").sum().item()) if model.masked[k] else n
    return kept / total


# --------------------------------------------------------------------------- empirical NTK


def _contract(ja: dict[str, torch.Tensor], jb: dict[str, torch.Tensor], mode: Mode) -> torch.Tensor:
    """Sum over parameters of per-sample Jacobian products; ``J[name]`` is ``(n, O, P_name)``."""
    out = None
    for name, a in ja.items():
        b = jb[name]
        na, o, _ = a.shape
        nb = b.shape[0]
        if mode == "trace":
            blk = torch.einsum("aop,bop->ab", a, b)
        else:
            blk = (a.reshape(na * o, -1) @ b.reshape(nb * o, -1).T).view(na, o, nb, o)
            blk = blk.permute(0, 2, 1, 3)
        out = blk if out is None else out + blk
    assert out is not None
    return out


def ntk_from_fn(
    fn: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
    params: dict[str, torch.Tensor],
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    chunk_size: int = 64,
    mode: Mode = "trace",
) -> torch.Tensor:
    """Empirical NTK of ``fn(params, x) -> (O,)`` (one unbatched sample) with ``torch.func``.

    Per-sample Jacobians come from ``vmap(jacrev(fn))`` over chunks of ``chunk_size`` samples
    and are contracted block by block, so memory stays about ``2 * chunk_size * O * P`` numbers.
    ``x2=None`` means ``x2 = x1`` (only the upper blocks are computed). Returns ``(N1, N2)`` for
    ``mode="trace"`` (sum over the ``O`` outputs; the NTK itself for scalar output) or
    ``(N1, N2, O, O)`` for ``mode="full"``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if mode not in ("trace", "full"):
        raise ValueError(f"mode must be 'trace' or 'full', got {mode!r}")
    params = {k: v.detach() for k, v in params.items()}
    jac = vmap(jacrev(fn), in_dims=(None, 0))

    def jacobians(x: torch.Tensor) -> dict[str, torch.Tensor]:
        j = jac(params, x)
        return {k: v.reshape(v.shape[0], v.shape[1], -1) for k, v in j.items()}

    sym = x2 is None
    xb = x1 if x2 is None else x2
    n1, n2 = len(x1), len(xb)
    starts1, starts2 = range(0, n1, chunk_size), range(0, n2, chunk_size)
    out: torch.Tensor | None = None
    for a in starts1:
        ja = jacobians(x1[a : a + chunk_size])
        for b in starts2:
            if sym and b < a:
                continue
            jb = ja if sym and b == a else jacobians(xb[b : b + chunk_size])
            blk = _contract(ja, jb, mode)
            if out is None:
                shape = (n1, n2) + tuple(blk.shape[2:])
                out = torch.zeros(shape, dtype=blk.dtype, device=blk.device)
            out[a : a + blk.shape[0], b : b + blk.shape[1]] = blk
            if sym and b != a:
                t = blk.T if mode == "trace" else blk.permute(1, 0, 3, 2)
                out[b : b + blk.shape[1], a : a + blk.shape[0]] = t
    assert out is not None
    return out


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    chunk_size: int = 64,
    mode: Mode = "trace",
) -> torch.Tensor:
    """Empirical NTK of any ``nn.Module`` over its trainable parameters (see :func:`ntk_from_fn`).

    The module is called as is on batches of one sample (``model(x[None])``), so put modules
    with batch statistics (BatchNorm) in eval mode first. Outputs are flattened to ``(O,)``.
    """
    params = {k: v for k, v in model.named_parameters() if v.requires_grad}
    buffers = dict(model.named_buffers())

    def fn(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).reshape(-1)

    return ntk_from_fn(fn, params, x1, x2, chunk_size=chunk_size, mode=mode)


def naive_ntk(
    model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *, mode: Mode = "trace"
) -> torch.Tensor:
    """Reference NTK: one ``autograd.grad`` per sample and output, full gradients stacked.

    Same conventions and return shapes as :func:`empirical_ntk`; memory ``(N1 + N2) O P``.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def grads(x: torch.Tensor) -> torch.Tensor:
        rows = []
        for i in range(len(x)):
            out = model(x[i : i + 1]).reshape(-1)
            for o in range(out.numel()):
                g = torch.autograd.grad(out[o], params, retain_graph=o < out.numel() - 1)
                rows.append(torch.cat([t.reshape(-1) for t in g]))
        return torch.stack(rows).view(len(x), -1, rows[0].numel())

    ja = grads(x1)
    jb = ja if x2 is None else grads(x2)
    return _contract({"all": ja}, {"all": jb}, mode)


def _activations_and_cotangents(
    model: PrunedMLP, x: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """Per layer ``k``: its input ``g_k`` (N, n_in) and ``d f_o / d z_k`` (N * O, n_out).

    ``z_k`` is the layer output; cotangents come from one batched ``torch.func.vjp`` per output
    (vmapped), exact per sample because the samples of a batch do not interact. Rows of the
    cotangents are ordered (sample, output).
    """
    h0 = x.flatten(1)
    weights = [model.effective_weight(k).detach() for k in range(len(model.weights))]

    def forward(probes: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, gs = h0, []
        for k, w in enumerate(weights):
            if k > 0:
                h = torch.relu(h)
            gs.append(h)
            h = model.scales[k] * (h @ w.T) + probes[k]
        return h, gs

    probes = [h0.new_zeros(len(h0), w.shape[0]) for w in weights]
    out, vjp_fn, gs = torch.func.vjp(forward, probes, has_aux=True)
    n, o = out.shape
    basis = torch.eye(o, dtype=out.dtype, device=out.device)[:, None, :].expand(o, n, o)
    (deltas,) = vmap(vjp_fn)(basis)  # each (O, N, n_out)
    deltas = [d.permute(1, 0, 2).reshape(n * o, -1) for d in deltas]
    return [g.detach() for g in gs], deltas, o


def _layer_kernel(
    g1: torch.Tensor,
    d1: torch.Tensor,
    g2: torch.Tensor,
    d2: torch.Tensor,
    mask: torch.Tensor | None,
    sym: bool,
    pair_chunk: int,
) -> torch.Tensor:
    """``K[r, s] = sum_ij M_ij d1[r, i] d2[s, i] g1[r, j] g2[s, j]`` for rows ``r``, ``s``.

    ``M = 1`` (``mask=None``) factorises; a narrow mask (readout) is summed per output unit;
    otherwise blocks of about ``pair_chunk`` row pairs go through one matrix product with ``M``
    (for ``sym`` only the upper triangle, then mirrored).
    """
    if mask is None:
        return (d1 @ d2.T) * (g1 @ g2.T)
    r1, r2 = len(g1), len(g2)
    n_out, n_in = mask.shape
    if n_out <= 8:
        return sum(torch.outer(d1[:, i], d2[:, i]) * ((g1 * mask[i]) @ g2.T) for i in range(n_out))
    k = g1.new_zeros(r1, r2)
    rb = max(1, pair_chunk // r2)
    if sym:
        rb = min(rb, -(-r1 // 8))
    for a0 in range(0, r1, rb):
        a1 = min(a0 + rb, r1)
        b0 = a0 if sym else 0
        gp = (g1[a0:a1, None, :] * g2[None, b0:, :]).reshape(-1, n_in)
        h = (gp @ mask.T).view(a1 - a0, r2 - b0, n_out)
        k[a0:a1, b0:] = (h * (d1[a0:a1, None, :] * d2[None, b0:, :])).sum(-1)
    if sym:
        k = torch.triu(k) + torch.triu(k, 1).T
    return k


def mlp_ntk(
    model: PrunedMLP,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    mode: Mode = "trace",
    pair_chunk: int = 4096,
) -> torch.Tensor:
    """Exact empirical NTK of a :class:`PrunedMLP` by per-layer Jacobian contraction.

    Same result and conventions as :func:`empirical_ntk`, without materialising per-sample
    Jacobians: ``df/dW_k = c_k M_k * (delta_k g_k^T)``, so layer ``k`` adds
    ``c_k^2 sum_ij M_ij delta_a,i delta_b,i g_a,j g_b,j``; an unpruned layer costs
    ``(D D^T) * (G G^T)``, a pruned one a matrix product per ``pair_chunk`` sample pairs.
    """
    if mode not in ("trace", "full"):
        raise ValueError(f"mode must be 'trace' or 'full', got {mode!r}")
    sym = x2 is None
    g1s, d1s, o = _activations_and_cotangents(model, x1)
    g2s, d2s, _ = (g1s, d1s, o) if sym else _activations_and_cotangents(model, x2)
    k_rows = None
    for k in range(len(model.weights)):
        mask = getattr(model, f"mask{k}") if model.masked[k] else None
        g1 = g1s[k].repeat_interleave(o, dim=0) if o > 1 else g1s[k]
        g2 = g2s[k].repeat_interleave(o, dim=0) if o > 1 else g2s[k]
        blk = model.scales[k] ** 2 * _layer_kernel(g1, d1s[k], g2, d2s[k], mask, sym, pair_chunk)
        k_rows = blk if k_rows is None else k_rows + blk
    assert k_rows is not None
    n1, n2 = len(g1s[0]), len(g2s[0])
    k4 = k_rows.view(n1, o, n2, o)
    return torch.einsum("aobo->ab", k4) if mode == "trace" else k4.permute(0, 2, 1, 3)


# --------------------------------------------------------------------------- experiments


def two_unit_inputs(inner: float, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rows ``x = e_1``, ``y = inner e_1 + sqrt(1 - inner^2) e_2``: unit norm, ``<x, y> = inner``.

    The NTK distribution at Gaussian init is rotation invariant, so the basis is immaterial.
    """
    if dim < 2:
        raise ValueError("need input dim >= 2")
    x = torch.zeros(2, dim, dtype=torch.float64)
    x[0, 0] = 1.0
    x[1, 0], x[1, 1] = inner, math.sqrt(1.0 - inner * inner)
    return x.to(dtype)


def _draw_weights(in_dim: int, width: int, depth: int, seed: int, draw: int, dtype: torch.dtype):
    g = torch.Generator().manual_seed(derive_seed(seed, width, draw))
    return init_weights(in_dim, width, depth, 1, g, dtype)


def _draw_masks(weights: list[torch.Tensor], p: float, seed: int, width: int, draw: int):
    g = torch.Generator().manual_seed(derive_seed(seed, width, draw, 1 + _p_key(p)))
    return random_masks([w.shape for w in weights], p, g, weights[0].dtype)


Method = Literal["layerwise", "jacobian"]


def _ntk(model: PrunedMLP, x: torch.Tensor, method: Method, chunk_size: int) -> torch.Tensor:
    if method == "layerwise":
        return mlp_ntk(model, x)
    if method == "jacobian":
        return empirical_ntk(model, x, chunk_size=chunk_size)
    raise ValueError(f"method must be 'layerwise' or 'jacobian', got {method!r}")


def _grid(widths: Iterable[int], ps: Iterable[float], draws: int):
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
                    lim = limit_scale(p, depth, rescaled) * theta_inf
                    rows.append(
                        {
                            "width": width,
                            "p": p,
                            "draw": draw,
                            "rescaled": rescaled,
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
                    )
        if progress is not None:
            progress(f"ntk sweep: width {width} done ({draws} draws x {len(ps)} p)")
    return pd.DataFrame(rows)


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


def width_needed(
    df: pd.DataFrame,
    tol: float,
    *,
    column: str = "abs_dev",
    rescaled: bool | None = True,
    stable: bool = False,
) -> pd.Series:
    """Per ``p``: the smallest width whose mean ``column`` over draws is ``<= tol`` (NaN if none).

    ``rescaled`` selects those rows (``None``: use all rows). With ``stable=True`` every larger
    width must also meet the tolerance.
    """
    d = df if rescaled is None or "rescaled" not in df else df[df["rescaled"] == rescaled]
    means = d.groupby(["p", "width"])[column].mean().unstack("width").sort_index(axis=1)
    out = {}
    for p, row in means.iterrows():
        ok = (row <= tol).to_numpy()
        if stable:
            ok = np.flip(np.logical_and.accumulate(np.flip(ok)))
        hit = row.index[ok]
        out[p] = float(hit.min()) if len(hit) else math.nan
    return pd.Series(out, name="width_needed", dtype=float).rename_axis("p")


def width_needed_fit(
    df: pd.DataFrame,
    tol: float,
    *,
    column: str = "abs_dev",
    rescaled: bool | None = True,
    min_width: int = 128,
) -> pd.DataFrame:
    """Per ``p``: power-law fit ``mean column = a n^b`` over widths ``>= min_width`` and the
    width where it equals ``tol`` (may extrapolate beyond the sweep; NaN with fewer than two
    widths, a flat fit ``b > -0.1`` or beyond ``1e9``). Columns ``p, exponent, width_fit,
    extrapolated``.
    """
    d = df if rescaled is None or "rescaled" not in df else df[df["rescaled"] == rescaled]
    means = d[d["width"] >= min_width].groupby(["p", "width"])[column].mean()
    rows = []
    for p, m in means.groupby(level="p"):
        w = m.index.get_level_values("width").to_numpy(dtype=float)
        v = m.to_numpy(dtype=float)
        ok = v > 0
        b, a, width = math.nan, math.nan, math.nan
        if ok.sum() >= 2:
            b, a = np.polyfit(np.log(w[ok]), np.log(v[ok]), 1)
            log_w = (math.log(tol) - a) / b if b < -0.1 else math.inf
            if log_w < math.log(1e9):  # a flat fit (b > -0.1) never reaches a useful width
                width = float(math.exp(log_w))
        rows.append(
            {
                "p": float(p),
                "exponent": float(b),
                "width_fit": width,
                "extrapolated": bool(not math.isnan(width) and width > w.max()),
            }
        )
    types = {"p": float, "exponent": float, "width_fit": float, "extrapolated": bool}
    return pd.DataFrame(rows, columns=list(types)).astype(types)


# --------------------------------------------------------------------------- summaries


def deviation_table(
    df: pd.DataFrame, tol: float, min_width: int = 128
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean (std) of ``|Theta_hat - Theta_inf|`` per (p, rescaled) and width, + width needed.

    Returns ``(raw, formatted)``: raw has columns ``p, rescaled, dev_mean_<w>, dev_std_<w>, ...,
    width_needed, width_fit`` (:func:`width_needed`, :func:`width_needed_fit`; NaN for a fit
    that does not decrease); formatted shows ``mean +- std`` per width (for ``write_table``).
    """
    from prunelimit.tables import format_pm

    stats = df.groupby(["p", "rescaled", "width"])["abs_dev"].agg(["mean", "std"]).reset_index()
    widths = sorted(stats["width"].unique())
    raw_rows, fmt_rows = [], []
    for (p, rescaled), grp in stats.groupby(["p", "rescaled"], sort=True):
        need = width_needed(df, tol, rescaled=bool(rescaled)).get(p, math.nan)
        fit = width_needed_fit(df, tol, rescaled=bool(rescaled), min_width=min_width)
        fit = fit.set_index("p")
        wfit = float(fit.loc[p, "width_fit"]) if p in fit.index else math.nan
        raw: dict = {"p": p, "rescaled": bool(rescaled)}
        fmt: dict = {"p": f"{p:g}", "rescaled": "yes" if rescaled else "no"}
        by_w = grp.set_index("width")
        for w in widths:
            m, s = (by_w.loc[w, "mean"], by_w.loc[w, "std"]) if w in by_w.index else (math.nan,) * 2
            raw[f"dev_mean_{w}"], raw[f"dev_std_{w}"] = m, s
            fmt[f"n={w}"] = format_pm(float(m), float(s), 3)
        raw["width_needed"], raw["width_fit"] = need, wfit
        fmt[f"width needed (tol {tol:g})"] = "> max" if math.isnan(need) else f"{int(need)}"
        fmt["power-law fit"] = "" if math.isnan(wfit) else f"{wfit:.0f}"
        raw_rows.append(raw)
        fmt_rows.append(fmt)
    return pd.DataFrame(raw_rows), pd.DataFrame(fmt_rows)


def summarise(df: pd.DataFrame, gram: pd.DataFrame | None, tol: float) -> dict:
    """Key numbers of a sweep: the limit, per (p, rescaled) at the largest width the mean and std
    of ``theta / theta_inf`` and of ``abs_dev``, the width needed per p, and Gram distances."""
    wmax = int(df["width"].max())
    last = df[df["width"] == wmax]
    out: dict = {
        "theta_inf": float(df["theta_inf"].iloc[0]),
        "largest_width": wmax,
        "tolerance": tol,
    }
    rows = []
    for (p, rescaled), g in last.groupby(["p", "rescaled"]):
        rows.append(
            {
                "p": float(p),
                "rescaled": bool(rescaled),
                "ratio_mean": float(g["ratio"].mean()),
                "ratio_std": float(g["ratio"].std()),
                "expected_ratio": float(g["theta_limit"].iloc[0] / g["theta_inf"].iloc[0]),
                "abs_dev_mean": float(g["abs_dev"].mean()),
                "abs_dev_std": float(g["abs_dev"].std()),
                "abs_dev_limit_mean": float(g["abs_dev_limit"].mean()),
                "kept_mean": float(g["kept"].mean()),
            }
        )
    out["largest_width_stats"] = rows
    need = width_needed(df, tol)
    out["width_needed"] = {f"{p:g}": (None if math.isnan(w) else int(w)) for p, w in need.items()}
    fit = width_needed_fit(df, tol)
    out["width_needed_fit"] = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in fit.to_dict("records")
    ]
    if gram is not None and len(gram):
        gmax = int(gram["width"].max())
        gl = gram[gram["width"] == gmax].groupby(["p", "rescaled"])
        out["gram_largest_width"] = gmax
        out["gram"] = [
            {
                "p": float(p),
                "rescaled": bool(r),
                "rel_frob_dense_mean": float(g["rel_frob_dense"].mean()),
                "rel_frob_inf_mean": float(g["rel_frob_inf"].mean()),
            }
            for (p, r), g in gl
        ]
    return out
