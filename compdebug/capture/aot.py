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

from compdebug import _torch
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
    """A real tensor with the metadata of a fake one (values random); other values as they are."""
    if not isinstance(value, torch.Tensor):
        return value
    size = [int(s) for s in value.size()]
    stride = [int(s) for s in value.stride()]
    real = _empty_laid_out(size, stride, int(value.storage_offset()), value.dtype, value.device)
    with torch.no_grad():
        if value.dtype.is_floating_point or value.dtype.is_complex:
            real.normal_()
        elif value.dtype == torch.bool:
            real.random_(0, 2)
        else:
            real.random_(0, 8)
    return real.requires_grad_(value.requires_grad)


def _empty_laid_out(
    size: list[int], stride: list[int], offset: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """An uninitialised tensor with this size, stride and storage offset (AOT hands such views over)."""
    if not offset:
        return torch.empty_strided(size, stride, dtype=dtype, device=device)
    span = 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
    return torch.empty(offset + span, dtype=dtype, device=device).as_strided(size, stride, offset)
