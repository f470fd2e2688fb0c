"""After-Dynamo capture: judge the graph Dynamo hands the backend, as the backend compiles it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from compdebug import _torch, symbolic
from compdebug.backends.spec import BackendSpec
from compdebug.capture.report import capture_settings, report_failure, report_if_inaccurate
from compdebug.capture.signature import target_for
from compdebug.minify import CompileFailure, RuntimeFailure
from compdebug.minify.tensors import fresh_inputs


def after_dynamo(spec: BackendSpec, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Compile `gm` with `spec`; on a compile error, a run-time error of one probe run on
    copies of the example inputs, or (with `repro_accuracy`) an accuracy mismatch, capture
    and minify the failure, then re-raise it.

    With dynamic shapes the example inputs hold SymInts: the failure is captured with
    their values, and the graph's placeholders keep saying which inputs and dims were
    symbolic (`compdebug.symbolic`), so its checkpoint, candidates and repro are too.
    """
    settings = capture_settings()
    original = torch.fx.GraphModule(gm, copy.deepcopy(gm.graph))  # the backend may rewrite gm's graph
    inputs = symbolic.concrete_inputs(example_inputs)

    def fail(failure: Any, error: BaseException) -> None:
        report_failure(original, inputs, failure, target_for(failure, error), error, "dynamo", settings)

    try:
        compiled = spec.compile(gm, example_inputs)
    except Exception as error:
        if _torch.is_compile_restart(error):
            raise  # Dynamo traces again and calls the backend anew
        fail(CompileFailure(spec), error)
    try:
        compiled(*fresh_inputs(inputs))
    except Exception as error:
        fail(RuntimeFailure(spec), error)
    if settings["repro_accuracy"]:
        report_if_inaccurate(spec, original, compiled, inputs, "dynamo", settings)
    return compiled
