"""The primitives of :mod:`prunelimit.bench.units`, timed on a device with the library's own
code (training ``fit``, ``evaluate``, ``pruned_point``, Hessian products at the ``auto`` chunk,
the SAP strategy, the NTK sweep) on synthetic data of the experiment's shapes: seconds do not
depend on the values. Used by :mod:`prunelimit.bench.gpu`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch
from torch import nn

from prunelimit.bench import sync, time_it
from prunelimit.bench.memory import DATASET_SIZES
from prunelimit.bench.units import Sizes
from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import ExperimentSettings, HessianSettings, NtkSettings, Settings
from prunelimit.curvature.memory import auto_chunk
from prunelimit.curvature.operator import HessianOperator
from prunelimit.curvature.peak import peak_memory
from prunelimit.data import DatasetSplits, get_spec
from prunelimit.data.splits import Split
from prunelimit.limit.actual import pruned_point
from prunelimit.methods.early_bird import batchnorm_network
from prunelimit.models.registry import build_model
from prunelimit.ntk.sweep import gram_distances, ntk_sweep, real_input_scale
from prunelimit.pruning import full_masks, magnitude_path, prunable_weights
from prunelimit.sap.iterative import pq_index_all
from prunelimit.sap.strategies import PruneSettings, PruningState, get_strategy
from prunelimit.training.loop import evaluate, fit


def synthetic_data(exp: ExperimentSettings, n_train: int, n_eval: int, device) -> DatasetSplits:
    """Splits of random uint8 inputs and labels of the experiment's dataset's shapes (``n_train``
    training samples, ``n_eval`` in validation and test), on ``device``."""
    spec = get_spec(exp.dataset)
    g = torch.Generator().manual_seed(0)
    channels = spec.input_shape[0]
    meta = {"scale": 255.0, "mean": [0.5] * channels, "std": [0.25] * channels}
    meta.update(augmentable=spec.augmentable, input_shape=list(spec.input_shape))
    meta["num_classes"] = spec.num_classes

    def split(n: int) -> Split:
        x = torch.randint(0, 256, (n, *spec.input_shape), dtype=torch.uint8, generator=g)
        return Split(x, torch.randint(0, spec.num_classes, (n,), generator=g), meta, device)

    return DatasetSplits(split(n_train), split(n_eval), split(n_eval), meta)


def split_sizes(exp: ExperimentSettings, val_fraction: float) -> tuple[int, int, int]:
    """(train, validation, test) samples of the experiment's prepared dataset."""
    if exp.dataset not in DATASET_SIZES:
        raise ValueError(f"{exp.name}: split sizes known for {sorted(DATASET_SIZES)} only")
    n, test = DATASET_SIZES[exp.dataset]
    val = int(round(n * val_fraction))  # as prunelimit.data.prepared.split_indices
    return n - val, val, test


def time_step(model: nn.Module, exp, batch: int, steps: int, device, repeats: int) -> float:
    """Seconds per training step: ``fit`` over an epoch of ``steps`` batches (the l1 run's
    settings: l1, augmentation, precision; every prunable weight's mask held; a small learning
    rate, which costs the same, so that random labels cannot diverge)."""
    s = dataclasses.replace(train_settings(exp, "l1"), epochs=1, batch_size=batch)
    s = dataclasses.replace(s, warmup_epochs=0, milestones=(), lr=1e-3)  # no divergence
    data = synthetic_data(exp, steps * batch, 1, device)
    masks = full_masks(prunable_weights(model))

    def epoch():
        return fit(model, data, s, 0, masks=masks, log=lambda _: None, evaluate_epochs=False)

    return time_it(epoch, device, 1, repeats)[0] / steps


def time_hessian(model: nn.Module, h: HessianSettings, spec, samples: int, device, repeats: int):
    """The ``auto`` chunk over ``samples`` random samples of ``spec``'s shapes, and the seconds
    and peak bytes of a product of all ``probes`` vectors over one chunk (``cache_primal`` as
    the spectrum's)."""
    x = torch.randn(samples, *spec.input_shape, device=device)
    y = torch.randint(0, spec.num_classes, (samples,), device=device)
    steps = h.lanczos_steps if isinstance(h.lanczos_steps, int) else h.max_lanczos_steps
    cache = h.cache_primal and h.engine == "builtin"  # as spectrum_of
    choice = auto_chunk(model, x, y, h.memory_gb, h.probes, steps, h.basis_memory_gb, cache)
    n = choice.batch_size
    op = HessianOperator(model, x[:n], y[:n], n, cache_primal=cache)
    V = torch.randn(h.probes, op.D, device=device)
    _, peak = peak_memory(lambda: op.matvec(V), device)
    return choice, time_it(lambda: op.matvec(V), device, 1, repeats)[0], peak


