"""Capture with `bisect=True`: bisect first, minify with the cheapest backend that fails the same way.

`bisect_then_minify` is the whole step for capture's report: it bisects the
captured graph, minifies it with the first backend of torch's bisect list that
fails the same way (aot_eager_decomp_partition needs no Inductor compile),
confirms the final graph with the original backend, and writes repro.py with
the bisect report in its header and in the checkpoint's meta.json.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
from collections.abc import Callable
from typing import Any

import attrs
import torch

from compdebug.backends.inject import copy_graph_module
from compdebug.bisect.probe import swapped_backend
from compdebug.bisect.result import BisectResult
from compdebug.bisect.search import search
from compdebug.errors import CompdebugError
from compdebug.minify import Minifier, MinifyResult
from compdebug.minify.oracles import Oracle, Signature, as_oracle, reproduces
from compdebug.repro import save as save_repro
from compdebug.repro._files import atomic_write
from compdebug.repro.graph_files import META_FILE, read_meta
from compdebug.repro.target import ReproTarget

log = logging.getLogger("compdebug.bisect")

# (graph, inputs, the failure that graph is known to reproduce)
OnProgress = Callable[[torch.fx.GraphModule, list[Any], ReproTarget], None]


@torch.compiler.disable(recursive=True)  # candidates compile as from plain code, not inside Dynamo's frame hook
def bisect_then_minify(
    gm: torch.fx.GraphModule,
    inputs: list[Any],
    failure: Oracle,
    target: ReproTarget,
    directory: pathlib.Path,
    *,
    on_progress: OnProgress | None = None,
) -> pathlib.Path:
    """Bisect, minify cheaply, confirm, and write `directory`/repro.py; return its path.

    `failure` and `target` are the captured failure (its check and how it must
    reproduce); the checkpoint is `directory`/checkpoint. `on_progress(gm,
    inputs, target)` is called each time the best graph shrinks, with the
    failure that graph reproduces (the cheaper backend's while minifying with it).
    If bisecting fails, the graph is minified with `failure` as without bisect.
    """
    found = _bisect_or_none(gm, inputs, failure, target)
    if found is not None:
        record_bisect(directory / "checkpoint", found)
    cheap = _cheaper_failure(failure, found)
    result = None
    if cheap is not None:
        result = _minify_cheaply(gm, inputs, cheap, failure, target, directory, on_progress)
    if result is None:
        cheap, result = None, _minify(gm, inputs, failure, target, directory, on_progress)
    return save_repro(
        directory, result.graph_module, result.inputs, result.target,
        random_inputs=result.random_inputs, note="\n".join(header_lines(found, cheap, failure)) or None,
    )


def _minify_cheaply(
    gm: torch.fx.GraphModule,
    inputs: list[Any],
    cheap: Oracle,
    failure: Oracle,
    target: ReproTarget,
    directory: pathlib.Path,
    on_progress: OnProgress | None,
) -> MinifyResult | None:
    """Minify with `cheap`; the result if `failure` (the original backend) still fails the same way on it."""
    try:
        result = _minify(gm, inputs, cheap, target, directory, on_progress)
    except CompdebugError as problem:
        log.warning("could not minify with %s (%s); minifying with %s", cheap.describe(), problem, failure.describe())
        return None
    if not _confirmed(failure, result, target):
        log.warning(
            "the graph minified with %s does not fail the same way with %s; minifying again with the latter",
            cheap.describe(), failure.describe(),
        )
        return None
    # the result's own target names the cheaper backend; the repro must fail as the capture did
    # (with saved inputs: only the cheaper backend was seen failing on random ones)
    result = attrs.evolve(result, target=target, random_inputs=False)
    if on_progress is not None:
        on_progress(result.graph_module, result.inputs, target)
    return result


def header_lines(found: BisectResult | None, cheap: Oracle | None, failure: Oracle) -> list[str]:
    """The lines repro.py's header gets: the bisect answer, and how the graph was minified."""
    if found is None:
        return []
    lines = [f"Bisect (compdebug.bisect, named as torch's CompilerBisector names them): {found.summary()}"]
    if cheap is not None:
        lines.append(f"Minified with {cheap.describe()}; checked when written: it fails as captured with {failure.describe()}.")
    return lines


def record_bisect(checkpoint: pathlib.Path, found: BisectResult) -> None:
    """Add the bisect answer to `checkpoint`/meta.json as "bisect" (atomically; a failure to write is logged)."""
    path = checkpoint / META_FILE
    try:
        meta = read_meta(path)
        meta["bisect"] = found.to_dict()
        atomic_write(path, lambda tmp: pathlib.Path(tmp).write_text(json.dumps(meta, indent=2, default=repr)))
    except (CompdebugError, OSError) as problem:
        log.warning("could not record the bisect answer in %s: %s", path, problem)


def _bisect_or_none(
    gm: torch.fx.GraphModule, inputs: list[Any], failure: Oracle, target: ReproTarget
) -> BisectResult | None:
    """The bisect answer, or None (said in the log) if the failure cannot be bisected."""
    # an accuracy failure's signature is known without compiling; an error's is seen again by compiling
    known = Signature("accuracy") if target.kind == "accuracy" else None
    try:
        found, _ = search(gm, inputs, failure, signature=known)
    except CompdebugError as problem:
        log.warning("could not bisect the captured failure (%s); minifying with %s", problem, failure.describe())
        return None
    except KeyboardInterrupt:  # Ctrl-C skips the bisect, not the repro
        log.warning("bisect interrupted; minifying with %s", failure.describe())
        return None
    log.warning("%s", found)
    return found


def _cheaper_failure(failure: Oracle, found: BisectResult | None) -> Oracle | None:
    """`failure` checked with the bisect's backend, when that is another (cheaper) one than the original."""
    if found is None or found.backend is None or found.backend == failure.backend.name:  # type: ignore[attr-defined]
        return None
    return swapped_backend(failure, found.backend)


def _minify(
    gm: torch.fx.GraphModule,
    inputs: list[Any],
    failure: Oracle,
    target: ReproTarget,
    directory: pathlib.Path,
    on_progress: OnProgress | None,
) -> MinifyResult:
    """Minify with `failure`; the original graph must fail as `target` records (`FailureChangedError`)."""
    minifier: Minifier | None = None

    def progress(best_gm: torch.fx.GraphModule, best_inputs: list[Any]) -> None:
        if on_progress is not None and minifier is not None and minifier.target is not None:
            on_progress(best_gm, best_inputs, minifier.target)

    minifier = Minifier(
        gm, inputs, failure, save_dir=os.fspath(directory / "offload"), on_progress=progress, expect=target
    )
    return minifier.minify()


def _confirmed(failure: Oracle, result: MinifyResult, target: ReproTarget) -> bool:
    """Whether the minified graph fails with the original backend the way the captured graph did."""
    return reproduces(as_oracle(failure).observe(copy_graph_module(result.graph_module), result.inputs), target)
