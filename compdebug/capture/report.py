"""What happens once a failure is caught: checkpoint first, then minify, then say where.

The original error is always re-raised, with a note naming the repro (or the
checkpoint, when minification is off or could not finish). A repro.py is
written only once the graph was seen failing the way the original did.
"""

from __future__ import annotations

import contextlib
import logging
import pathlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

import attrs
import torch

from compdebug._torch import plain_torch
from compdebug.accuracy import check_accuracy
from compdebug.backends.spec import BackendSpec
from compdebug.bisect.capture import bisect_then_minify
from compdebug.capture.checkpoint import new_repro_dir, writable_dir, write_checkpoint
from compdebug.capture.signature import target_for
from compdebug.config import config
from compdebug.errors import AccuracyError, CompdebugError, FailureChangedError
from compdebug.minify import AccuracyFailure, Minifier
from compdebug.minify.executor import make_executor
from compdebug.minify.oracles import Signature, as_oracle, describe_target, reproduces
from compdebug.minify.tensors import fresh_inputs
from compdebug.repro import save as save_repro
from compdebug.repro.target import ReproTarget

log = logging.getLogger("compdebug.capture")

# the keys that decide what a capture does, read when the graph was compiled
CAPTURE_KEYS = (
    "repro_accuracy",
    "repro_dir",
    "minify_on_failure",
    "bisect",
    "accuracy.fp64_reference",
    "accuracy.strict",
    "accuracy.tolerance",
    "minifier.offload_to_disk",
    "minifier.max_queries",
    "minifier.max_seconds",
    "minifier.isolate",
    "minifier.query_timeout",
)


def capture_settings() -> dict[str, Any]:
    """The capture keys as they are now (a compiled graph may fail after the patch has ended)."""
    values = config.to_dict()
    return {key: values[key] for key in CAPTURE_KEYS}


ACCURACY_KEYS = ("accuracy.strict", "accuracy.fp64_reference", "accuracy.tolerance")


def report_if_inaccurate(
    spec: BackendSpec,
    original: torch.fx.GraphModule,
    compiled: Callable[..., Any],
    inputs: list[Any],
    stage: str,
    settings: Mapping[str, Any],
) -> None:
    """Judge `compiled` (called as compiled(*inputs)) against eager; capture an accuracy failure."""
    accuracy = {key.split(".")[1]: settings[key] for key in ACCURACY_KEYS}
    ok, detail = check_accuracy(original, compiled, inputs, **accuracy)
    if ok:
        return
    failure = AccuracyFailure(spec, **accuracy)
    try:
        raise AccuracyError(f"compiled result differs from eager: {detail}")
    except AccuracyError as error:
        report_failure(original, inputs, failure, target_for(failure, error), error, stage, settings)


def report_failure(
    gm: torch.fx.GraphModule,
    inputs: list[Any],
    failure: Any,
    target: ReproTarget,
    error: BaseException,
    stage: str,
    settings: Mapping[str, Any],
) -> NoReturn:
    """Checkpoint the failing graph, minify it if asked, write repro.py, re-raise `error`.

    Must be called from inside the `except` block that caught `error`. A
    repro.py is written only once it was seen failing as `error` did; when that
    cannot be had, the line printed (and noted on `error`) says so and why.
    """
    try:
        with config.patch(dict(settings)), plain_torch():
            message = _checkpoint_and_minify(gm, inputs, failure, target, stage)
    except Exception as problem:  # compdebug's own trouble must never replace the user's error
        log.exception("compdebug could not save the captured failure")
        message = f"compdebug: could not save this failure ({type(problem).__name__}: {problem})"
    print(message, file=sys.stderr)
    if hasattr(error, "add_note"):
        error.add_note(message)
    raise error


def _checkpoint_and_minify(
    gm: torch.fx.GraphModule, inputs: list[Any], failure: Any, target: ReproTarget, stage: str
) -> str:
    """Write the checkpoint, then (if asked) the minified repro; the line that says where."""
    directory = writable_dir(_capture_dir())
    checkpoint = write_checkpoint(directory / "checkpoint", gm, inputs, target, stage, fallback=True)
    directory = checkpoint.parent  # where the checkpoint could go (a full disk sends it elsewhere)
    record = _record(CaptureRecord(folder=directory, checkpoint=checkpoint, stage=stage))
    log.warning(
        "%s failure of %s captured after %s; checkpoint in %s",
        target.kind,
        target.backend.label if target.backend else "the predicate",
        stage,
        checkpoint,
    )
    if not config.minify_on_failure:
        return f"compdebug: checkpoint of the failure written to {checkpoint} (minify it with: python -m compdebug minify {checkpoint})"
    record.repro, line = _minified_repro(gm, inputs, failure, target, directory, stage)
    return line


