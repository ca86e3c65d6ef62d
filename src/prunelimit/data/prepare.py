"""Prepare a dataset once into one file: download, verify and read a known dataset, or read and
check the user's own (:mod:`.user`), then split it and measure its normalisation
(:mod:`.prepared`)."""

from __future__ import annotations

from pathlib import Path

from prunelimit.data.download import fetch
from prunelimit.data.prepared import write_prepared
from prunelimit.data.readers import READERS
from prunelimit.data.registry import get_spec
from prunelimit.data.user import prepare_user_dataset


def prepare_dataset(
    name: str,
    raw_dir: str | Path,
    out: str | Path,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    source: dict | None = None,
) -> dict:
    """Download (if needed), verify, read and split ``name``; write the prepared file ``out``.

    The test set is the official one (TinyImageNet: the official validation set, since its test
    labels are not public); the validation split is held out of the training set. ``source``:
    the user's own data (a config ``datasets`` entry, :mod:`.user`) instead of the registry's.
    """
    if source is not None:
        return prepare_user_dataset(name, source, out, val_fraction, split_seed)
    spec = get_spec(name)
    raw = Path(raw_dir)
    for remote in spec.files:
        fetch(remote, raw, name)
    return write_prepared(spec, READERS[spec.reader](spec, raw), out, val_fraction, split_seed)
