"""Serve a prepared dataset from memory: normalised, optionally shuffled and augmented batches.

Conventions: :func:`load_dataset` puts all three splits of a prepared file (see
:mod:`prunelimit.data.prepare`) on the training device; batches are cut from those tensors,
which is faster than a ``DataLoader`` at these sizes. Inputs come out float32, divided by
``meta["scale"]`` and normalised per channel; labels int64. All randomness (order, crops,
flips) is drawn on the CPU from one ``torch.Generator``, so an epoch is a pure function of its
state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from prunelimit.data.prepared import meta_path
from prunelimit.data.registry import DatasetError
from prunelimit.io import load_torch


class Split:
    """One split held in memory; ``get`` and ``batches`` return normalised float32 inputs."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, meta: dict, device: torch.device):
        self.x = x.to(device)
        self.y = y.to(device)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        self._scale = float(meta["scale"])
        self._mean = torch.tensor(meta["mean"], dtype=torch.float32, device=device).view(shape)
        self._std = torch.tensor(meta["std"], dtype=torch.float32, device=device).view(shape)
        self.augmentable = bool(meta.get("augmentable", False))

    def __len__(self) -> int:
        return len(self.y)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / self._scale - self._mean) / self._std

    def get(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        return self._normalise(self.x[idx]), self.y[idx]

    def batches(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        augment: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Mini-batches; shuffled iff ``generator`` is given; ``augment`` = random crop + flip.

        All randomness is drawn from ``generator`` (on the CPU) so an epoch is a pure function
        of its state. ``limit`` keeps only the first ``limit`` samples (after shuffling).
        """
        n = len(self) if limit is None else min(limit, len(self))
        order = (
            torch.randperm(len(self), generator=generator)[:n]
            if generator is not None
            else torch.arange(n)
        )
        order = order.to(self.x.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x, y = self.get(idx)
            if augment and self.augmentable:
                x = random_crop_flip(x, generator)
            yield x, y


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator | None, pad: int = 4
) -> torch.Tensor:
    """Random ``pad``-pixel crop (zero padding) and horizontal flip of a batch (N, C, H, W)."""
    n, _, h, w = x.shape
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (torch.arange(h)[None, :] + shifts[:, :1]).to(x.device)  # (n, h)
    cols = (torch.arange(w)[None, :] + shifts[:, 1:]).to(x.device)  # (n, w)
    cols = torch.where(flips[:, None].to(x.device), cols.flip(1), cols)
    bidx = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


@dataclass
class DatasetSplits:
    """The train, validation and test splits of one prepared dataset, and its ``meta``."""

    train: Split
    val: Split
    test: Split
    meta: dict

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.meta["input_shape"])

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])


def load_dataset(path: str | Path, device: str | torch.device = "cpu") -> DatasetSplits:
    """Load a prepared dataset file onto ``device``, checked against the sha256 recorded beside
    it (:func:`~prunelimit.data.prepared.meta_path`; a file without that record loads unchecked)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"prepared dataset {path} does not exist; run the 'download' rule")
    blob = load_torch(path, record=meta_path(path))
    meta = blob["meta"]
    device = torch.device(device)
    return DatasetSplits(
        *(Split(blob[f"{s}_x"], blob[f"{s}_y"], meta, device) for s in ("train", "val", "test")),
        meta=meta,
    )
