"""Minify or re-run a saved checkpoint (`python -m compdebug minify|run CHECKPOINT_DIR`)."""

from __future__ import annotations

import importlib
import logging
import os
import pathlib
from typing import Any

from compdebug.capture.checkpoint import META_FILE, Checkpoint, read_checkpoint, write_checkpoint
from compdebug.errors import CheckpointError, CompdebugError
from compdebug.minify import AccuracyFailure, CompileFailure, Minifier, RuntimeFailure
from compdebug.minify.oracles import as_oracle
from compdebug.repro.target import ReproTarget

log = logging.getLogger("compdebug.capture")


def capture_root(path: str | os.PathLike[str]) -> pathlib.Path:
    """The capture folder, given it or its checkpoint/ or best/ subfolder."""
    path = pathlib.Path(path)
    if path.name in ("checkpoint", "best") and (path / META_FILE).exists():
        return path.parent
    if (path / "checkpoint" / META_FILE).exists() or (path / "best" / META_FILE).exists():
        return path
    raise CheckpointError(
        f"{path} holds no compdebug checkpoint (no checkpoint/{META_FILE} or best/{META_FILE}). "
        "Pass the folder a capture wrote (see the 'checkpoint written to' line it printed)."
    )


def newest_checkpoint(root: pathlib.Path) -> Checkpoint:
    """The best-so-far checkpoint if one was written and is readable, else the original capture."""
    if (root / "best" / META_FILE).exists():
        try:
            return read_checkpoint(root / "best")
        except CompdebugError as problem:
            log.warning("best/ checkpoint unusable (%s); starting from the original capture", problem)
    return read_checkpoint(root / "checkpoint")


def oracle_for(target: ReproTarget) -> Any:
    """The failure check a checkpoint's target names."""
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
    module, qualname = target.predicate_path.split(":")
    predicate: Any = importlib.import_module(module)
    for part in qualname.split("."):
        predicate = getattr(predicate, part)
    return predicate


def minify_checkpoint(
    path: str | os.PathLike[str], *, isolate: bool = False, max_queries: int | None = None, offload_to_disk: bool = False
) -> pathlib.Path:
    """Resume minifying from the newest checkpoint under `path`; return the path of repro.py."""
    root = capture_root(path)
    start = newest_checkpoint(root)

    def save_best(gm: Any, inputs: list[Any]) -> None:
        write_checkpoint(root / "best", gm, inputs, start.target, start.stage)

    result = Minifier(
        start.graph_module,
        start.inputs,
        oracle_for(start.target),
        isolate=isolate or None,
        max_queries=max_queries,
        offload_to_disk=offload_to_disk or None,
        save_dir=str(root / "offload"),
        on_progress=save_best,
    ).minify()
    save_best(result.graph_module, result.inputs)
    return result.save(root)


def rerun_checkpoint(path: str | os.PathLike[str]) -> tuple[bool, str]:
    """Run the newest checkpoint once: (still fails the same way?, what happened)."""
    checkpoint = newest_checkpoint(capture_root(path))
    observed = as_oracle(oracle_for(checkpoint.target)).observe(checkpoint.graph_module, checkpoint.inputs)
    if observed is None:
        return False, "it ran without failing"
    target = checkpoint.target
    same_kind = observed.stage == target.kind or (target.kind == "predicate" and observed.stage == "predicate")
    same_error = target.error_type is None or observed.error_name == target.error_type
    detail = observed.describe()
    return same_kind and same_error, detail
