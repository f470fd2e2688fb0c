"""pytest --compdebug-after=dynamo|aot: one capture folder per failing test, listed in the summary.

Loaded by the `compdebug` entry point (compdebug_pytest.py) only when a --compdebug-*
option is given. Capture is on for the whole session; each capture made while a test
runs goes to DIR/<test id made safe for a file name>/; the folders of tests that end up
passing (they caught the failure themselves) are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import re
import shutil
from typing import Any

from compdebug.capture.checkpoint import fresh_capture_dir
from compdebug.capture.report import CaptureRecord, recording_captures
from compdebug.config import config

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 120


def folder_name(test_id: str) -> str:
    """`test_id` as a file name: `tests/test_x.py::test_y[a b]` -> `tests_test_x.py__test_y_a_b`."""
    name = _UNSAFE.sub("_", test_id.replace("::", "__")).strip("._") or "test"
    if len(name) > _MAX_NAME:
        name = f"{name[:_MAX_NAME - 9]}-{_digest(test_id)}"
    return name


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


class CompdebugPlugin:
    """Capture on for the session; captures named after, and kept for, the tests that fail."""

    name = "compdebug-capture"

    def __init__(self, *, after: str, directory: pathlib.Path, accuracy: bool) -> None:
        self.directory = directory
        self._session = contextlib.ExitStack()
        self._session.enter_context(config.patch(repro_after=after, repro_accuracy=accuracy))
        self._records: list[CaptureRecord] = self._session.enter_context(recording_captures(self._folder))
        self._test: str | None = None  # the test running now
        self._first = 0  # index in _records of its first capture
        self._failed: set[str] = set()
        self._captures_of: dict[str, int] = {}  # test id -> captures named for it this session
        self._names: dict[str, str] = {}  # folder name -> the test id it was given to
        self._named: set[pathlib.Path] = set()  # folders this plugin chose (only those are ever removed)
        self._named_now: list[pathlib.Path] = []  # those chosen for the test running now
        self.kept: list[tuple[str, CaptureRecord]] = []  # (test id, or "" outside any test; its capture)
        self.removed = 0  # passing tests whose captures were removed

    # -- naming ------------------------------------------------------------
    def _folder(self) -> pathlib.Path:
        """The folder of the capture starting now: the test's own, then capture-N inside it."""
        if self._test is None:  # at collection time, say
            folder = fresh_capture_dir(self.directory)
        else:
            count = self._captures_of[self._test] = self._captures_of.get(self._test, 0) + 1
            folder = self.directory / self._unique_name(self._test)
            if count == 1:
                _clear_earlier_capture(folder)
            else:
                folder = folder / f"capture-{count}"
        self._named.add(folder)
        self._named_now.append(folder)
        return folder

    def _unique_name(self, test_id: str) -> str:
        name = folder_name(test_id)
        if self._names.setdefault(name, test_id) != test_id:  # two ids made the same name
            name = f"{name[:_MAX_NAME - 9]}-{_digest(test_id)}"
            self._names[name] = test_id
        return name

    # -- following the tests -------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._keep_outside_captures()
        self._test, self._first, self._named_now = nodeid, len(self._records), []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed or (report.skipped and hasattr(report, "wasxfail")):
            self._failed.add(report.nodeid)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        made = self._records[self._first :]
        self._test, self._first = None, len(self._records)
        self._remove_unused_folders(made)
        if nodeid in self._failed:
            self.kept += [(nodeid, record) for record in made]
            return
        ours = [record.folder for record in made if record.folder in self._named]
        for folder in ours:
            shutil.rmtree(folder, ignore_errors=True)
        self.removed += bool(ours)

    def _remove_unused_folders(self, made: list[CaptureRecord]) -> None:
        """Folders named for captures that could not be saved there (the error's note says why)."""
        used = {record.folder for record in made}
        for folder in self._named_now:
            if folder not in used and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def _keep_outside_captures(self) -> None:
        self.kept += [("", record) for record in self._records[self._first :]]
        self._first = len(self._records)

    # -- reporting -----------------------------------------------------------
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self._keep_outside_captures()
        if not self.kept and not self.removed:
            return
        terminalreporter.write_sep("=", "compdebug captures")
        for test_id, record in self.kept:
            where = _shown(record.repro) if record.repro is not None else (
                f"{_shown(record.folder)} (checkpoint only; finish with: python -m compdebug minify {_shown(record.folder)})"
            )
            terminalreporter.write_line(f"{test_id or '(outside any test)'} -> {where}")
        if self.removed:
            terminalreporter.write_line(
                f"({self.removed} passing test(s) caught a compile failure themselves; their captures were removed)"
            )

    def pytest_unconfigure(self) -> None:
        self._session.close()


def _clear_earlier_capture(folder: pathlib.Path) -> None:
    """Remove a capture folder an earlier run left for this test, so old and new never mix."""
    if (folder / "checkpoint").is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def _shown(path: pathlib.Path) -> str:
    """`path` relative to the current folder when it lies inside it, else absolute."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative
