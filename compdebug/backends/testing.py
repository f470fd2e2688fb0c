"""compdebug's testing backends: eager, except where a graph holds a relu (or a non-leaf input).

Registered with torch.compile by `install()`. The three relu backends are the
generic bug injection with one fixed bug, run like eager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from compdebug import _torch
from compdebug.backends.aot import compile_injected
from compdebug.errors import TestingOnlyCompileError


def _eager(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    return gm.forward


def _relu_backend(name: str, kind: str) -> Callable[..., Any]:
    """A backend that runs `gm` eagerly with the bug `kind` planted at every relu."""

    def backend(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        return compile_injected(_eager, gm, example_inputs, {"relu": kind}, "dynamo")

    backend.__name__ = backend.__qualname__ = name
    backend.__doc__ = f"Testing backend: eager, with an injected {kind.replace('_', ' ')} at every relu."
    return backend


compdebug_relu_compile_error = _relu_backend("compdebug_relu_compile_error", "compile_error")
compdebug_relu_runtime_error = _relu_backend("compdebug_relu_runtime_error", "runtime_error")
compdebug_relu_accuracy_error = _relu_backend("compdebug_relu_accuracy_error", "accuracy")


def compdebug_non_leaf_compile_error(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Testing backend: eager, but raises `TestingOnlyCompileError` when an example input is not a leaf.

    A graph without any call counts as passing, so a minifier cannot shrink the
    failure down to an empty graph (the same rule as torch's own testing backend).
    """
    if not any(node.op.startswith("call_") for node in gm.graph.nodes):
        return gm.forward
    for value in example_inputs:
        if isinstance(value, torch.Tensor) and not value.is_leaf:
            raise TestingOnlyCompileError("compdebug_non_leaf_compile_error: an example input is not a leaf tensor")
    return gm.forward


TESTING_BACKENDS = {
    fn.__name__: fn
    for fn in (
        compdebug_relu_compile_error,
        compdebug_relu_runtime_error,
        compdebug_relu_accuracy_error,
        compdebug_non_leaf_compile_error,
    )
}


def register_testing_backends() -> None:
    """Register the testing backends with torch.compile under their names (idempotent)."""
    registered = _torch.registered_functions()
    for name, fn in TESTING_BACKENDS.items():
        if name not in registered:
            _torch.register_backend(fn, name, tags=("debug",))
