"""Per-format readers turning verified raw files into numpy arrays.

Conventions: a reader is called as ``reader(spec, raw)`` once the spec's files are in the folder
``raw``, and returns ``(x_train, y_train, x_test, y_test)`` with channels-first samples, uint8
images (float32 signals for MNIST-1D) and integer labels. The test set is the official one
(TinyImageNet: the official validation set, since its test labels are not public). Archives are
extracted under ``raw/extracted``. :data:`READERS` maps :attr:`DatasetSpec.reader` to a reader.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from prunelimit.data.download import safe_extract
from prunelimit.data.registry import DatasetError, DatasetSpec

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _read_mnist1d(spec: DatasetSpec, raw: Path) -> Arrays:
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())  # seeded by the package's own default (seed 42)
    x = np.asarray(data["x"], dtype=np.float32)[:, None, :]
    xt = np.asarray(data["x_test"], dtype=np.float32)[:, None, :]
    return x, np.asarray(data["y"]), xt, np.asarray(data["y_test"])


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        buf = fh.read()
    _, dtype_code, ndim = struct.unpack(">HBB", buf[:4])
    if dtype_code != 0x08:
        raise DatasetError(f"{path}: unsupported IDX element type {dtype_code:#x}")
    shape = struct.unpack(">" + "I" * ndim, buf[4 : 4 + 4 * ndim])
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _read_idx_set(spec: DatasetSpec, raw: Path) -> Arrays:
    files = {
        f.filename.split("-")[0] + f.filename.split("-")[1]: raw / f.filename for f in spec.files
    }
    x = _read_idx(files["trainimages"])[:, None]
    y = _read_idx(files["trainlabels"])
    xt = _read_idx(files["t10kimages"])[:, None]
    yt = _read_idx(files["t10klabels"])
    return x, y, xt, yt


def _read_cifar(spec: DatasetSpec, raw: Path) -> Arrays:
    folder = safe_extract(raw / spec.files[0].filename, raw / "extracted") / spec.extra["folder"]

    def load(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for name in names:
            with open(folder / name, "rb") as fh:
                entry = pickle.load(fh, encoding="bytes")
            xs.append(np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(entry[spec.extra["label_key"]], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    return (*load(spec.extra["train"]), *load(spec.extra["test"]))


def organise_tinyimagenet_val(root: Path) -> None:
    """Move ``val/images/*.JPEG`` into ``val/{wnid}/`` folders using ``val_annotations.txt``."""
    val = root / "val"
    ann = val / "val_annotations.txt"
    if not ann.exists():
        return  # already organised
    for line in ann.read_text().splitlines():
        if not line.strip():
            continue
        fname, wnid = line.split("\t")[:2]
        src = val / "images" / fname
        if src.exists():
            (val / wnid).mkdir(exist_ok=True)
            src.rename(val / wnid / fname)
    shutil.rmtree(val / "images", ignore_errors=True)
    ann.rename(val / "val_annotations.txt.done")


def _read_tinyimagenet(spec: DatasetSpec, raw: Path) -> Arrays:
    from PIL import Image

    root = safe_extract(raw / spec.files[0].filename, raw / "extracted") / spec.extra["folder"]
    organise_tinyimagenet_val(root)
    wnids = [w.strip() for w in (root / "wnids.txt").read_text().split() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}

    def load(paths: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty((len(paths), 3, 64, 64), dtype=np.uint8)
        for k, (p, _) in enumerate(paths):
            with Image.open(p) as img:
                x[k] = np.asarray(img.convert("RGB").resize((64, 64))).transpose(2, 0, 1)
        return x, np.asarray([c for _, c in paths], dtype=np.int64)

    train = [(p, index[w]) for w in wnids for p in sorted((root / "train" / w).rglob("*.JPEG"))]
    val = [(p, index[w]) for w in wnids for p in sorted((root / "val" / w).glob("*.JPEG"))]
    if not train or not val:
        raise DatasetError(f"tinyimagenet: no images found under {root}")
    return (*load(train), *load(val))


READERS: dict[str, Callable[[DatasetSpec, Path], Arrays]] = {
    "mnist1d": _read_mnist1d,
    "idx": _read_idx_set,
    "cifar": _read_cifar,
    "tinyimagenet": _read_tinyimagenet,
}
