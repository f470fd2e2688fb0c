"""After-Dynamo capture: judge the graph Dynamo hands the backend, as the backend compiles it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from compdebug.accuracy import check_accuracy
from compdebug.backends.spec import BackendSpec
from compdebug.capture.report import capture_settings, report_failure
from compdebug.capture.signature import target_for
from compdebug.errors import AccuracyError
from compdebug.minify import AccuracyFailure, CompileFailure, RuntimeFailure


def after_dynamo(spec: BackendSpec, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Compile `gm` with `spec`; on a compile error, a run-time error of one probe run on
    copies of the example inputs, or (with `repro_accuracy`) an accuracy mismatch, capture
    and minify the failure, then re-raise it."""
    settings = capture_settings()
    original = torch.fx.GraphModule(gm, copy.deepcopy(gm.graph))  # the backend may rewrite gm's graph
    inputs = list(example_inputs)

    def fail(failure: Any, error: BaseException) -> None:
        report_failure(original, inputs, failure, target_for(failure, error), error, "dynamo", settings)

    try:
        compiled = spec.compile(gm, example_inputs)
    except Exception as error:
        fail(CompileFailure(spec), error)
    try:
        compiled(*_clones(inputs))
    except Exception as error:
        fail(RuntimeFailure(spec), error)
    if settings["repro_accuracy"]:
        accuracy = {k.split(".")[1]: settings[k] for k in ("accuracy.strict", "accuracy.fp64_reference", "accuracy.tolerance")}
        ok, detail = check_accuracy(original, compiled, inputs, **accuracy)
        if not ok:
            try:
                raise AccuracyError(f"compiled result differs from eager: {detail}")
            except AccuracyError as error:
                fail(AccuracyFailure(spec, **accuracy), error)
    return compiled


def _clones(inputs: list[Any]) -> list[Any]:
    return [x.detach().clone().requires_grad_(x.requires_grad) if isinstance(x, torch.Tensor) else x for x in inputs]
