"""Datasets: download, verify, extract, split, and serve batches from memory.

A dataset is *prepared* once into one file (``resources/datasets/{name}.pt``) holding uint8
images (or float32 signals for MNIST-1D), labels, a deterministic validation split held out of
the training set, and the per-channel normalisation measured on the remaining training images.
Batches are then cut from tensors in memory (on the training device), which is faster than a
``DataLoader`` for these sizes and makes the order of samples a function of one seeded generator.

Downloads go through :func:`fetch`: an md5 check, a ``.part`` file renamed only when complete,
and one clear error naming the dataset, the URL and where to place the file by hand when offline.
Archives are extracted through :func:`safe_extract` into a temporary folder renamed into place,
so a corrupted archive is never left half-extracted.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from prunelimit.io import load_torch, save_torch


class DatasetError(RuntimeError):
    """A dataset could not be downloaded, verified, extracted or read."""


@dataclass(frozen=True)
class RemoteFile:
    url: str
    filename: str
    md5: str


@dataclass(frozen=True)
class DatasetSpec:
    """What the pipeline needs to know of a dataset.

    ``input_shape`` is the shape of one sample as the models see it (channels first).
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    files: tuple[RemoteFile, ...] = ()
    reader: str = ""
    augmentable: bool = False
    homepage: str = ""
    extra: dict = field(default_factory=dict)


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_IDX = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# URLs and md5 sums as torchvision publishes them (tests/test_data.py checks they still match);
# kept here so that importing this module does not import torchvision.
_TV_FILES = {
    "mnist": tuple(
        RemoteFile(_MNIST + f, f, m)
        for f, m in zip(
            _IDX,
            (
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
            strict=True,
        )
    ),
    "fashionmnist": tuple(
        RemoteFile(_FASHION + f, f, m)
        for f, m in zip(
            _IDX,
            (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
            strict=True,
        )
    ),
    "cifar10": (
        RemoteFile(
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
        ),
    ),
    "cifar100": (
        RemoteFile(
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "cifar-100-python.tar.gz",
            "eb9058c3a382ffc7106e4002c42a8d85",
        ),
    ),
}


def _registry() -> dict[str, DatasetSpec]:
    tv = _TV_FILES
    return {
        "mnist1d": DatasetSpec(
            "mnist1d",
            (1, 40),
            10,
            reader="mnist1d",
            homepage="https://github.com/greydanus/mnist1d",
        ),
        "mnist": DatasetSpec("mnist", (1, 28, 28), 10, tv["mnist"], "idx"),
        "fashionmnist": DatasetSpec("fashionmnist", (1, 28, 28), 10, tv["fashionmnist"], "idx"),
        "cifar10": DatasetSpec(
            "cifar10",
            (3, 32, 32),
            10,
            tv["cifar10"],
            "cifar",
            True,
            extra={
                "folder": "cifar-10-batches-py",
                "label_key": b"labels",
                "train": [f"data_batch_{i}" for i in range(1, 6)],
                "test": ["test_batch"],
            },
        ),
        "cifar100": DatasetSpec(
            "cifar100",
            (3, 32, 32),
            100,
            tv["cifar100"],
            "cifar",
            True,
            extra={
                "folder": "cifar-100-python",
                "label_key": b"fine_labels",
                "train": ["train"],
                "test": ["test"],
            },
        ),
        "tinyimagenet": DatasetSpec(
            "tinyimagenet",
            (3, 64, 64),
            200,
            (
                RemoteFile(
                    "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                    "tiny-imagenet-200.zip",
                    "90528d7ca1a48142e341f4ef8d21d0de",
                ),
            ),
            "tinyimagenet",
            True,
            extra={"folder": "tiny-imagenet-200"},
        ),
    }


DATASETS: dict[str, DatasetSpec] = _registry()


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None


# --------------------------------------------------------------------------- download & verify


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch(remote: RemoteFile, folder: str | Path, dataset: str, timeout: float = 60.0) -> Path:
    """Download ``remote`` into ``folder`` unless a verified copy is there; return its path.

    Raises :class:`DatasetError` naming the dataset, the URL and the manual fallback when the
    download fails, and naming the file and both checksums when the md5 does not match (the bad
    file is removed).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.filename
    if dest.exists():
        if md5sum(dest) == remote.md5:
            return dest
        bad = md5sum(dest)
        dest.unlink()
        raise DatasetError(
            f"dataset {dataset!r}: file {dest} is corrupted (md5 {bad}, expected {remote.md5}); "
            f"it was removed. Rerun to download it again from {remote.url}."
        )
    part = dest.with_name(dest.name + ".part")
    print(f"[{dataset}] downloading {remote.url} -> {dest}", flush=True)
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout) as resp, open(part, "wb") as out:
            shutil.copyfileobj(resp, out, length=1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        raise DatasetError(
            f"could not download dataset {dataset!r} from {remote.url} ({err}). If this machine "
            f"is offline, download {remote.filename} (md5 {remote.md5}) elsewhere and place it "
            f"by hand at {dest}, then rerun."
        ) from err
    got = md5sum(part)
    if got != remote.md5:
        part.unlink()
        raise DatasetError(
            f"dataset {dataset!r}: download of {remote.url} is corrupted (md5 {got}, expected "
            f"{remote.md5}); nothing was kept. Rerun, or place a verified copy at {dest}."
        )
    part.rename(dest)
    return dest


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Extract a .tar(.gz) or .zip into ``dest`` all or nothing (temporary folder + rename).

    Member paths that would escape ``dest`` are rejected. An existing ``dest`` is kept as is.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        return dest
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if Path(member).is_absolute() or ".." in Path(member).parts:
                        raise DatasetError(f"archive {archive} has an unsafe member {member!r}")
                bad = zf.testzip()
                if bad is not None:
                    raise DatasetError(f"archive {archive} is corrupted (member {bad!r})")
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib_error()) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(f"archive {archive} is corrupted or unreadable: {err}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.rename(dest)
    return dest


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


# --------------------------------------------------------------------------- readers


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


# --------------------------------------------------------------------------- prepare


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, validation) index split of ``range(n)``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def prepare_dataset(
    name: str, raw_dir: str | Path, out: str | Path, val_fraction: float = 0.1, split_seed: int = 0
) -> dict:
    """Download (if needed), verify, read and split ``name``; write the prepared file ``out``.

    The test set is the official one (TinyImageNet: the official validation set, since its test
    labels are not public); the validation split is held out of the training set.
    """
    spec = get_spec(name)
    raw = Path(raw_dir)
    for remote in spec.files:
        fetch(remote, raw, name)
    x, y, xt, yt = READERS[spec.reader](spec, raw)
    if tuple(x.shape[1:]) != spec.input_shape:
        raise DatasetError(
            f"dataset {name!r}: read samples of shape {x.shape[1:]}, expected {spec.input_shape}"
        )
    tr, va = split_indices(len(x), val_fraction, split_seed)
    xtr = x[tr]
    axes = (0,) + tuple(range(2, xtr.ndim))
    scale = 255.0 if xtr.dtype == np.uint8 else 1.0
    mean = (xtr.astype(np.float64) / scale).mean(axis=axes)
    std = (xtr.astype(np.float64) / scale).std(axis=axes)
    meta = {
        "name": name,
        "input_shape": list(spec.input_shape),
        "num_classes": spec.num_classes,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "scale": scale,
        "val_fraction": val_fraction,
        "split_seed": split_seed,
        "augmentable": spec.augmentable,
        "sizes": {"train": len(tr), "val": len(va), "test": len(xt)},
    }
    blob = {
        "train_x": torch.from_numpy(np.ascontiguousarray(xtr)),
        "train_y": torch.from_numpy(y[tr].astype(np.int64)),
        "val_x": torch.from_numpy(np.ascontiguousarray(x[va])),
        "val_y": torch.from_numpy(y[va].astype(np.int64)),
        "test_x": torch.from_numpy(np.ascontiguousarray(xt)),
        "test_y": torch.from_numpy(yt.astype(np.int64)),
        "meta": meta,
    }
    save_torch(out, blob)
    return meta


# --------------------------------------------------------------------------- serving batches


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
    """Load a prepared dataset file onto ``device``."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"prepared dataset {path} does not exist; run the 'download' rule")
    blob = load_torch(path)
    meta = blob["meta"]
    device = torch.device(device)
    return DatasetSplits(
        *(Split(blob[f"{s}_x"], blob[f"{s}_y"], meta, device) for s in ("train", "val", "test")),
        meta=meta,
    )