def time_prune(model: nn.Module, sap, scope: str, device) -> float:
    """Seconds of an SAP pruning step in ``scope`` (the masks and the record's two PQIs)."""
    weights = {n: p.detach() for n, p in prunable_weights(model).items()}
    masks, hyper = full_masks(weights), PruneSettings.from_dict(sap.as_dict())
    strategy = get_strategy("sap")(scope, hyper)
    state = PruningState(0, {n: w.cpu() for n, w in weights.items()})

    def step():
        new, _ = strategy.next_masks(weights, masks, state)
        return [pq_index_all(weights, m, hyper.p, hyper.q) for m in (masks, new)]

    return time_it(step, device, 0, 1)[0]  # sorts and sums: no warm-up to speak of


def measure_experiment(
    exp: ExperimentSettings,
    h: HessianSettings,
    settings: Settings,
    device: torch.device,
    args: argparse.Namespace,
) -> tuple[dict, Sizes]:
    """The primitives of one experiment (seconds) with what they were timed at, and the
    :class:`Sizes` of its jobs. ``args``: ``batch``, ``samples`` (None: the config's),
    ``steps`` (per timed epoch), ``eval_samples`` (per split of the timed passes), ``repeats``."""
    spec = get_spec(exp.dataset)
    model = build_model(exp.model, spec.input_shape, spec.num_classes, seed=0, **exp.model_args)
    model = model.to(device)
    batch = args.batch or train_settings(exp, "l1").batch_size
    train, val, test = split_sizes(exp, settings.data.val_fraction)
    samples = args.samples or min(h.samples or train, train)
    step = time_step(model, exp, batch, args.steps, device, args.repeats)
    data = synthetic_data(exp, args.eval_samples, args.eval_samples, device)
    eval_sample = time_it(lambda: evaluate(model, data.test), device, 1, args.repeats)[0]
    eval_sample /= args.eval_samples
    point = _time_point(model, data, device, args.repeats)
    choice, hvp, hvp_peak = time_hessian(model, h, spec, samples, device, args.repeats)
    scopes = sorted({*settings.sap.scopes, "global"})
    prims = {"step": step, "eval_sample": eval_sample, "hvp": hvp}
    prims["point"] = point + (train + val + test - 3 * args.eval_samples) * eval_sample
    prims.update({f"prune:{s}": time_prune(model, settings.sap, s, device) for s in scopes})
    sizes = Sizes(train, val, test, batch, choice.batch_size, h.probes, _batchnorm(model))
    row = {"experiment": exp.name, "train_batch": batch, "train_step_s": step}
    row.update(eval_samples=args.eval_samples, hessian_samples=samples, hvp_peak_bytes=hvp_peak)
    row.update(auto_chunk=choice.as_dict(), primitives=prims, sizes=dataclasses.asdict(sizes))
    return row, sizes


def measure_ntk(ntk: NtkSettings, device: torch.device) -> dict[str, float]:
    """Seconds of one draw of the NTK sweep (every p, both scalings) at each width, and of the
    real-input Gram matrices at each real width (``real_batch`` random inputs of the dataset's
    size)."""
    out = {}
    common = {"depth": int(ntk.depth), "seed": int(ntk.seed), "device": device}
    pair = {"input_dim": int(ntk.input_dim), "inner": float(ntk.inner_product)}
    for width in ntk.widths:
        t0 = time.perf_counter()
        ntk_sweep([width], ntk.p, 1, **pair, **common)
        sync(device)
        out[f"ntk_sweep:{width}"] = time.perf_counter() - t0
    x = torch.randn(int(ntk.real_batch), math.prod(get_spec(ntk.dataset).input_shape))
    for width in ntk.real_widths:
        t0 = time.perf_counter()
        gram_distances(x, [width], ntk.p, 1, input_scale=real_input_scale(x), **common)
        sync(device)
        out[f"ntk_gram:{width}"] = time.perf_counter() - t0
    return out


def _time_point(model: nn.Module, data: DatasetSplits, device, repeats: int) -> float:
    """Seconds of a pruning-curve point on ``data``: half the weights kept by magnitude, every
    split evaluated (``pruned_point``; the path built once, as a curve does)."""
    original = {n: w.detach().clone() for n, w in prunable_weights(model).items()}
    D = sum(w.numel() for w in original.values())
    path = magnitude_path(original)

    def point():
        return pruned_point(model, data, original, path, D // 2, D)

    return time_it(point, device, 1, repeats)[0]


def _batchnorm(model: nn.Module) -> bool:
    try:
        return batchnorm_network(model)
    except (ValueError, RuntimeError):  # no node layers the spline stage knows
        return False
