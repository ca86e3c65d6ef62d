"""The prepared format of a dataset, one file written once.

The prepared file (``resources/datasets/{name}.pt``, written atomically by
:func:`prunelimit.io.save_torch`) is a dict with the tensors ``{train,val,test}_x`` (uint8
images, or float32 signals for MNIST-1D) and ``{train,val,test}_y`` (int64), and ``meta``
(shape, classes, sizes, split parameters and the per-channel ``mean``/``std`` measured on the
training split after dividing by ``scale``). Beside it, ``{name}.json`` (:func:`meta_path`)
holds the same ``meta`` and the file's sha256 (``sha256``, by file name), against which
:func:`~prunelimit.data.load_dataset` checks it. The validation split is held out of the training
set by :func:`split_indices`, a pure function of its seed. torch is imported only when writing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prunelimit.data.readers import Arrays
from prunelimit.data.registry import DatasetError, DatasetSpec
from prunelimit.io import read_json, save_torch, write_json


def meta_path(prepared: str | Path) -> Path:
    """The JSON beside a prepared file that records its ``meta`` and its sha256."""
    return Path(prepared).with_suffix(".json")


def prepared_spec(prepared: str | Path) -> DatasetSpec:
    """The shape and classes of a prepared dataset, read from the meta beside it (cheap: the
    tensors are not loaded)."""
    meta = read_json(meta_path(prepared))  # checked: a damaged file is named
    return DatasetSpec(meta["name"], tuple(meta["input_shape"]), int(meta["num_classes"]))


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, validation) index split of ``range(n)``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def write_prepared(
    spec: DatasetSpec,
    arrays: Arrays,
    out: str | Path,
    val_fraction: float,
    split_seed: int,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    scale: float | None = None,
    source: str | None = None,
) -> dict:
    """Split read ``arrays`` (``x, y, x_test, y_test`` of a reader) of dataset ``spec``, measure
    the normalisation on the training split and write the prepared file ``out``; return its
    ``meta``. The one writer of prepared files (real datasets, :mod:`.synthetic` and
    :mod:`.user` ones). ``val``: a given validation split (then ``x, y`` is all training data);
    ``scale``: what inputs are divided by (default 255 for uint8, else 1); ``source``: the
    user's file or folder, recorded in ``meta``."""
    name = spec.name
    x, y, xt, yt = arrays
    if tuple(x.shape[1:]) != spec.input_shape:
        raise DatasetError(
            f"dataset {name!r}: read samples of shape {x.shape[1:]}, expected {spec.input_shape}"
        )
    if x.dtype != np.uint8:  # signals and user tensors: float32
        x, xt = x.astype(np.float32, copy=False), xt.astype(np.float32, copy=False)
    xtr, ytr, xva, yva = _train_val(x, y, val, val_fraction, split_seed)
    if scale is None:
        scale = 255.0 if xtr.dtype == np.uint8 else 1.0
    mean, std = _channel_stats(xtr, scale)
    meta = {
        "name": name,
        "input_shape": list(spec.input_shape),
        "num_classes": spec.num_classes,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "scale": scale,
        "val_fraction": val_fraction if val is None else None,
        "split_seed": split_seed,
        "augmentable": spec.augmentable,
        "sizes": {"train": len(xtr), "val": len(xva), "test": len(xt)},
    }
    if source is not None:
        meta["source"] = source
    digest = save_torch(out, _prepared_blob(meta, xtr, ytr, xva, yva, xt, yt))
    write_json(meta_path(out), {**meta, "sha256": {Path(out).name: digest}})
    return meta


def _train_val(x: np.ndarray, y: np.ndarray, val, val_fraction: float, split_seed: int):
    """``(x_train, y_train, x_val, y_val)``: ``x, y`` split by :func:`split_indices`, or all of
    it for training beside the given ``val`` split (its inputs cast to ``x``'s dtype)."""
    if val is None:
        tr, va = split_indices(len(x), val_fraction, split_seed)
        return x[tr], y[tr], x[va], y[va]
    return x, y, val[0].astype(x.dtype, copy=False), val[1]


def _channel_stats(x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (axis 1) mean and std of ``x / scale`` in float64; a constant channel's std
    is 1 (centred, not scaled)."""
    axes = (0,) + tuple(range(2, x.ndim))
    xf = x.astype(np.float64) / scale  # once for both statistics
    mean, std = xf.mean(axis=axes), xf.std(axis=axes)
    del xf
    if np.any(std == 0):
        std = np.where(std == 0, 1.0, std)  # a constant channel: centred, not scaled
    return mean, std


def _prepared_blob(meta: dict, xtr, ytr, xva, yva, xt, yt) -> dict:
    """The prepared file's dict: the splits as contiguous tensors (labels int64) and ``meta``."""
    import torch

    return {
        "train_x": torch.from_numpy(np.ascontiguousarray(xtr)),
        "train_y": torch.from_numpy(ytr.astype(np.int64)),
        "val_x": torch.from_numpy(np.ascontiguousarray(xva)),
        "val_y": torch.from_numpy(yva.astype(np.int64)),
        "test_x": torch.from_numpy(np.ascontiguousarray(xt)),
        "test_y": torch.from_numpy(yt.astype(np.int64)),
        "meta": meta,
    }
