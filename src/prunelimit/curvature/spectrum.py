"""Hessian spectrum by stochastic Lanczos quadrature (SLQ), with two engines behind one interface.

SLQ: ``n_v`` Rademacher probes ``v`` (normalised), ``m`` Lanczos steps each with full
reorthogonalisation (modified Gram-Schmidt, repeated when needed), tridiagonal ``T`` per probe,
its eigenpairs give Ritz nodes ``theta_j`` and weights ``tau_j`` (squared first components,
summing to 1). For any ``f``: ``tr f(H) ~= D * mean_probes sum_j tau_j f(theta_j)``.

Engines (``engine=``): ``builtin`` (this module with
:class:`~prunelimit.curvature.operator.HessianOperator`: ``torch.func`` products, all probes at
once) and ``pyhessian`` (the pyhessian package: its power iteration, Hutchinson trace and SLQ
density, one probe at a time through autograd). Both return the same dictionary (see
:func:`spectral_summary`).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from prunelimit.curvature.linalg import row_dots, row_norms
from prunelimit.curvature.operator import HessianOperator
from prunelimit.curvature.pyhessian_engine import pyhessian_spectrum

ENGINES = ("builtin", "pyhessian")


def rademacher(k: int, D: int, generator: torch.Generator, device=None) -> torch.Tensor:
    """``k`` unit-norm Rademacher vectors (k, D), drawn on the CPU from ``generator``."""
    v = torch.randint(0, 2, (k, D), generator=generator, dtype=torch.float32) * 2 - 1
    return (v / math.sqrt(D)).to(device)


class Lanczos:
    """Lanczos with full reorthogonalisation from the rows of ``v0`` (k, D), all probes at once,
    extendable: :meth:`extend` continues the same run, so the coefficients after ``j`` steps are
    exactly the leading ``j x j`` block of those after any ``m >= j`` steps.

    Each step applies ``matvec`` to all k vectors, subtracts the three-term recurrence, then
    reorthogonalises every probe against its whole Krylov basis by modified Gram-Schmidt; the
    pass is repeated when it removed more than ``1 - 1/sqrt(2)`` of the norm
    (Daniel-Gragg-Kaufman-Stewart criterion: twice is enough).

    ``basis_memory_gb`` (GB = 1e9 bytes; None: no limit) caps the basis held beside the vectors:
    blocks past it are kept in host memory (a CUDA run) or in memory-mapped files (a CPU run,
    unlinked at once, so the OS pages them out rather than the job being killed), and read back
    one vector at a time. The arithmetic is the same: the coefficients are identical.
    """

    def __init__(
        self,
        matvec: Callable[[torch.Tensor], torch.Tensor],
        v0: torch.Tensor,
        basis_memory_gb: float | None = None,
    ):
        self.matvec = matvec
        self.k, self.D = v0.shape
        self.device = v0.device
        self._budget = math.inf if basis_memory_gb is None else basis_memory_gb * 1e9
        self._held, self._spilled = 0, 0  # bytes of the basis beside the vectors; blocks not
        self.basis: list[torch.Tensor] = []  # one (k, D) block per step
        self._alpha: list[np.ndarray] = []
        self._beta: list[np.ndarray] = []
        self._size = np.full(self.k, -1)  # Krylov dimension once exhausted, else -1
        self._q = v0 / row_norms(v0)[:, None]
        self._b = torch.zeros(self.k, dtype=v0.dtype, device=v0.device)

    @property
    def steps(self) -> int:
        return len(self._alpha)

    @property
    def spilled(self) -> int:
        """Blocks of the basis kept off the vectors' memory (see ``basis_memory_gb``)."""
        return self._spilled

    def _keep(self, q: torch.Tensor) -> torch.Tensor:
        """``q`` as the basis holds it: itself while the basis fits the budget, else a copy in
        host memory (pinned, for a CUDA run) or in an unlinked memory-mapped file (CPU)."""
        nbytes = q.numel() * q.element_size()
        if self._held + nbytes <= self._budget:
            self._held += nbytes
            return q
        self._spilled += 1
        if q.device.type == "cuda":
            return q.cpu().pin_memory()
        fd, path = tempfile.mkstemp(prefix="lanczos-basis-")
        os.close(fd)
        try:
            kept = torch.from_file(path, shared=True, size=q.numel(), dtype=q.dtype)
        finally:
            os.unlink(path)  # the mapping stays valid; the file goes with the process
        return kept.view_as(q).copy_(q)

    def _near(self, q: torch.Tensor) -> torch.Tensor:
        """A basis vector where the arithmetic happens (a copy only if it was spilled)."""
        return q if q.device == self.device else q.to(self.device, non_blocking=True)

    def extend(self, n: int, residual: bool = True) -> None:
        """Run ``n`` more steps (fewer if ``D`` is reached). ``residual=False`` skips the
        reorthogonalisation after the last of them (a run that will not be extended)."""
        for t in range(min(n, self.D - self.steps)):
            j = self.steps
            q = self._q
            self.basis.append(self._keep(q))
            w = self.matvec(q)
            a = row_dots(w, q)
            self._alpha.append(a.double().cpu().numpy())
            if not np.isfinite(self._alpha[-1]).all():
                raise FloatingPointError(
                    f"the Hessian spectrum is not finite: a Hessian-vector product at Lanczos "
                    f"step {j + 1} gave {self._alpha[-1].tolist()} (are the weights or the loss "
                    "at w* finite?)"
                )
            if (not residual and t == n - 1) or j == self.D - 1:
                break
            w -= a[:, None] * q
            if j > 0:
                w -= self._b[:, None] * self._near(self.basis[j - 1])
            for i in range(self.k):  # per probe, vector by vector: each basis vector is read
                wi = w[i]  # from memory once (the second use hits the cache); no host sync
                before = float(row_norms(wi))
                for _ in range(2):
                    for qb in self.basis:
                        qi = self._near(qb[i])
                        wi.addcmul_(qi, row_dots(qi, wi), value=-1.0)
                    after = float(row_norms(wi))
                    if after > before / math.sqrt(2):
                        break
                    before = after
            b = row_norms(w)
            self._beta.append(b.double().cpu().numpy())
            scale = np.maximum(np.abs(np.stack(self._alpha, 1)).max(1), 1e-30)
            done = (self._beta[-1] <= 1e-10 * scale) & (self._size < 0)
            self._size[done] = j + 1
            self._q = torch.where(
                b[:, None] > 0, w / b.clamp_min(1e-30)[:, None], torch.zeros_like(w)
            )
            self._b = b

    def coefficients(self, j: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``alpha`` (k, j), ``beta`` (k, j-1) and the Krylov dimension per probe after ``j``
        steps (default: all run so far)."""
        return prefix(
            np.stack(self._alpha, 1),
            np.stack(self._beta, 1) if self._beta else np.zeros((self.k, 0)),
            np.where(self._size < 0, self.steps, self._size),
            self.steps if j is None else j,
        )


def prefix(
    alpha: np.ndarray, beta: np.ndarray, size: np.ndarray, j: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The coefficients of the first ``j`` Lanczos steps of a longer run."""
    alpha, beta = np.asarray(alpha, float), np.asarray(beta, float)
    return alpha[:, :j], beta[:, : max(j - 1, 0)], np.minimum(np.asarray(size), j)


def lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``steps`` Lanczos steps from the rows of ``v0`` (see :class:`Lanczos`).

    Returns ``alpha`` (k, m), ``beta`` (k, m-1) and the Krylov dimension reached per probe
    (smaller than m when the Krylov space is exhausted: ``beta`` vanishes).
    """
    run = Lanczos(matvec, v0)
    run.extend(steps, residual=False)
    return run.coefficients()


def ritz(alpha: np.ndarray, beta: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ritz nodes and quadrature weights per probe (padded with weight 0 past each size)."""
    k, m = alpha.shape
    nodes, weights = np.zeros((k, m)), np.zeros((k, m))
    for i in range(k):
        s = int(size[i])
        T = np.diag(alpha[i, :s]) + np.diag(beta[i, : s - 1], 1) + np.diag(beta[i, : s - 1], -1)
        theta, vecs = np.linalg.eigh(T)
        nodes[i, :s], weights[i, :s] = theta, vecs[0] ** 2
    return nodes, weights


# The near-zero cluster: Ritz nodes with |theta| <= ZERO_TOL * max |theta|. Their sign is not
# resolved by m << D Lanczos steps (it flips with m on the same probes), so the fields it sets
# (negative mass and trace, Tr|H|) carry a verdict: stable from m // 2 to m steps within
# RESOLVED_TOL (absolute for masses, relative for traces).
ZERO_TOL = 1e-3
RESOLVED_TOL = {"negative_mass": 0.02, "negative_trace": 0.05, "abs_trace": 0.05}


def spectral_summary(nodes: np.ndarray, weights: np.ndarray, D: int) -> dict:
    """Traces and extreme eigenvalues implied by the quadrature (nodes, weights: (k, m)).

    Traces are means over the k probes with their standard error (``*_se``, ddof 1; NaN for
    one probe). ``near_zero_mass`` is the weight within ``near_zero_tol`` (``ZERO_TOL`` times
    the largest ``|theta|``) of zero."""
    k = nodes.shape[0]

    def mean_se(values: np.ndarray) -> tuple[float, float]:
        se = float(values.std(ddof=1) / math.sqrt(k)) if k > 1 else math.nan
        return float(values.mean()), se

    per_probe = {
        "trace": D * (weights * nodes).sum(1),
        "abs_trace": D * (weights * np.abs(nodes)).sum(1),
        "negative_trace": D * (weights * np.minimum(nodes, 0.0)).sum(1),
    }
    out = {}
    for name, values in per_probe.items():
        out[name], out[f"{name}_se"] = mean_se(values)
    tol = ZERO_TOL * float(np.abs(nodes[weights > 0]).max())
    return {
        **out,
        "negative_mass": float((weights * (nodes < 0)).sum(1).mean()),
        "near_zero_mass": float((weights * (np.abs(nodes) <= tol)).sum(1).mean()),
        "near_zero_tol": tol,
        "lambda_max": float(nodes[weights > 0].max()),
        "lambda_min": float(nodes[weights > 0].min()),
    }


def resolution(alpha: np.ndarray, beta: np.ndarray, size: np.ndarray, D: int) -> dict:
    """Whether the fields the near-zero cluster sets are resolved: each of ``RESOLVED_TOL``'s
    fields after ``m // 2`` and after all ``m`` Lanczos steps of the same probes, the change
    (traces: relative to ``Tr|H|``), its tolerance and the verdict ``resolved`` (the rule of
    the ``rho_th`` convergence check)."""
    m = alpha.shape[1]
    half, full = (spectral_summary(*ritz(*prefix(alpha, beta, size, j)), D) for j in (m // 2, m))
    out = {}
    for name, tol in RESOLVED_TOL.items():
        change = abs(full[name] - half[name])
        if name != "negative_mass":  # traces: relative to Tr|H|
            change /= max(full["abs_trace"], 1e-300)
        out[name] = {
            "half": half[name],
            "full": full[name],
            "change": change,
            "tol": tol,
            "resolved": bool(m >= 2 and change <= tol),
        }
    return out


def builtin_spectrum(
    op: HessianOperator,
    steps: int,
    probes: int,
    top_k: int,
    seed: int,
    converged: Callable[[np.ndarray, np.ndarray, np.ndarray], bool] | None = None,
    block: int = 40,
    basis_memory_gb: float | None = None,
) -> dict:
    """SLQ with the built-in operator, all probes in one batch; top eigenvalues are the
    largest Ritz values of the first probe (extreme Ritz values converge first).

    With ``converged`` (``lanczos_steps: auto``) the run continues in blocks of ``block`` steps,
    from ``2 * block`` on asking ``converged(alpha, beta, size)`` after each block, and stops
    when it says yes or after ``steps`` steps (the maximum).
    """
    g = torch.Generator().manual_seed(seed)
    v0 = rademacher(probes, op.D, g, op.device)
    run = Lanczos(op.matvec, v0, basis_memory_gb)
    if converged is None:
        run.extend(steps, residual=False)
    else:
        while run.steps < min(steps, op.D):
            run.extend(min(block, steps - run.steps))
            if run.steps >= 2 * block and converged(*run.coefficients()):
                break
            print(f"  Lanczos: {run.steps} steps, not converged yet", flush=True)
    alpha, beta, size = run.coefficients()
    nodes, weights = ritz(alpha, beta, size)
    top = np.sort(nodes[0, : size[0]])[::-1][:top_k]
    return {
        "nodes": nodes,
        "weights": weights,
        "alpha": alpha,
        "beta": beta,
        "krylov_size": size,
        "top_eigenvalues": top.tolist(),
        "hutchinson_trace": float(op.D * alpha[:, 0].mean()),
        "hutchinson_trace_se": (
            float(op.D * alpha[:, 0].std(ddof=1) / math.sqrt(probes)) if probes > 1 else math.nan
        ),
        "resolved": resolution(alpha, beta, size, op.D),
        "basis_memory_gb": basis_memory_gb,
        "basis_blocks_spilled": run.spilled,
    }


def hessian_samples(n: int, samples: int | None, seed: int) -> torch.Tensor:
    """Indices of the training samples in the Hessian: all, or a seeded subset."""
    if samples is None or samples >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:samples].sort().values


def _check_engine(engine: str, mask: torch.Tensor | None) -> None:
    """Raise ValueError for an unknown ``engine``, or a ``mask`` with an engine but the builtin."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if mask is not None and engine != "builtin":
        raise ValueError("a spectrum over the surviving weights (mask) needs the builtin engine")


def _check_finite_spectrum(out: dict) -> None:
    """Raise FloatingPointError unless the Ritz nodes and weights of ``out`` are all finite."""
    if not (np.isfinite(out["nodes"]).all() and np.isfinite(out["weights"]).all()):
        raise FloatingPointError(
            "the Hessian spectrum is not finite (NaN or inf Ritz values): the weights or the "
            "loss at w* are not finite, or the Hessian-vector products overflowed"
        )


def estimate_spectrum(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    engine: str = "builtin",
    steps: int = 80,
    probes: int = 4,
    batch_size: int = 1024,
    top_k: int = 5,
    seed: int = 0,
    power_iterations: int = 100,
    cache_primal: bool = True,
    converged: Callable[[np.ndarray, np.ndarray, np.ndarray], bool] | None = None,
    block: int = 40,
    basis_memory_gb: float | None = None,
    mask: torch.Tensor | None = None,
) -> dict:
    """Spectrum of ``H`` at the model's weights over ``(x, y)`` with ``engine``.

    ``mask`` (flat bool over the prunable weights, built-in engine): the spectrum of ``H``
    restricted to the surviving weights (:class:`~prunelimit.curvature.operator.HessianOperator`);
    ``D`` is then their number.

    ``steps`` is the number of Lanczos steps, or their maximum when ``converged`` is given
    (built-in engine only; see :func:`builtin_spectrum`). ``basis_memory_gb`` caps the Lanczos
    basis held beside the vectors (built-in engine; see :class:`Lanczos`).

    Returns Ritz nodes and weights of every probe, the top eigenvalues, the Hutchinson trace,
    the quadrature's traces (``trace``, ``abs_trace``), negative mass, extreme nodes, the number
    of Hessian-vector products and the wall time.
    """
    _check_engine(engine, mask)
    cache = cache_primal and engine == "builtin"
    op = HessianOperator(model, x, y, batch_size=batch_size, cache_primal=cache, mask=mask)
    t0 = time.perf_counter()
    if engine == "builtin":
        out = builtin_spectrum(op, steps, probes, top_k, seed, converged, block, basis_memory_gb)
    else:
        if converged is not None:
            raise ValueError("lanczos_steps: auto needs the builtin engine")
        out = pyhessian_spectrum(model, op, steps, probes, top_k, seed, power_iterations)
    if op.device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    _check_finite_spectrum(out)
    return {
        "engine": engine,
        "D": op.D,
        "samples": op.n,
        "lanczos_steps": out["alpha"].shape[1] if "alpha" in out else steps,
        "lanczos_mode": "auto" if converged is not None else "fixed",
        "probes": probes,
        **out,
        **spectral_summary(out["nodes"], out["weights"], op.D),
        "loss": op.loss(),
        "n_hvp": op.n_hvp,
        "wall_time_s": wall,
    }
