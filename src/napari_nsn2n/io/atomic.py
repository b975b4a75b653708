"""Safe outputs: check paths before any work, write through a temporary file, then move it into
place in one step that never replaces a file it was not allowed to.

- Temporaries sit beside the target as ``.NAME.XXXXXXXX.partial`` (the dots of NAME as "~"):
  hidden, and no glob for the outputs (``*.nii.gz``, ``*.tif*``) matches them; they are removed on every error and on every
  signal the CLI catches (``cli.signals``). Only a SIGKILL or a power cut can leave one behind.
- Without ``overwrite`` the final step is ``os.link`` (it fails when the name exists, also when
  another process created it a moment before: "do not overwrite" holds under concurrency); with
  ``overwrite`` it is ``os.replace``. Either way a reader sees the file as it was or the whole new one.
- ``check_outputs`` finds every collision of a list of inputs and outputs (two results for one
  path, a result over an input, hard links included) before any work starts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import FileFormatError, OutputError
from .registry import format_for, write_suffixes
from .volume import PARTIAL_SUFFIX, partial_prefix, suffix_of

_HELD_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_PLAIN_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EFBIG: "file too large for this file system",
}


def describe_os_error(exc: BaseException) -> str:
    """One line for a failed write, plain where the cause is known ("no space left on device")."""
    code = getattr(exc, "errno", None)
    if code in _PLAIN_ERRORS:
        return _PLAIN_ERRORS[code]
    text = " ".join(str(exc).split())
    if "No space left" in text:
        return _PLAIN_ERRORS[errno.ENOSPC]
    return f"{type(exc).__name__}: {text}"[:300]


def check_output_path(
    path: str | os.PathLike,
    overwrite: bool = False,
    hint: str = "overwrite=True",
    folder_later: bool = False,
) -> Path:
    """Check that ``path`` can be written; raise OutputError / FileFormatError before any work.

    ``hint`` is how the caller's user allows replacing ("--overwrite" on the command line);
    ``folder_later``: a missing parent folder is fine (the caller creates it)."""
    p = Path(path).expanduser()
    if suffix_of(p) not in write_suffixes():
        raise FileFormatError(
            f"cannot write {p}: unsupported suffix (use one of {', '.join(write_suffixes())})"
        )
    return check_writable(p, overwrite, hint, folder_later, is_folder=format_for(p).folder)


def check_writable(
    path: Path,
    overwrite: bool = False,
    hint: str = "overwrite=True",
    folder_later: bool = False,
    is_folder: bool = False,
) -> Path:
    """The checks of ``check_output_path`` that do not depend on the format (models use them);
    ``is_folder``: the output is a folder (OME-Zarr), which may replace only a folder."""
    if path.is_dir() and not is_folder:
        raise OutputError(f"cannot write {path}: it is a folder")
    if path.exists() and is_folder and not path.is_dir():
        raise OutputError(f"cannot write {path}: it is a file, not a folder")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists (use {hint} to replace it)")
    parent = path.parent
    if not parent.exists():
        if folder_later:
            return path
        raise OutputError(f"cannot write {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {parent} is not writable")
    return path


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same resolved path, or one inode (links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    inputs: Sequence[str | os.PathLike],
    outputs: Sequence[str | os.PathLike],
    origins: Sequence[str] | None = None,
) -> None:
    """Raise OutputError naming every collision before any work: two outputs on one path, or an
    output on an input. ``outputs`` holds every file a run will write (volumes and models);
    ``origins[k]`` (optional) names the input that ``outputs[k]`` comes from."""
    sources = [Path(p).expanduser() for p in inputs]
    targets = [Path(p).expanduser() for p in outputs]
    problems: list[str] = []
    for k, out in enumerate(targets):
        for j in range(k):
            if same_file(targets[j], out):
                where = f" (from {origins[j]} and {origins[k]})" if origins else ""
                problems.append(f"{out} would be written twice{where}")
        for source in sources:
            if same_file(source, out):
                problems.append(f"{out} is an input and would be replaced")
    if problems:
        unique = list(dict.fromkeys(problems))
        more = f" (and {len(unique) - 3} more)" if len(unique) > 3 else ""
        raise OutputError(
            f"outputs collide: {'; '.join(unique[:3])}{more}; nothing was done (choose other "
            "output names or folders)"
        )


@contextlib.contextmanager
def atomic_output(path: Path, overwrite: bool = False, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (a file, or an empty folder with ``folder``); when
    the block ends without an exception it becomes ``path`` in one step (see the module
    docstring). On any exception, KeyboardInterrupt and signals included, it is removed and the
    exception goes on. Raises OutputError when ``path`` exists and ``overwrite`` is False, also
    when it appeared while the block ran."""
    path = Path(path)
    tmp = _new_partial(path, folder)
    try:
        yield tmp
        _flush(tmp)
        if not folder:
            os.chmod(tmp, _file_mode())
        with _signals_held():
            _commit(tmp, path, overwrite, folder)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {path}: {describe_os_error(exc)}") from None
    finally:
        _remove(tmp)


def _new_partial(path: Path, folder: bool) -> Path:
    """A fresh ``.NAME.XXXXXXXX.partial`` file (or folder) beside ``path``."""
    prefix = partial_prefix(path)
    try:
        if folder:
            return Path(tempfile.mkdtemp(prefix=prefix, suffix=PARTIAL_SUFFIX, dir=path.parent))
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=PARTIAL_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {describe_os_error(exc)}") from None
    os.close(handle)
    return Path(name)


def _commit(tmp: Path, path: Path, overwrite: bool, folder: bool) -> None:
    if folder:
        _commit_folder(tmp, path, overwrite)
    elif overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise _appeared(path) from None
        except OSError:  # no hard links here (some network / FAT file systems): claim the name
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                raise _appeared(path) from None
            os.replace(tmp, path)


def _commit_folder(tmp: Path, path: Path, overwrite: bool) -> None:
    """A folder output: claimed with mkdir (exclusive), then replaced by rename in one step."""
    if overwrite and path.exists():
        old = _new_partial(path, folder=True)
        os.rename(path, old / path.name)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.mkdir(path)
    except FileExistsError:
        raise _appeared(path) from None
    os.rename(tmp, path)  # onto the empty folder just made: atomic on POSIX


def _appeared(path: Path) -> OutputError:
    return OutputError(
        f"{path} was created by another process while this result was made; it was kept and "
        "this result was not written (use --overwrite / overwrite=True to replace it)"
    )


def _flush(tmp: Path) -> None:
    """Push the written bytes to the disk (a full disk can also show here, on NFS)."""
    if tmp.is_dir():
        return
    handle = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _remove(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Defer SIGINT / SIGTERM / SIGHUP for the few system calls that move a result into place, so
    a signal lands before or after the move, never between the link and the clean-up."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    previous = mask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


def _file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
