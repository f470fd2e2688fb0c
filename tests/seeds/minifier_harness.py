"""The seeds' `_run_full_test`, against compdebug: run a failing program in this process
with capture on, check the repro was written, then run the repro in a child process and
check it fails with the expected error."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import textwrap
from typing import Any

import attrs
import torch

import compdebug


@attrs.frozen
class FullTestResult:
    repro_dir: pathlib.Path
    repro_path: pathlib.Path
    error: BaseException | None
    child: subprocess.CompletedProcess

    def repro_text(self) -> str:
        return self.repro_path.read_text()

    def repro_module(self) -> str:
        """The `class Repro` block of repro.py, as the seeds compare it."""
        text = self.repro_text()
        start = text.index("class Repro(torch.nn.Module):")
        lines = text[start:].splitlines()
        end = next(i for i, line in enumerate(lines) if line.strip().startswith("return") and line.startswith("        "))
        return "\n".join(lines[: end + 1])


def run_full_test(
    run_code: str, repro_after: str, expected_error: str | None, tmp_path: pathlib.Path, **settings: Any
) -> FullTestResult | None:
    """Run `run_code` with capture after `repro_after`; `expected_error=None` means it must not fail."""
    repro_dir = tmp_path / "repro"
    patch = {"repro_after": repro_after, "repro_dir": str(repro_dir), **settings}
    if expected_error == "AccuracyError":
        patch["repro_accuracy"] = True
    error = None
    torch._dynamo.reset()
    torch.manual_seed(0)  # the seeds' programs draw their inputs with torch.randn
    with compdebug.config.patch(patch):
        try:
            exec(textwrap.dedent(run_code), {"torch": torch, "__name__": "__main__"})  # an importable module name: Dynamo looks it up
        except Exception as caught:
            error = caught
    torch._dynamo.reset()
    if expected_error is None:
        assert error is None, f"expected no failure, got {error!r}"
        assert not (repro_dir / "repro.py").exists()
        return None
    assert error is not None, f"the program did not fail (expected {expected_error})"
    assert expected_error in _chain_text(error), f"expected {expected_error}, got:\n{_chain_text(error)}"
    repro_path = repro_dir / "repro.py"
    assert repro_path.exists(), f"no repro.py in {repro_dir}: {sorted(p.name for p in repro_dir.iterdir())}"
    assert (repro_dir / "checkpoint" / "meta.json").exists(), "the checkpoint was not written"
    assert str(repro_path) in _chain_notes(error), "no error in the chain has a note naming the repro"
    child = subprocess.run([sys.executable, str(repro_path)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert child.returncode != 0, f"repro.py exited 0:\n{child.stdout}\n{child.stderr}"
    assert expected_error in child.stderr, f"repro.py failed without {expected_error}:\n{child.stderr[-4000:]}"
    return FullTestResult(repro_dir, repro_path, error, child)


def _chain_text(error: BaseException) -> str:
    """Type names and messages of an exception and everything it chains to."""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def _chain_notes(error: BaseException) -> str:
    """The notes of an exception and of everything it chains to (Dynamo wraps backend errors)."""
    notes = []
    while error is not None:
        notes += getattr(error, "__notes__", [])
        error = error.__cause__ or error.__context__
    return "\n".join(notes)


def node_count_of(text: str) -> int:
    return len(re.findall(r"^\s+\w+ = torch\.", text, re.M))
