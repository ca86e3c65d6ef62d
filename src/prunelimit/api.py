"""The limit of any trained network from Python: the same library calls the workflow's rules make.

:func:`predict_limit` is the ``spectrum`` and ``theory`` rules in one call; :func:`actual_limit`
is the ``actual_limit`` rule's one-shot magnitude pruning curve for one network;
:func:`hessian_rows` the ``hessian_rows`` rule (the Hessian rows at the magnitude thresholds).
``data`` is a :class:`~prunelimit.data.DatasetSplits`, a prepared dataset file, ``(x, y)``
tensors or an iterable of ``(x, y)`` batches (a ``DataLoader``), or a dict of those per split
(``train``, ``val``, ``test``). Inputs are used as given (already normalised); without a
``val`` split the accuracy criterion is judged on the training data and without ``test`` the
test accuracy is the training accuracy (both said in the result's ``data`` field).

Settings are the config's sections (:mod:`prunelimit.config.settings`, whose defaults fill in
what is not given); ``batch_size`` is the training batch size, which ``eps: auto`` (the std of
the mini-batch training losses at ``w*``) depends on; ``seed`` the run seed the rules use. Kept
ratios ``rho`` are fractions of ``D``, the number of prunable weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from prunelimit.config.settings import HessianSettings, LimitSettings, TheorySettings, TrainSettings
from prunelimit.data import DatasetSplits, Split, load_dataset
from prunelimit.limit.actual import pruning_curve
from prunelimit.limit.prediction import hessian_rows_of, loss_tolerance, spectrum_of, theory_of
from prunelimit.methods.registry import get_method, names
from prunelimit.models.import_path import check_network

Data = DatasetSplits | str | Path | tuple | Iterable | Mapping
SPECTRUM_SUMMARY = (
    "D",
    "lambda_max",
    "lambda_min",
    "trace",
    "trace_se",
    "abs_trace",
    "negative_mass",
    "near_zero_mass",
    "lanczos_steps",
    "probes",
    "samples",
    "batch_size",
    "resolved",
)


def _tensors(value, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(value, tuple | list) and len(value) == 2 and isinstance(value[0], torch.Tensor):
        x, y = value
    else:  # an iterable of (x, y) batches
        try:
            batches = [(bx, by) for bx, by, *_ in value]
        except (TypeError, ValueError):
            raise TypeError(
                f"{where}: give (x, y) tensors or an iterable of (x, y) batches, not "
                f"{type(value).__name__}"
            ) from None
        if not batches:
            raise ValueError(f"{where}: the data loader yielded no batches")
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
    x, y = torch.as_tensor(x).float(), torch.as_tensor(y).long()
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"{where}: {len(x)} inputs and {len(y)} labels (need as many, > 0)")
    return x, y


def as_splits(
    data: Data, device: str | torch.device = "cpu", num_classes: int | None = None
) -> DatasetSplits:
    """``data`` as the :class:`DatasetSplits` the library takes (see the module docstring)."""
    if isinstance(data, DatasetSplits):
        return data
    if isinstance(data, str | Path):
        return load_dataset(data, device)
    parts = dict(data) if isinstance(data, Mapping) else {"train": data}
    unknown = set(parts) - {"train", "val", "test"}
    if "train" not in parts or unknown:
        raise ValueError(f"data: give a 'train' split (and 'val', 'test'); got {sorted(parts)}")
    tensors = {s: _tensors(v, f"data[{s!r}]") for s, v in parts.items()}
    classes = num_classes or 1 + max(int(y.max()) for _, y in tensors.values())
    shape = tuple(tensors["train"][0].shape[1:])
    meta = {
        "scale": 1.0,
        "mean": [0.0] * shape[0],
        "std": [1.0] * shape[0],
        "input_shape": list(shape),
        "num_classes": classes,
        "given": sorted(tensors),
    }
    for s, (x, y) in tensors.items():
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"data[{s!r}]: samples of shape {tuple(x.shape[1:])}, train {shape}")
        if int(y.min()) < 0 or int(y.max()) >= classes:
            raise ValueError(f"data[{s!r}]: labels must lie in [0, {classes})")
    split = {
        s: Split(*tensors.get(s, tensors["train"]), meta, torch.device(device))
        for s in ("train", "val", "test")
    }
    return DatasetSplits(split["train"], split["val"], split["test"], meta=meta)


def _section(cls: type, given):
    """Settings ``given`` as such, or the defaults with ``given``'s overrides."""
    return given if isinstance(given, cls) else cls.from_dict(given)


