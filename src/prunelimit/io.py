"""Result files: written atomically with the user's umask, checked when they are read back.

Every writer here writes to a temporary file in the destination folder and renames it into
place (``os.replace`` is atomic on POSIX), so an interrupted job leaves either the old file or
nothing. The temporary file gets the mode a plain ``open`` would give (``0o666`` less the
umask), so results are as readable by a group as any other file its user writes.

Every reader here (:func:`read_json`, :func:`read_csv`, :func:`load_torch`) turns a file that
does not parse or load, or whose sha256 differs from the one its writer recorded, into one
:class:`DamagedFile` naming the file, what is wrong and what to do; no half-read file yields a
number. :func:`save_torch` returns the sha256 of what it wrote, for its caller to record in the
JSON written beside it (a ``sha256`` map by file name, read by :func:`recorded_digest`). Torch
is imported only by the two torch functions and pandas only by :func:`read_csv`, so table and
figure jobs stay light.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

REBUILD = "Delete it and rerun; Snakemake then rebuilds it and what depends on it"


class DamagedFile(RuntimeError):
    """A result file that does not load or parse, or does not match its recorded digest."""

    def __init__(self, path: str | os.PathLike, what: str):
        self.path, self.what = Path(path), what
        super().__init__(f"{path} is damaged: {what}. {REBUILD}.")


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The temporary file has the mode ``open`` would give ``path`` (``mkstemp``'s ``0o600``
    widened to ``0o666`` less the umask); a writer writing into it keeps that mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _jsonable(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (tensors and numpy values converted)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


def write_csv(path: str | os.PathLike, frame: Any, index: bool = False, **kwargs: Any) -> None:
    """Write a pandas DataFrame as CSV, atomically (``kwargs`` go to ``DataFrame.to_csv``)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index, **kwargs)


def write_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Write named numpy arrays as a compressed ``.npz``, atomically."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def read_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Every array of an ``.npz`` written by :func:`write_npz`, loaded; one that does not
    unpack (truncated, not a zip) is a :class:`DamagedFile`."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, EOFError) as err:  # truncated, empty, not a zip
        raise DamagedFile(path, f"it is not a complete .npz archive ({err})") from err


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON result file; one that does not parse (truncated, binary) is a
    :class:`DamagedFile`."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DamagedFile(path, f"it is not complete JSON ({err})") from err


def read_csv(path: str | os.PathLike, **kwargs: Any) -> Any:
    """``pandas.read_csv`` of a result table (``kwargs`` go to it); an empty or unparsable
    file is a :class:`DamagedFile`."""
    import pandas as pd

    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DamagedFile(path, f"it is not a complete CSV table ({err})") from err


def recorded_digest(record: str | os.PathLike, path: str | os.PathLike) -> str | None:
    """The sha256 of ``path`` that its writer recorded in the JSON file ``record`` (its
    ``sha256`` map, by file name); None without a record (a file written before digests were
    recorded, or copied without its record)."""
    record = Path(record)
    if not record.is_file():
        return None
    recorded = read_json(record)
    digests = recorded.get("sha256") if isinstance(recorded, dict) else None
    return digests.get(Path(path).name) if isinstance(digests, dict) else None


def file_digest(path: str | os.PathLike, algorithm: str, chunk: int = 1 << 20) -> str:
    """Hex digest (``md5``, ``sha256``, ...) of the file at ``path``, read in ``chunk`` blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_torch(path: str | os.PathLike, obj: Any) -> str:
    """``torch.save`` atomically; return the sha256 of the file written (to record it).

    Saved through an open file, not the temporary name: ``torch.save`` names every entry of
    its archive after a path it is given, so equal objects write equal bytes only this way."""
    import torch

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
        digest = file_digest(tmp, "sha256")
    return digest


def load_torch(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    record: str | os.PathLike | None = None,
) -> Any:
    """``torch.load`` of files this package wrote (state dicts, tensors, plain containers).

    With ``record`` (the JSON its writer wrote beside it), a recorded sha256 must match the
    file's. A file that differs or does not load is a :class:`DamagedFile`."""
    import torch

    path = Path(path)
    expected = recorded_digest(record, path) if record is not None else None
    if expected is not None:
        actual = file_digest(path, "sha256")
        if actual != expected:
            raise DamagedFile(
                path,
                f"its sha256 {actual[:16]}... differs from the {expected[:16]}... its writer "
                f"recorded in {record} (truncated, or changed since it was written)",
            )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, torch.OutOfMemoryError):
        raise
    except Exception as err:  # noqa: BLE001 - whatever a damaged file raises, one message
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise DamagedFile(
            path, f"torch.load fails ({type(err).__name__}: {reason}): it is truncated or damaged"
        ) from err


def load_given(path: str | os.PathLike, where: str, error: type[Exception], hint: str = "") -> Any:
    """``torch.load`` (tensors and plain containers only) of a file a user gave: one
    ``error(message)`` that starts with ``where`` when it does not exist or does not load,
    followed by ``hint`` (what such a file holds)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise error(f"{where}: the file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same message
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise error(
            f"{where}: {path} is not a PyTorch file of tensors ({type(err).__name__}: {reason})"
            + (f"; {hint}" if hint else "")
        ) from None


def load_checkpoint(
    path: str | os.PathLike | None,
    map_location: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> Any:
    """A resumable run's checkpoint, or None: none at ``path``, or one that does not load (the
    run starts over, which ends with the same numbers; ``log`` says so)."""
    if path is None or not Path(path).exists():
        return None
    try:
        return load_torch(path, map_location=map_location)
    except DamagedFile as err:
        log(f"ignoring checkpoint {path}: {err.what}; starting over")
        return None
