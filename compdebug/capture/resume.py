"""Minify or re-run a saved checkpoint (`python -m compdebug minify|run CHECKPOINT_DIR`).

Minifying resumes from the newest readable `best/` checkpoint; crashes and hangs
(targets found with isolate=True) are always re-run in a child process.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Any

from compdebug.backends.types import load_by_path
from compdebug.repro.graph_files import GRAPH_FILE, META_FILE
from compdebug.capture.checkpoint import (
    Checkpoint,
    read_checkpoint,
    recover_interrupted,
    writable_dir,
    write_checkpoint,
)
from compdebug.errors import CheckpointError, CompdebugError
from compdebug.minify import AccuracyFailure, CompileFailure, Minifier, RuntimeFailure
from compdebug.minify.executor import make_executor
from compdebug.minify.isolate import HARD_STAGES
from compdebug.minify.oracles import as_oracle, reproduces
from compdebug.repro.target import ReproTarget

log = logging.getLogger("compdebug.capture")


def capture_root(path: str | os.PathLike[str]) -> pathlib.Path:
    """The capture folder, given it or its checkpoint/ or best/ subfolder."""
    path = pathlib.Path(path)
    if not path.exists() and not _interrupted_replacement(path):
        raise CheckpointError(
            f"{path} does not exist. Pass the folder a capture wrote: the folder of the repro.py named in the "
            "'compdebug: repro written to ...' line it printed (or the checkpoint named in its "
            "'compdebug: checkpoint of the failure written to ...' line)."
        )
    if path.name in ("checkpoint", "best"):
        recover_interrupted(path)
        if (path / META_FILE).exists():
            return path.parent
        if (path / GRAPH_FILE).exists():
            raise CheckpointError(
                f"{path / META_FILE} is missing: the checkpoint in {path} is damaged. Pass the capture folder "
                f"{path.parent} (its other checkpoint may be whole), or capture the failure again."
            )
    for name in ("best", "checkpoint"):
        recover_interrupted(path / name)
    if (path / "checkpoint" / META_FILE).exists() or (path / "best" / META_FILE).exists():
        return path
    raise CheckpointError(
        f"{path} holds no compdebug checkpoint (no checkpoint/{META_FILE} or best/{META_FILE}). "
        "Pass the folder a capture wrote: the folder of the repro.py named in the 'compdebug: repro written to "
        "...' line it printed (or the checkpoint named in its 'compdebug: checkpoint of the failure written "
        "to ...' line)."
    )


def _interrupted_replacement(path: pathlib.Path) -> bool:
    """Whether `path` is a checkpoint/ or best/ folder missing only because its replacement was killed."""
    return path.name in ("checkpoint", "best") and any(path.parent.glob(f".{path.name}-old-*"))


def newest_checkpoint(root: pathlib.Path) -> Checkpoint:
    """The best-so-far checkpoint if one was written and is readable, else the original capture."""
    recover_interrupted(root / "best")
    if (root / "best" / META_FILE).exists():
        try:
            return read_checkpoint(root / "best")
        except CompdebugError as problem:
            if not (root / "checkpoint" / META_FILE).exists():
                raise
            log.warning("best/ checkpoint unusable (%s); starting from the original capture", problem)
    return read_checkpoint(root / "checkpoint")


def oracle_for(target: ReproTarget) -> Any:
    """The failure check a checkpoint's target names.

    A crash or a hang is checked by compiling and running (or by the
    predicate); the minifier recognises the crash itself, in a child process.
    """
    if target.kind in HARD_STAGES and target.predicate_path is None:
        return RuntimeFailure(target.backend)
    if target.kind == "compile":
        return CompileFailure(target.backend)
    if target.kind == "runtime":
        return RuntimeFailure(target.backend)
    if target.kind == "accuracy":
        return AccuracyFailure(
            target.backend, strict=target.strict, fp64_reference=target.fp64_reference, tolerance=target.tolerance
        )
    if target.predicate_path is None:
        raise CheckpointError("the checkpoint's failure is a predicate that cannot be imported; it cannot be re-run")
    return load_by_path(target.predicate_path)


def minify_checkpoint(
    path: str | os.PathLike[str],
    *,
    isolate: bool = False,
    max_queries: int | None = None,
    offload_to_disk: bool = False,
    query_timeout: float | None = None,
    flaky: str | None = None,
) -> pathlib.Path:
    """Resume minifying from the newest checkpoint under `path`; return the path of repro.py.

    `best/` is updated (atomically) each time the graph shrinks, so a run that
    is killed can be resumed again. A crash or hang is minified in a child
    process whatever `isolate` says. When the capture folder cannot be written,
    everything goes to a fresh temporary folder, named in the log.
    """
    root = capture_root(path)
    start = newest_checkpoint(root)
    isolate, query_timeout = _hard_failure_settings(start.target, isolate, query_timeout)
    out = writable_dir(root)
    minifier: Minifier | None = None

    def save_best(gm: Any, inputs: list[Any]) -> None:
        target = getattr(minifier, "target", None) or start.target
        write_checkpoint(out / "best", gm, inputs, target, start.stage)

    minifier = Minifier(
        start.graph_module,
        start.inputs,
        oracle_for(start.target),
        isolate=isolate or None,
        max_queries=max_queries,
        offload_to_disk=offload_to_disk or None,
        save_dir=str(out / "offload"),
        on_progress=save_best,
        query_timeout=query_timeout,
        flaky=flaky,
        expect=start.target,  # the failure recorded, not whatever the graph does now
    )
    result = minifier.minify()
    write_checkpoint(out / "best", result.graph_module, result.inputs, result.target, start.stage)
    return result.save(out)


def rerun_checkpoint(path: str | os.PathLike[str], *, query_timeout: float | None = None) -> tuple[bool, str]:
    """Run the newest checkpoint once: (still fails the same way?, what happened).

    A crash or hang is re-run in a child process, so it cannot take this one down.
    """
    checkpoint = newest_checkpoint(capture_root(path))
    target = checkpoint.target
    isolate, query_timeout = _hard_failure_settings(target, False, query_timeout)
    executor = make_executor(isolate, query_timeout)
    try:
        observed = executor.evaluate(as_oracle(oracle_for(target)), checkpoint.graph_module, checkpoint.inputs)
    finally:
        executor.close()
    if observed is None:
        return False, "it ran without failing"
    return reproduces(observed, target), observed.describe()


def _hard_failure_settings(
    target: ReproTarget, isolate: bool, query_timeout: float | None
) -> tuple[bool, float | None]:
    """(isolate, query_timeout) for re-running `target`: a crash or hang runs isolated, with its time limit."""
    if target.kind not in HARD_STAGES:
        return isolate, query_timeout
    if not isolate:
        log.info("the checkpoint's failure is a %s (%s): running it in a child process", target.kind, target.error_type)
    if query_timeout is None and target.timeout_s is not None:
        query_timeout = target.timeout_s
    return True, query_timeout
