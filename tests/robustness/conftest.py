"""Fixtures of the robustness tests: a process that must come out of each test as it went in."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import pathlib
import tempfile

import pytest
import torch

import compdebug

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def untouched(tmp_path, monkeypatch):
    """Temporary files go to a folder of their own; afterwards it must be empty, config as it was,
    and no worker process left running."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    before = compdebug.config.to_dict()
    yield temp
    assert compdebug.config.to_dict() == before, "config changed"
    assert sorted(p.name for p in temp.iterdir()) == [], "temporary files left behind"
    assert multiprocessing.active_children() == [], "a worker process is still running"


@pytest.fixture
def child_env():
    """Environment for child Python processes: the repository importable (tests.robustness.faults)."""
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def fill_disk(monkeypatch, folder, *, room=0):
    """Make file writes under `folder` fail with ENOSPC ("No space left on device"), as on a full disk.

    Covers the ways compdebug writes files: Path.write_text/write_bytes and torch.save.
    With `room` (bytes), text and byte writes up to that size still succeed (a
    nearly full disk: a small probe passes, tensor files do not).
    """
    folder = str(folder)

    def full(path, size=None):
        if os.path.abspath(str(path)).startswith(folder) and (size is None or size > room):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def guarded(write):
        def write_unless_full(self, data, *args, **kwargs):
            full(self, len(data))
            return write(self, data, *args, **kwargs)

        return write_unless_full

    save = torch.save

    def save_unless_full(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            full(f)
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", guarded(pathlib.Path.write_text))
    monkeypatch.setattr(pathlib.Path, "write_bytes", guarded(pathlib.Path.write_bytes))
    monkeypatch.setattr(torch, "save", save_unless_full)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@pytest.fixture
def logs():
    """What compdebug logs during the test (caplog is off under -p no:logging): `.messages()`."""
    handler = _Records()
    logger = logging.getLogger("compdebug")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
