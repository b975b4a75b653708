"""Safe outputs: check a path before any work, then write through a temporary file and a rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import FileFormatError, OutputError
from .registry import format_for, write_suffixes
from .volume import suffix_of


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that ``path`` can be written; raise OutputError / FileFormatError before any work."""
    p = Path(path).expanduser()
    if suffix_of(p) not in write_suffixes():
        raise FileFormatError(
            f"cannot write {p}: unsupported suffix (use one of {', '.join(write_suffixes())})"
        )
    folder = format_for(p).folder
    if p.is_dir() and not folder:
        raise OutputError(f"cannot write {p}: it is a folder")
    if p.exists() and folder and not p.is_dir():
        raise OutputError(f"cannot write {p}: it is a file, not a folder")
    if p.exists() and not overwrite:
        raise OutputError(f"{p} already exists (use overwrite to replace it)")
    parent = p.parent
    if not parent.exists():
        raise OutputError(f"cannot write {p}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {p}: folder {parent} is not writable")
    return p


def _file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path in ``path``'s folder (same suffix); on success move it onto ``path``."""
    if format_for(path).folder:
        with atomic_folder(path) as tmp:
            yield tmp
        return
    suffix = suffix_of(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """For a format whose "file" is a folder (OME-Zarr): yield a hidden temporary path beside
    ``path`` (named so that no glob for outputs matches it); on success rename it onto ``path``
    (an existing one is moved aside first and removed after), else remove it."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    shutil.rmtree(tmp)  # the writer creates the folder itself
    old = None
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
