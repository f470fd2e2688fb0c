"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable


def atomic_write(path: pathlib.Path, write: Callable[[str], None]) -> None:
    """Call `write(temporary_path)`, then move the result onto `path` in one step."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
