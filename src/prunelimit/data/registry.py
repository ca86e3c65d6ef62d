"""The datasets the pipeline knows: their shapes, classes, remote files and reader.

Conventions: ``input_shape`` is one sample as the models see it (channels first); each remote
file carries the md5 it is verified against; ``reader`` names an entry of
:data:`prunelimit.data.readers.READERS`. This module imports neither numpy nor torch, so asking
for a spec is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """The spec of dataset ``name``; :class:`DatasetError` listing the known ones if unknown."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None
