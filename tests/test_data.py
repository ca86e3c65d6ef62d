import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from prunelimit import data as D
from prunelimit.data import download, prepare, prepared, readers, registry, splits, synthetic


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _remote(path: Path) -> D.RemoteFile:
    return D.RemoteFile(path.as_uri(), path.name, _md5(path))


def test_split_is_deterministic_and_disjoint():
    tr1, va1 = D.split_indices(100, 0.2, seed=3)
    tr2, va2 = D.split_indices(100, 0.2, seed=3)
    assert np.array_equal(tr1, tr2) and np.array_equal(va1, va2)
    assert len(va1) == 20 and len(set(tr1) | set(va1)) == 100 and not set(tr1) & set(va1)
    _, va3 = D.split_indices(100, 0.2, seed=4)
    assert not np.array_equal(va1, va3)


def test_fetch_verifies_md5(tmp_path):
    src = tmp_path / "src" / "blob.bin"
    src.parent.mkdir()
    src.write_bytes(b"hello" * 100)
    got = D.fetch(_remote(src), tmp_path / "raw", "demo")
    assert got.read_bytes() == src.read_bytes()
    bad = D.RemoteFile(src.as_uri(), "other.bin", "0" * 32)
    with pytest.raises(D.DatasetError, match="corrupted.*expected 0{32}"):
        D.fetch(bad, tmp_path / "raw", "demo")
    assert not (tmp_path / "raw" / "other.bin").exists()
    assert not list((tmp_path / "raw").glob("*.part"))


def test_offline_download_names_dataset_url_and_manual_place(tmp_path):
    remote = D.RemoteFile(
        "http://127.0.0.1:9/cifar-10-python.tar.gz",
        "cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
    )
    with pytest.raises(D.DatasetError) as err:
        D.fetch(remote, tmp_path, "cifar10", timeout=5)
    msg = str(err.value)
    assert "'cifar10'" in msg and remote.url in msg and str(tmp_path / remote.filename) in msg
    assert not list(tmp_path.iterdir())


def test_corrupted_archive_is_never_half_extracted(tmp_path):
    good = tmp_path / "a.tar.gz"
    with tarfile.open(good, "w:gz") as tf:
        for i in range(20):
            payload = np.random.default_rng(i).bytes(20000)
            info = tarfile.TarInfo(f"folder/file{i}.bin")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    truncated = tmp_path / "b.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(D.DatasetError, match="corrupted"):
        D.safe_extract(truncated, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    D.safe_extract(good, tmp_path / "out")
    assert len(list((tmp_path / "out" / "folder").iterdir())) == 20


def _fake_cifar(tmp_path: Path, n_train: int = 30, n_test: int = 10) -> Path:
    rng = np.random.default_rng(0)
    folder = "cifar-10-batches-py"
    archive = tmp_path / "src" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tf:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            n = n_test if name == "test_batch" else n_train // 5
            entry = {
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                b"labels": rng.integers(0, 10, n).tolist(),
            }
            blob = pickle.dumps(entry)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return archive


def test_prepare_cifar10_from_fake_archive(tmp_path, monkeypatch):
    archive = _fake_cifar(tmp_path)
    spec = replace(D.DATASETS["cifar10"], files=(_remote(archive),))
    monkeypatch.setitem(registry.DATASETS, "cifar10", spec)
    meta = D.prepare_dataset("cifar10", tmp_path / "raw", tmp_path / "cifar10.pt", val_fraction=0.2)
    assert meta["sizes"] == {"train": 24, "val": 6, "test": 10}
    ds = D.load_dataset(tmp_path / "cifar10.pt")
    x, y = ds.train.get(slice(0, 4))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    # normalisation measured on the training split: zero mean, unit std per channel
    xs, _ = ds.train.get(slice(None))
    assert torch.allclose(xs.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(xs.std((0, 2, 3)), torch.ones(3), atol=1e-2)


def _idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_prepare_mnist_from_fake_idx(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    src.mkdir()
    files = []
    for name, arr in [
        ("train-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28))),
        ("train-labels-idx1-ubyte.gz", rng.integers(0, 10, 20)),
        ("t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (5, 28, 28))),
        ("t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 5)),
    ]:
        _idx(src / name, arr)
        files.append(_remote(src / name))
    monkeypatch.setitem(
        registry.DATASETS, "mnist", replace(D.DATASETS["mnist"], files=tuple(files))
    )
    meta = D.prepare_dataset("mnist", tmp_path / "raw", tmp_path / "mnist.pt", val_fraction=0.25)
    assert meta["sizes"] == {"train": 15, "val": 5, "test": 5}
    ds = D.load_dataset(tmp_path / "mnist.pt")
    assert ds.input_shape == (1, 28, 28) and ds.test.get(slice(0, 5))[0].shape == (5, 1, 28, 28)


def test_prepare_tinyimagenet_reorganises_val(tmp_path, monkeypatch):
    from PIL import Image

    wnids = ["n01443537", "n01629819"]
    archive = tmp_path / "src" / "tiny-imagenet-200.zip"
    archive.parent.mkdir()
    rng = np.random.default_rng(2)

    def jpeg() -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
        return buf.getvalue()

    ann = []
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("tiny-imagenet-200/wnids.txt", "\n".join(wnids) + "\n")
        for w in wnids:
            for i in range(3):
                zf.writestr(f"tiny-imagenet-200/train/{w}/images/{w}_{i}.JPEG", jpeg())
        for i, w in enumerate(wnids * 2):
            zf.writestr(f"tiny-imagenet-200/val/images/val_{i}.JPEG", jpeg())
            ann.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
        zf.writestr("tiny-imagenet-200/val/val_annotations.txt", "\n".join(ann) + "\n")
    spec = replace(D.DATASETS["tinyimagenet"], files=(_remote(archive),))
    monkeypatch.setitem(registry.DATASETS, "tinyimagenet", spec)
    meta = D.prepare_dataset("tinyimagenet", tmp_path / "raw", tmp_path / "t.pt", val_fraction=0.0)
    assert meta["sizes"] == {"train": 6, "val": 0, "test": 4}
    val = tmp_path / "raw" / "extracted" / "tiny-imagenet-200" / "val"
    assert sorted(p.name for p in val.iterdir() if p.is_dir()) == wnids
    assert len(list((val / wnids[0]).glob("*.JPEG"))) == 2
    ds = D.load_dataset(tmp_path / "t.pt")
    assert ds.test.y.tolist() == [0, 0, 1, 1]


def test_unknown_dataset_lists_known():
    with pytest.raises(D.DatasetError, match="known datasets: cifar10"):
        D.prepare_dataset("imagenet22k", "/nonexistent", "/nonexistent/x.pt")


def test_batches_are_seeded_and_augmentation_keeps_shape(tmp_path, monkeypatch):
    archive = _fake_cifar(tmp_path)
    monkeypatch.setitem(
        registry.DATASETS, "cifar10", replace(D.DATASETS["cifar10"], files=(_remote(archive),))
    )
    D.prepare_dataset("cifar10", tmp_path / "raw", tmp_path / "c.pt", val_fraction=0.0)
    ds = D.load_dataset(tmp_path / "c.pt")

    def epoch(seed):
        g = torch.Generator().manual_seed(seed)
        return [b for b in ds.train.batches(8, g, augment=True)]

    a, b, c = epoch(0), epoch(0), epoch(1)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, b, strict=True))
    assert not all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, c, strict=True))
    assert a[0][0].shape == (8, 3, 32, 32) and sum(len(y) for _, y in a) == 30
    # a zero-shift, no-flip crop is the identity
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    out = D.random_crop_flip(x, torch.Generator().manual_seed(0), pad=0)
    assert all(
        torch.equal(o, xi) or torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x, strict=True)
    )


def test_mnist1d_offline(mnist1d):
    assert mnist1d.input_shape == (1, 40) and mnist1d.num_classes == 10
    assert len(mnist1d.train) == 3600 and len(mnist1d.val) == 400 and len(mnist1d.test) == 1000


def test_download_table_matches_torchvision():
    from torchvision import datasets as tvd

    for name, cls in [("mnist", tvd.MNIST), ("fashionmnist", tvd.FashionMNIST)]:
        files = D.DATASETS[name].files
        assert [(f.filename, f.md5) for f in files] == list(cls.resources)
        assert all(f.url == cls.mirrors[0] + f.filename for f in files)
    for name, cls in [("cifar10", tvd.CIFAR10), ("cifar100", tvd.CIFAR100)]:
        (f,) = D.DATASETS[name].files
        assert (f.url, f.filename, f.md5) == (cls.url, cls.filename, cls.tgz_md5)


HOMES = {
    registry: ("DATASETS", "DatasetError", "DatasetSpec", "RemoteFile", "get_spec"),
    download: ("fetch", "md5sum", "safe_extract", "zlib_error"),
    readers: ("READERS", "Arrays", "organise_tinyimagenet_val"),
    prepare: ("prepare_dataset",),
    prepared: ("prepared_spec", "split_indices", "write_prepared"),
    synthetic: ("synthetic_arrays", "write_synthetic"),
    splits: ("DatasetSplits", "Split", "load_dataset", "random_crop_flip"),
}


def test_package_reexports_every_public_name():
    assert sorted(n for names in HOMES.values() for n in names) == sorted(D.__all__)
    for module, names in HOMES.items():
        for name in names:
            assert getattr(D, name) is getattr(module, name), name


def test_registry_and_prepare_import_without_torch():
    code = (
        "import sys; from prunelimit.data import get_spec, prepare_dataset; "
        "get_spec('mnist'); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
