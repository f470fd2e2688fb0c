"""Atomic file writes and fresh folders, with the permissions the umask gives.

A reader sees the old file or the new one, never half of one. Unlike
`tempfile`'s 0600 files and 0700 folders, what is written here is readable
as the umask allows (CI artifacts, colleagues).
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Callable

_ATTEMPTS = 100


def atomic_write(path: pathlib.Path, write: Callable[[str], None]) -> None:
    """Call `write(temporary_path)`, then move the result onto `path` in one step."""
    tmp = _fresh_file(path.parent, f".{path.name}.", ".tmp")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fresh_dir(parent: str | os.PathLike[str], prefix: str) -> pathlib.Path:
    """A new, empty folder `parent/prefix<random>` (mode 0777 less the umask)."""
    parent = pathlib.Path(parent)
    for _ in range(_ATTEMPTS):
        candidate = parent / f"{prefix}{uuid.uuid4().hex[:12]}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free name for a folder {prefix}* in {parent}")


def _fresh_file(parent: pathlib.Path, prefix: str, suffix: str) -> pathlib.Path:
    """A new, empty file (mode 0666 less the umask), created exclusively."""
    for _ in range(_ATTEMPTS):
        candidate = parent / f"{prefix}{uuid.uuid4().hex[:12]}{suffix}"
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free name for a file {prefix}*{suffix} in {parent}")
