"""After-AOT capture: judge each graph AOT Autograd hands the backend's inner compiler.

Forward and backward graphs both pass through here. They are compiled with fake
inputs, so a compile error is captured with random inputs of the same layout;
run-time and accuracy failures are captured on the first call, with real inputs.
Each captured graph keeps how the inner compiler got it (`InnerCall`), so the
minifier and repro.py compile it the same way, with no second AOT pass.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import attrs
import torch

from compdebug import _torch, symbolic
from compdebug._torch import plain_torch
from compdebug.backends.aot import Role, as_inner_compiler_sees, inner_call
from compdebug.backends.spec import BackendSpec
from compdebug.capture.report import capture_settings, report_failure, report_if_inaccurate
from compdebug.capture.signature import target_for
from compdebug.minify import CompileFailure, RuntimeFailure


def after_aot(spec: BackendSpec, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Compile a Dynamo graph with `spec`, capturing failures of its post-AOT graphs."""
    return spec.compile(gm, example_inputs, wrap_inner=functools.partial(_capturing_inner, spec, capture_settings()))


def _capturing_inner(
    spec: BackendSpec, settings: dict[str, Any], inner_compile: Callable[..., Any], role: Role | None
) -> Callable[..., Any]:
    @functools.wraps(inner_compile)
    def compile_captured(gm: torch.fx.GraphModule, example_inputs: list[Any], *args: Any, **kwargs: Any) -> Any:
        # the spec of this one graph: compiled again by the inner compiler, as it is now
        graph_spec = attrs.evolve(spec, inner=inner_call(gm, role, kwargs))
        original = as_inner_compiler_sees(graph_spec, torch.fx.GraphModule(gm, copy.deepcopy(gm.graph)), example_inputs)
        try:
            compiled = inner_compile(gm, example_inputs, *args, **kwargs)
        except Exception as error:
            if _torch.is_compile_restart(error):
                raise  # Dynamo's signal to trace again, not a failure
            failure = CompileFailure(graph_spec)
            with plain_torch():  # example inputs are fake here: make real ones like them
                inputs = [_real_like(x) for x in example_inputs]
            report_failure(original, inputs, failure, target_for(failure, error), error, "aot", settings)
        return _checked_on_first_call(graph_spec, settings, original, compiled)

    return compile_captured


def _checked_on_first_call(
    spec: BackendSpec, settings: dict[str, Any], original: torch.fx.GraphModule, compiled: Any
) -> Callable[[list[Any]], Any]:
    """A boxed callable (takes the list of inputs) that judges the first real call."""
    checked = False

    def run(args: list[Any]) -> Any:
        nonlocal checked
        if checked:
            return compiled(args)
        checked = True
        inputs = list(args)  # the compiled code may clear `args`
        if settings["repro_accuracy"]:
            report_if_inaccurate(spec, original, lambda *a: compiled(list(a)), inputs, "aot", settings)
        try:
            return compiled(args)
        except Exception as error:
            failure = RuntimeFailure(spec)
            report_failure(original, inputs, failure, target_for(failure, error), error, "aot", settings)

    return _torch.mark_boxed(run)


def _real_like(value: Any) -> Any:
    """A real value for an example input of the inner compiler: a fake tensor as a real one of its
    hinted sizes, strides and storage offset (random values), a SymInt as its hint; others as they are.

    Which dims were symbolic stays on the graph's placeholders (`compdebug.symbolic`).
    """
    return symbolic.concrete(value)
