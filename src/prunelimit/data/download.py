"""Download, verify and extract the raw files of a dataset, never leaving a partial result.

Conventions: :func:`fetch` checks the md5, writes to a ``.part`` file renamed only when complete,
and raises one :class:`~prunelimit.data.registry.DatasetError` naming the dataset, the URL and
where to place the file by hand when offline. :func:`safe_extract` extracts into a temporary
folder renamed into place, so a corrupted archive is never left half-extracted. Standard library
only.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from prunelimit.data.registry import DatasetError, RemoteFile
from prunelimit.io import file_digest


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex md5 of the file at ``path``, read in ``chunk``-byte blocks."""
    return file_digest(path, "md5", chunk)


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
    """``zlib.error`` (raised by truncated .gz archives), imported when first needed."""
    import zlib

    return zlib.error
