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
        of its state. ``limit`` keeps only the first ``limit`` samples (after shuffling). With a
        generator, the order and every batch's crops and flips are drawn at the first batch (the
        same draws in the same order as batch by batch) and copied to the device at once: one
        blocking upload per epoch, not three per batch (on CUDA each waits for the device).
        """
        n = len(self) if limit is None else min(limit, len(self))
        augment = augment and self.augmentable
        if generator is None:  # in order; crops and flips (if any) from the global RNG
            order = torch.arange(n, device=self.x.device)
            for start in range(0, n, batch_size):
                x, y = self.get(order[start : start + batch_size])
                yield (random_crop_flip(x, None) if augment else x), y
            return
        plan = self._plan(n, batch_size, generator, augment).to(self.x.device)
        for start in range(0, n, batch_size):
            rows = plan[start : start + batch_size]
            x, y = self.get(rows[:, 0])
            yield (crop_flip(x, rows[:, 1:3], rows[:, 3].bool()) if augment else x), y

    def _plan(
        self, n: int, batch_size: int, generator: torch.Generator, augment: bool
    ) -> torch.Tensor:
        """An epoch's draws on the CPU: (n, 1) sample indices, or (n, 4) with each sample's crop
        shifts (rows, columns) and flip (0/1): :func:`crop_flip_draws` batch by batch."""
        order = torch.randperm(len(self), generator=generator)[:n]
        if not augment:
            return order[:, None]
        shifts, flips = [torch.zeros(0, 2, dtype=torch.long)], [torch.zeros(0, dtype=torch.bool)]
        for start in range(0, n, batch_size):
            s, f = crop_flip_draws(min(batch_size, n - start), generator)
            shifts.append(s)
            flips.append(f)
        return torch.cat([order[:, None], torch.cat(shifts), torch.cat(flips).long()[:, None]], 1)


def crop_flip_draws(
    n: int, generator: torch.Generator | None, pad: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """The draws of :func:`random_crop_flip` for ``n`` images, on the CPU: shifts (n, 2) in
    ``[0, 2 pad]`` (rows, columns), then flips (n,) bool."""
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    return shifts, flips


def crop_flip(
    x: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, pad: int = 4
) -> torch.Tensor:
    """``pad``-pixel crops (zero padding) at ``shifts`` (n, 2) and horizontal ``flips`` (n,) of a
    batch (N, C, H, W); ``shifts`` and ``flips`` on ``x``'s device."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = torch.arange(h, device=x.device)[None, :] + shifts[:, :1]  # (n, h)
    cols = torch.arange(w, device=x.device)[None, :] + shifts[:, 1:]  # (n, w)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    bidx = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator | None, pad: int = 4
) -> torch.Tensor:
    """Random ``pad``-pixel crop (zero padding) and horizontal flip of a batch (N, C, H, W)."""
    shifts, flips = crop_flip_draws(x.shape[0], generator, pad)
    return crop_flip(x, shifts.to(x.device), flips.to(x.device), pad)


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