def _prepared(model: nn.Module, data: Data) -> tuple[DatasetSplits, dict]:
    device = next(model.parameters()).device
    splits = as_splits(data, device)
    check_network(model, splits.input_shape, splits.num_classes)
    given = splits.meta.get("given", ["train", "val", "test"])
    return splits, {"given": given, "sizes": {s: len(getattr(splits, s)) for s in given}}


def predict_limit(
    model: nn.Module,
    data: Data,
    *,
    hessian: HessianSettings | Mapping | None = None,
    theory: TheorySettings | Mapping | None = None,
    batch_size: int = TrainSettings.batch_size,
    seed: int = 0,
) -> dict:
    """The theoretical pruning limit of ``model``'s trained weights (``w*``) on ``data``.

    Returns ``rho_th`` with its bounds ``rho_lower``/``rho_upper``, ``eps``, ``converged`` (over
    the Lanczos steps), ``resolved`` (the spectral fields the limit uses), ``spectrum`` (a
    summary: ``D``, extreme eigenvalues, traces, negative and near-zero mass) and the full
    ``theory`` and ``spectrum_result`` records the rules write (``theory.json``,
    ``spectrum.json``). ``hessian``/``theory``: settings or dicts of overrides of the defaults.
    """
    h = _section(HessianSettings, hessian)
    t = _section(TheorySettings, theory)
    splits, about = _prepared(model, data)
    model.eval()
    spectrum = spectrum_of(model, splits, h, t, batch_size=batch_size, seed=seed)
    th = theory_of(model, splits, spectrum, t, batch_size, seed)
    return {
        "rho_th": th["rho_th"],
        "rho_lower": th["rho_lower"],
        "rho_upper": th["rho_upper"],
        "eps": th["inputs"]["eps"],
        "converged": th["converged"],
        "resolved": th["resolved"],
        "spectrum": {k: spectrum.get(k) for k in SPECTRUM_SUMMARY},
        "data": about,
        "theory": th,
        "spectrum_result": spectrum,
    }


def actual_limit(
    model: nn.Module,
    data: Data,
    *,
    l1: float = 0.0,
    eps: float | str = TheorySettings.eps,
    limit: LimitSettings | Mapping | None = None,
    batch_size: int = TrainSettings.batch_size,
    seed: int = 0,
) -> dict:
    """The actual limit of ``model`` by one-shot pruning (no fine-tuning): global magnitude, or
    the nested masks of the registered method ``limit.method`` (e.g. ``smart_ratio``, ``random``:
    :mod:`prunelimit.methods.registry`; ``seed`` draws their random masks).

    Returns ``rho_loss``, ``rho_objective`` and ``rho_acc`` (the three criteria of
    :func:`prunelimit.limit.actual.pruning_curve`; ``l1``: the strength the network was
    trained with, for the objective), ``eps``, the measured ``curve`` and its ``verdict``.
    ``eps``: a number or ``auto`` (as :func:`predict_limit` measures it, so the two compare)."""
    lim = _section(LimitSettings, limit)
    method = get_method(lim.method)
    if method.path is None:
        raise ValueError(f"limit.method {lim.method!r} has no nested masks; use one of "
                         f"{names(nested=True)}")  # fmt: skip
    splits, about = _prepared(model, data)
    model.eval()
    eps_value, eps_mode = loss_tolerance(model, splits, eps, batch_size, seed)
    curve = pruning_curve(model, splits, eps_value, lim.resolution, lim.coarse_points,
                          lim.rho_min, l1=l1, path_of=method.path(seed))  # fmt: skip
    return {
        **{f"rho_{c}": curve[f"rho_{c}"] for c in ("loss", "objective", "acc")},
        "eps": eps_value,
        "eps_mode": eps_mode,
        "data": about,
        **{k: v for k, v in curve.items() if not k.startswith("rho_")},
    }


def hessian_rows(
    model: nn.Module, data: Data, *, hessian: HessianSettings | Mapping | None = None
) -> dict:
    """The Hessian rows of ``model``'s weights at the magnitude thresholds of the pruned
    fractions ``j / rows`` (:mod:`prunelimit.limit.hessian_rows`; ``hessian.rows`` of them, over
    ``hessian.samples`` training samples in chunks of ``hessian.batch_size``): per row ``q``,
    ``rank``, ``index``, ``magnitude``, ``row_l1`` and ``diagonal``, as ``hessian_rows.json``."""
    h = _section(HessianSettings, hessian)
    splits, about = _prepared(model, data)
    model.eval()
    return {**hessian_rows_of(model, splits, **h.rows_dict()), "data": about}