def _minified_repro(
    gm: torch.fx.GraphModule,
    inputs: list[Any],
    failure: Any,
    target: ReproTarget,
    directory: pathlib.Path,
    stage: str,
) -> tuple[pathlib.Path | None, str]:
    """Minify in this process; on trouble keep the checkpoint and write an unminified repro if it was
    seen failing as captured, else none. Returns (repro.py or None, the line that says what was written)."""

    def save_best(best_gm: torch.fx.GraphModule, best_inputs: list[Any], best_target: ReproTarget = target) -> None:
        write_checkpoint(directory / "best", best_gm, best_inputs, best_target, stage)

    try:
        if config.bisect:
            path = bisect_then_minify(gm, inputs, failure, target, directory, on_progress=save_best)
            return path, f"compdebug: repro written to {path}"
        minifier = Minifier(
            gm, inputs, failure, save_dir=str(directory / "offload"), on_progress=save_best, expect=target
        )
        path = _minify(minifier).save(directory)
        return path, f"compdebug: repro written to {path}"
    except FailureChangedError as problem:
        return None, _no_repro(directory, f"it does not fail the same way on its own: {problem}")
    except CompdebugError as problem:
        log.warning("could not minify the captured failure (%s); checking the unminified graph", problem)
        reason = f"could not minify it: {problem}"
    observed = _judge_once(failure, gm, inputs)
    if not reproduces(observed, target):
        return None, _no_repro(directory, f"{reason}; and compiled on its own with {failure.describe()} it gives: "
                         f"{'no failure' if observed is None else observed.describe()}")
    note = (
        f"Not minified ({reason}).\n"
        f"Checked when written: this graph failed as captured ({describe_target(target)[:200]})."
    )
    path = save_repro(directory, gm, inputs, target, random_inputs=False, note=note)
    return path, f"compdebug: unminified repro written to {path} ({reason})"


def _no_repro(directory: pathlib.Path, why: str) -> str:
    return (
        f"compdebug: checkpoint of the failure written to {directory / 'checkpoint'}, but no repro.py: {why}. "
        f"Re-check it with: python -m compdebug run {directory}"
    )


@torch.compiler.disable(recursive=True)
def _judge_once(failure: Any, gm: torch.fx.GraphModule, inputs: list[Any]) -> Signature | None:
    """How `gm` fails on copies of `inputs` by `failure`'s judgement, compiled once here."""
    return make_executor(False).evaluate(as_oracle(failure), gm, fresh_inputs(inputs))


@torch.compiler.disable(recursive=True)
def _minify(minifier: Minifier) -> Any:
    """Minify with Dynamo's frame hook off (candidates compile as from plain code)."""
    return minifier.minify()


# -- where captures go, for tools that run a whole program ---------------------------
# (python -m compdebug capture and the pytest plugin: they name the folders and list them)


@attrs.define
class CaptureRecord:
    """One capture made while `recording_captures` was active."""

    folder: pathlib.Path  # the capture folder: checkpoint/, best/, repro.py
    checkpoint: pathlib.Path
    stage: str  # "dynamo" or "aot"
    repro: pathlib.Path | None = None  # set once repro.py is written; None: the checkpoint only


@attrs.frozen
class _Recorder:
    records: list[CaptureRecord]
    folder: Callable[[], pathlib.Path] | None


_recorders: list[_Recorder] = []


@contextlib.contextmanager
def recording_captures(folder: Callable[[], pathlib.Path] | None = None) -> Iterator[list[CaptureRecord]]:
    """Inside, every capture is appended to the list yielded (as soon as its checkpoint is written).

    `folder`, if given, is called to name the folder of each capture whose `repro_dir`
    is None (instead of a fresh one under ./compdebug_repro/); an explicit
    `repro_dir` still wins. Recorders nest; the innermost `folder` names.
    """
    recorder = _Recorder([], folder)
    _recorders.append(recorder)
    try:
        yield recorder.records
    finally:
        _recorders.remove(recorder)


def _capture_dir() -> pathlib.Path:
    namers = [r.folder for r in _recorders if r.folder is not None]
    if config.repro_dir is None and namers:
        return namers[-1]()
    return new_repro_dir()


def _record(record: CaptureRecord) -> CaptureRecord:
    for recorder in _recorders:
        recorder.records.append(record)
    return record
