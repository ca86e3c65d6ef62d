"""Datasets: download, verify, extract, split, and serve batches from memory.

A dataset is *prepared* once into one file (``resources/datasets/{name}.pt``) holding uint8
images (or float32 signals for MNIST-1D), labels, a deterministic validation split held out of
the training set, and the per-channel normalisation measured on the remaining training images.
Batches are then cut from tensors in memory (on the training device), which is faster than a
``DataLoader`` for these sizes and makes the order of samples a function of one seeded generator.

Modules, each importing only those before it: :mod:`.registry` (the known datasets),
:mod:`.download` (fetch with md5 check, all-or-nothing extraction), :mod:`.readers` (raw files
to numpy arrays), :mod:`.prepared` (the prepared format: split, measure and write it),
:mod:`.user` (your own data: a file of tensors or an image folder, checked), :mod:`.prepare`
(a known dataset or your own, prepared once), :mod:`.synthetic` (class-dependent synthetic
images in the prepared format, for offline rehearsals) and :mod:`.splits` (load it and serve
batches). Every public name is re-exported here. Importing this
package does not import torch: the names of :mod:`.splits` are loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prunelimit.data.download import fetch, md5sum, safe_extract, zlib_error
from prunelimit.data.prepare import prepare_dataset
from prunelimit.data.prepared import prepared_spec, split_indices, write_prepared
from prunelimit.data.readers import READERS, Arrays, organise_tinyimagenet_val
from prunelimit.data.registry import DATASETS, DatasetError, DatasetSpec, RemoteFile, get_spec
from prunelimit.data.synthetic import synthetic_arrays, write_synthetic

if TYPE_CHECKING:
    from prunelimit.data.splits import DatasetSplits, Split, load_dataset, random_crop_flip

_FROM_SPLITS = ("DatasetSplits", "Split", "load_dataset", "random_crop_flip")

__all__ = [
    "DATASETS",
    "READERS",
    "Arrays",
    "DatasetError",
    "DatasetSpec",
    "DatasetSplits",
    "RemoteFile",
    "Split",
    "fetch",
    "get_spec",
    "load_dataset",
    "md5sum",
    "organise_tinyimagenet_val",
    "prepare_dataset",
    "prepared_spec",
    "random_crop_flip",
    "safe_extract",
    "split_indices",
    "synthetic_arrays",
    "write_prepared",
    "write_synthetic",
    "zlib_error",
]


def __getattr__(name: str) -> Any:
    """Import the torch-backed names of :mod:`.splits` on first access."""
    if name in _FROM_SPLITS:
        from prunelimit.data import splits

        value = getattr(splits, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
