"""The prediction of an experiment's network: Hessian spectrum at ``w*``, ``eps`` and ``rho_th``.

``eps`` is the loss tolerance (``auto``: the std of the mini-batch training losses at ``w*``);
kept ratios ``rho`` are fractions of ``D``, the number of prunable weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from prunelimit.config.settings import HessianSettings, TheorySettings
from prunelimit.curvature.memory import choose_chunk
from prunelimit.curvature.operator import HessianOperator
from prunelimit.curvature.spectrum import estimate_spectrum, hessian_samples
from prunelimit.data import DatasetSplits
from prunelimit.limit.hessian_rows import hessian_rows
from prunelimit.limit.theory import (
    auto_eps,
    converged_check,
    lanczos_convergence,
    magnitude_scaling,
    pruning_limit,
    theory_curve,
)
from prunelimit.limit.weights import magnitude_histogram
from prunelimit.pruning import (
    flat_prunable,
    sorted_magnitudes,
)
from prunelimit.training.loop import evaluate, minibatch_losses


def training_tensors(
    data: DatasetSplits, samples: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (normalised, unaugmented) training samples used for the Hessian."""

    idx = hessian_samples(len(data.train), samples, seed).to(data.train.x.device)
    return data.train.get(idx)


def lanczos_stop(
    model: nn.Module,
    data: DatasetSplits,
    h: HessianSettings,
    theory: TheorySettings | None,
    batch_size: int,
    seed: int,
    mask: torch.Tensor | None,
) -> tuple[int, Callable | None]:
    """The Lanczos steps of a spectrum and, for ``lanczos_steps: auto``, its stopping rule:
    at most ``max_lanczos_steps``, until ``rho_th`` has converged
    (:func:`prunelimit.limit.theory.converged_check`, with the ``eps`` the theory will use)."""
    if h.lanczos_steps != "auto":
        return h.lanczos_steps, None
    if theory is None:
        raise ValueError("lanczos_steps: auto needs the theory settings (eps, negative)")
    eps, _ = loss_tolerance(model, data, theory.eps, batch_size, seed)
    mags = sorted_magnitudes(surviving(model, mask))
    return h.max_lanczos_steps, converged_check(mags, eps, theory.negative, theory.convergence_tol)


def spectrum_of(
    model: nn.Module,
    data: DatasetSplits,
    h: HessianSettings,
    theory: TheorySettings | None = None,
    batch_size: int = 128,
    seed: int = 0,
    mask: torch.Tensor | None = None,
) -> dict:
    """Hessian spectrum of the training loss at ``model``'s weights.

    ``mask`` (flat bool over the prunable weights, True = surviving): the spectrum of the
    Hessian restricted to the surviving weights, the pruned ones held at their values (zero in
    a pruned network); ``D`` is the number of surviving weights.

    ``lanczos_steps: auto`` continues the Lanczos run in blocks of ``lanczos_block`` steps until
    ``rho_th`` has converged (:func:`prunelimit.limit.theory.converged_check`, with the ``eps`` that
    the theory will use: ``theory`` settings, training ``batch_size``, run ``seed``) or
    ``max_lanczos_steps`` is reached.

    ``batch_size: auto`` measures the Hessian product's memory on the model's device and takes
    the largest chunk that fits ``memory_gb`` (:func:`prunelimit.curvature.memory.auto_chunk`); the
    result records the chunk (``batch_size``) and, for auto, why (``chunk_choice``: bytes).
    """

    x, y = training_tensors(data, h.samples, h.seed)
    steps, converged = lanczos_stop(model, data, h, theory, batch_size, seed, mask)
    print(
        f"Hessian over {len(y)} training samples, engine {h.engine}, "
        f"{h.probes} probes x {h.lanczos_steps} Lanczos steps"
        + (f" (at most {steps})" if converged else ""),
        flush=True,
    )
    cache = h.cache_primal and h.engine == "builtin"
    chunk, choice = choose_chunk(
        model, x, y, h.batch_size, h.memory_gb, h.probes, steps, h.basis_memory_gb, cache
    )
    if mask is not None:
        print(f"restricted to the {int(mask.sum())} surviving of {mask.numel()} weights")
    settings = {"engine": h.engine, "probes": h.probes, "top_k": h.top_k, "seed": h.seed}
    settings.update(power_iterations=h.power_iterations, cache_primal=h.cache_primal)
    settings.update(block=h.lanczos_block, basis_memory_gb=h.basis_memory_gb)
    result = estimate_spectrum(
        model, x, y, steps=steps, batch_size=chunk, converged=converged, mask=mask, **settings
    )
    return {
        **result,
        "batch_size": chunk,
        "batch_size_mode": "auto" if choice else "given",
        "chunk_choice": choice.as_dict() if choice else None,
    }


def hessian_rows_of(
    model: nn.Module,
    data: DatasetSplits,
    count: int,
    samples: int | None,
    sample_seed: int,
    batch_size: int | str,
    block: int,
    memory_gb: float | str,
    cache_primal: bool,
) -> dict:
    """The Hessian rows of the ``count`` weights at the magnitude thresholds
    (:func:`prunelimit.limit.hessian_rows.hessian_rows`, ``block`` rows per product) over the
    spectrum's Hessian samples (``samples``, ``sample_seed``) and chunks (``batch_size``);
    ``batch_size: auto`` fits ``block`` vectors per product in ``memory_gb``, so with ``block``
    the spectrum's probes the job needs no more memory than the spectrum's products."""
    x, y = training_tensors(data, samples, sample_seed)
    chunk, choice = choose_chunk(model, x, y, batch_size, memory_gb, block, 0, None, cache_primal)
    print(f"{count} Hessian rows over {len(y)} training samples, chunks of {chunk}", flush=True)
    op = HessianOperator(model, x, y, batch_size=chunk, cache_primal=cache_primal)
    t0 = time.perf_counter()
    result = hessian_rows(op, flat_prunable(model), count, block=block)
    return {
        **result,
        "batch_size": chunk,
        "chunk_choice": choice.as_dict() if choice else None,
        "wall_time_s": time.perf_counter() - t0,
    }


