"""Your own data, prepared once into the prepared format (:mod:`.prepare`).

A config's ``datasets`` section names each source; an experiment's ``dataset`` may then name it
like a registry dataset. Two kinds of source:

- ``file: path.pt``, a ``torch.save``'d dict of tensors ``train_x``, ``train_y``, ``test_x``,
  ``test_y`` and optionally ``val_x``, ``val_y`` (else the validation split is held out of the
  training set by the project's rule, :func:`~prunelimit.data.split_indices`) and ``meta``
  (``num_classes``, ``scale``). Inputs are channels first, uint8 (``scale`` 255) or floats
  (``scale`` 1); labels integers;
- ``image_folder: dir``, a tree of class subfolders read with torchvision's ``ImageFolder`` (RGB,
  uint8): ``dir/train`` and ``dir/test`` if both exist, else one tree of which
  ``test_fraction`` is held out as the test set (the same split rule, seed ``split_seed + 1``).
  All images must have one size unless ``image_size: [H, W]`` resizes them.

Checks before anything is written, each naming the dataset and the file: the tensors exist and
have one sample shape across splits, labels lie in ``[0, num_classes)``, no split is empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prunelimit.data.prepared import split_indices, write_prepared
from prunelimit.data.registry import DatasetError, DatasetSpec
from prunelimit.io import load_given

SPLITS = ("train", "val", "test")


def _check(name: str, where: str, parts: dict[str, tuple], num_classes: int | None) -> int:
    """Check the splits' ``(x, y)`` arrays; return the number of classes."""
    shapes = {s: tuple(x.shape[1:]) for s, (x, _) in parts.items()}
    for s, (x, y) in parts.items():
        if len(x) == 0:
            raise DatasetError(f"dataset {name!r} ({where}): the {s} split is empty")
        if len(x) != len(y):
            raise DatasetError(
                f"dataset {name!r} ({where}): {s} has {len(x)} inputs but {len(y)} labels"
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(
                f"dataset {name!r} ({where}): {s} labels must be a 1-D integer tensor, got "
                f"shape {tuple(y.shape)} of {y.dtype}"
            )
    if len(set(shapes.values())) > 1:
        raise DatasetError(
            f"dataset {name!r} ({where}): the splits' samples differ in shape: {shapes}"
        )
    classes = num_classes or int(max(int(y.max()) for _, y in parts.values())) + 1
    for s, (_, y) in parts.items():
        if int(y.min()) < 0 or int(y.max()) >= classes:
            raise DatasetError(
                f"dataset {name!r} ({where}): {s} labels must lie in [0, {classes}), found "
                f"{int(y.min())}..{int(y.max())}"
            )
    return classes


def _numpy(blob: dict, key: str, name: str, path: Path) -> np.ndarray:
    value = blob[key]
    try:
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    except (TypeError, RuntimeError) as err:
        raise DatasetError(f"dataset {name!r} ({path}): {key} is not a tensor: {err}") from None


def read_tensor_file(name: str, path: str | Path) -> tuple[dict[str, tuple], dict]:
    """The ``(x, y)`` numpy arrays per split of a file of tensors, and its ``meta`` (if any)."""
    path = Path(path)
    blob = load_given(path, f"dataset {name!r}", DatasetError, "save a dict of tensors")
    if not isinstance(blob, dict):
        raise DatasetError(f"dataset {name!r}: {path} holds a {type(blob).__name__}, not a dict")
    splits = [s for s in SPLITS if s != "val" or "val_x" in blob or "val_y" in blob]
    missing = [f"{s}_{t}" for s in splits for t in "xy" if f"{s}_{t}" not in blob]
    if missing:
        raise DatasetError(
            f"dataset {name!r}: {path} lacks {', '.join(missing)} (needed: train_x, train_y, "
            "test_x, test_y; val_x and val_y optional)"
        )
    parts = {
        s: (_numpy(blob, f"{s}_x", name, path), _numpy(blob, f"{s}_y", name, path)) for s in splits
    }
    return parts, dict(blob.get("meta") or {})


def read_image_folder(
    name: str,
    root: str | Path,
    image_size: tuple[int, int] | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> dict[str, tuple]:
    """The ``(x, y)`` uint8 RGB arrays (N, 3, H, W) of an image folder tree, train and test."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset {name!r}: image folder {root} does not exist")
    trees = (
        {"train": root / "train", "test": root / "test"}
        if (root / "train").is_dir() and (root / "test").is_dir()
        else {"all": root}
    )
    read = {s: _read_tree(name, tree, image_size) for s, tree in trees.items()}
    if "all" not in read:
        return read
    x, y = read["all"]
    keep, test = split_indices(len(x), test_fraction, split_seed + 1)
    return {"train": (x[keep], y[keep]), "test": (x[test], y[test])}


def _read_tree(name: str, tree: Path, image_size: tuple[int, int] | None) -> tuple:
    from torchvision.datasets import ImageFolder

    try:
        folder = ImageFolder(str(tree))
    except (FileNotFoundError, RuntimeError) as err:  # no class folders, or no images
        raise DatasetError(f"dataset {name!r}: image folder {tree}: {err}") from None
    images, labels, size = [], [], None
    for path, label in folder.samples:
        img = folder.loader(path).convert("RGB")
        if image_size is not None:
            img = img.resize((int(image_size[1]), int(image_size[0])))
        arr = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
        if size is None:
            size = arr.shape
        elif arr.shape != size:
            raise DatasetError(
                f"dataset {name!r}: image {path} is {arr.shape[1]}x{arr.shape[2]}, the first "
                f"was {size[1]}x{size[2]}; set image_size: [H, W] to resize them all"
            )
        images.append(arr)
        labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def prepare_user_dataset(
    name: str, source: dict, out: str | Path, val_fraction: float, split_seed: int
) -> dict:
    """Read, check and write dataset ``name`` from its config ``source`` (see the module
    docstring; every key of a config's ``datasets`` entry, its defaults filled in:
    :class:`prunelimit.config.settings.DatasetSettings`) as the prepared file ``out``; return
    its ``meta``."""
    if source["file"]:
        where = str(source["file"])
        parts, meta = read_tensor_file(name, source["file"])
    elif source["image_folder"]:
        where = str(source["image_folder"])
        size = source["image_size"]
        parts = read_image_folder(
            name,
            source["image_folder"],
            None if size is None else tuple(size),
            float(source["test_fraction"]),
            split_seed,
        )
        meta = {}
    else:
        raise DatasetError(f"dataset {name!r}: give `file` or `image_folder`, got {source}")
    classes = _check(name, where, parts, source["num_classes"] or meta.get("num_classes"))
    x, y = parts["train"]
    shape = tuple(int(d) for d in x.shape[1:])
    augmentable = bool(source["augmentable"]) and x.ndim == 4
    scale = meta.get("scale")
    return write_prepared(
        DatasetSpec(name, shape, classes, augmentable=augmentable),
        (x, y, *parts["test"]),
        out,
        val_fraction,
        split_seed,
        val=parts.get("val"),
        scale=None if scale is None else float(scale),
        source=where,
    )
