"""Synthetic stand-ins for the image datasets, in the prepared format, for offline rehearsals.

A synthetic dataset has the shape, dtype (uint8) and number of classes of the real one; each
sample is its class's template (a coarse random colour pattern, blocks of ``block`` pixels)
plus Gaussian pixel noise, so a network can learn the classes from a few samples. The arrays go
through the real preparation (:func:`prunelimit.data.prepared.write_prepared`: validation split,
normalisation measured on the training split), so the file differs from a real prepared one
only in its pixels. Everything is a function of ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prunelimit.data.prepared import write_prepared
from prunelimit.data.readers import Arrays
from prunelimit.data.registry import DatasetError, DatasetSpec, get_spec


def synthetic_arrays(
    spec: DatasetSpec,
    train: int,
    test: int,
    seed: int = 0,
    classes: int | None = None,
    noise: float = 32.0,
    block: int = 8,
) -> Arrays:
    """``(x, y, x_test, y_test)`` as a reader returns them: ``train`` and ``test`` uint8 images
    of ``spec.input_shape``, balanced labels over the first ``classes`` classes in random order
    (default: all; fewer let a few samples cover each used class), ``noise`` the pixel std."""
    if len(spec.input_shape) != 3:
        raise DatasetError(f"dataset {spec.name!r}: synthetic data is for images (C, H, W) only")
    used = spec.num_classes if classes is None else min(int(classes), spec.num_classes)
    rng = np.random.default_rng(seed)
    c, h, w = spec.input_shape
    coarse = rng.uniform(40, 215, (used, c, -(-h // block), -(-w // block)))
    templates = coarse.repeat(block, 2).repeat(block, 3)[:, :, :h, :w]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(n) % used)  # balanced: every used class when n >= used
        x = templates[y] + rng.normal(0.0, noise, (n, c, h, w))
        return np.clip(np.rint(x), 0, 255).astype(np.uint8), y.astype(np.int64)

    return (*draw(train), *draw(test))


def write_synthetic(
    name: str,
    out: str | Path,
    train: int,
    test: int,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    seed: int = 0,
    classes: int | None = None,
) -> dict:
    """Write a synthetic ``name``-shaped prepared file ``out`` (``train`` samples before the
    validation split, ``test`` test samples); return its ``meta``."""
    spec = get_spec(name)
    arrays = synthetic_arrays(spec, train, test, seed=seed, classes=classes)
    return write_prepared(spec, arrays, out, val_fraction, split_seed)
