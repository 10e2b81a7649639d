"""Atomic file writes: a fresh temporary file beside the target, fsynced, then renamed."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` on a fresh file beside ``path``, fsync it, then rename it to ``path``.

    On any failure (an exception or an interrupt) the temporary file is removed and an
    existing file at ``path`` is left as it was.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        Naming the folder (not the temporary file) when ``path``'s folder is missing or a file.
    IsADirectoryError
        If ``path`` is a directory.
    """
    directory = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory")
    if not directory.is_dir():  # name the folder, not the temporary file that cannot be made
        missing = not directory.exists()
        what = f"folder {directory} does not exist" if missing else f"{directory} is not a folder"
        kind = FileNotFoundError if missing else NotADirectoryError
        raise kind(errno.ENOENT if missing else errno.ENOTDIR, what, str(path))
    tmp = directory / f".{path.name[:200]}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide, as open() does.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    os.close(os.open(tmp, flags, 0o666))
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows opening a directory (POSIX)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