def surviving(model: nn.Module, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The prunable weights (flat, CPU), only the surviving ones (``mask`` True) if given."""
    flat = flat_prunable(model).cpu()
    return flat if mask is None else flat[mask.reshape(-1).cpu()]


def loss_tolerance(
    model: nn.Module, data: DatasetSplits, eps: float | str, batch_size: int, seed: int
) -> tuple[float, str]:
    """``eps`` and how it was obtained (``auto``: std of mini-batch training losses at w*)."""

    if eps == "auto":
        return auto_eps(minibatch_losses(model, data.train, batch_size, seed)), "auto"
    return float(eps), "given"


# Spectrum fields passed on to theory.json (absent from spectra written by older code).
SPECTRUM_EXTRAS = (
    "trace_se",
    "abs_trace_se",
    "hutchinson_trace_se",
    "negative_trace_se",
    "near_zero_mass",
    "near_zero_tol",
)
# The fields that the near-zero cluster sets and the limit under each `negative` rule uses:
# `abs` takes |theta| (the bounds' Tr|H|); `clip` also the sign of every node.
RESOLUTION_USED = {"abs": ("abs_trace",), "clip": ("abs_trace", "negative_mass", "negative_trace")}


def theory_of(
    model: nn.Module,
    data: DatasetSplits,
    spectrum: dict,
    theory: TheorySettings,
    batch_size: int,
    seed: int = 0,
    mask: torch.Tensor | None = None,
) -> dict:
    """The theoretical limit and bounds at ``model``'s weights (w*), with every input, and
    (built-in engine) ``rho_th`` along the Lanczos steps with the verdict ``converged``.
    ``mask`` (as :func:`spectrum_of`, whose spectrum it needs): the limit over the surviving
    weights, ``rho_th`` a fraction of their number ``D``. ``theory.magnitude_factors``: the
    limit of the weights scaled by each, ``H`` and ``eps`` held (``magnitude_scaling``; factor
    1 first, the network itself; none: not computed)."""
    eps, eps_mode = loss_tolerance(model, data, theory.eps, batch_size, seed)
    mags = sorted_magnitudes(surviving(model, mask))
    if spectrum["D"] != mags.numel():
        raise ValueError(
            f"the spectrum was computed for D = {spectrum['D']} prunable weights, "
            f"the model has {mags.numel()}: the spectrum file is stale"
        )
    nodes = np.asarray(spectrum["nodes"], dtype=float)  # a NaN stored as null reads as NaN
    weights = np.asarray(spectrum["weights"], dtype=float)
    negative, factors = theory.negative, theory.magnitude_factors
    convergence = None
    if "alpha" in spectrum:
        coefficients = [np.asarray(spectrum[k], dtype=float) for k in ("alpha", "beta")]
        size = np.asarray(spectrum["krylov_size"])
        convergence = lanczos_convergence(
            mags, *coefficients, size, eps, negative, theory.convergence_tol
        )
    resolution = spectrum.get("resolved")
    uses = RESOLUTION_USED[negative]
    inputs = {"D": mags.numel(), "eps": eps, "eps_mode": eps_mode, "eps_batch_size": batch_size}
    return {
        **pruning_limit(mags, nodes, weights, eps, negative),
        "converged": None if convergence is None else convergence["converged"],
        "convergence": convergence,
        # the spectral fields this limit and its bounds use, stable over the Lanczos prefixes
        "resolved": None if not resolution else all(resolution[f]["resolved"] for f in uses),
        "resolved_fields": list(uses),
        "inputs": {**inputs, **theory_inputs(model, data, spectrum, mags, negative)},
        "curve": theory_curve(mags, nodes, weights, eps, negative),
        "weight_histogram": magnitude_histogram(mags.cpu().numpy()),
        "magnitude_scaling": magnitude_scaling(mags, nodes, weights, eps, negative, [1.0, *factors])
        if factors
        else [],
    }


def theory_inputs(
    model: nn.Module, data: DatasetSplits, spectrum: dict, mags: torch.Tensor, negative: str
) -> dict:
    """What a theory records of its inputs beside ``eps``: the unpruned network's training loss
    and accuracy, the spectrum's summary and provenance, the weights' norms."""
    train_loss, train_acc = evaluate(model, data.train)
    keys = ("trace", "abs_trace", "hutchinson_trace", "lambda_max", "lambda_min")
    keys += ("top_eigenvalues", "negative_mass", "negative_trace")
    return {
        "train_loss": train_loss,
        "train_acc": train_acc,
        **{k: spectrum[k] for k in keys},
        **{k: spectrum.get(k) for k in SPECTRUM_EXTRAS},
        "spectrum_resolution": spectrum.get("resolved"),
        "negative": negative,
        "engine": spectrum["engine"],
        "lanczos_steps": spectrum["lanczos_steps"],
        "lanczos_mode": spectrum.get("lanczos_mode", "fixed"),
        "probes": spectrum["probes"],
        "hessian_samples": spectrum["samples"],
        "weight_l2": float(mags.norm()),
        "weight_l1": float(mags.sum()),
    }
