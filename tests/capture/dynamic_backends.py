"""Backends whose bug shows only when a graph is compiled with symbolic sizes.

A failure that needs dynamic shapes to reproduce: compiled with static sizes
these backends are correct. Repro scripts under test import this module by
name, so it imports torch only (never compdebug).
"""

from __future__ import annotations

from typing import Any

import torch


class DynamicOnlyError(RuntimeError):
    """Raised by `relu_error_when_dynamic`."""


def symbolic_sizes(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> bool:
    """Whether the compiler is handed symbolic sizes: SymInt inputs, or tensors whose sizes are SymInts."""
    values = [*example_inputs, *(n.meta.get("example_value", n.meta.get("val")) for n in gm.graph.nodes if n.op == "placeholder")]
    for value in values:
        if isinstance(value, torch.SymInt):
            return True
        if isinstance(value, torch.Tensor) and any(isinstance(s, torch.SymInt) for s in value.shape):
            return True
    return False


def _relus(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return [
        n for n in gm.graph.nodes
        if (n.op == "call_function" and n.target in (torch.relu, torch.nn.functional.relu, torch.ops.aten.relu.default))
        or (n.op == "call_method" and n.target == "relu")
    ]


def relu_error_when_dynamic(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    """Eager; but a graph with a relu, compiled with symbolic sizes, fails to compile."""
    if _relus(gm) and symbolic_sizes(gm, example_inputs):
        raise DynamicOnlyError("relu compiled with symbolic sizes")
    return gm.forward


def relu_off_by_one_when_dynamic(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    """Eager; but in a graph compiled with symbolic sizes, every relu computes relu + 1."""
    if symbolic_sizes(gm, example_inputs):
        for node in _relus(gm):
            with gm.graph.inserting_after(node):
                bumped = gm.graph.call_function(torch.add, (node, 1))
            node.replace_all_uses_with(bumped, delete_user_cb=lambda user: user is not bumped)
        gm.recompile()
    return gm.forward


def inductor_relu_error_when_dynamic(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    """Inductor, with its own relu code-generation bug (a C++/Triton compile error) only in graphs
    compiled with symbolic sizes."""
    import torch._inductor.config as inductor_config
    from torch._inductor.compile_fx import compile_fx

    bug = "compile_error" if symbolic_sizes(gm, example_inputs) else None
    with inductor_config.patch({"cpp.inject_relu_bug_TESTING_ONLY": bug, "triton.inject_relu_bug_TESTING_ONLY": bug}):
        return compile_fx(gm, example_inputs)


def view_relu_error_when_dynamic(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    """Eager; but a graph with a view and a relu, compiled with symbolic sizes, fails to compile."""
    views = [n for n in gm.graph.nodes if n.op in ("call_method", "call_function") and n.target in ("view", torch.ops.aten.view.default)]
    if views and _relus(gm) and symbolic_sizes(gm, example_inputs):
        raise DynamicOnlyError("view and relu compiled with symbolic sizes")
    return gm.forward


def _aot_relu_error_when_dynamic() -> Any:
    from torch._dynamo.backends.common import aot_autograd
    from torch._dynamo.backends.registry import _COMPILER_FNS, register_backend  # checked on torch 2.13

    backend = aot_autograd(fw_compiler=relu_error_when_dynamic)
    if "test_aot_relu_error_when_dynamic" not in _COMPILER_FNS:
        register_backend(compiler_fn=backend, name="test_aot_relu_error_when_dynamic")
    return backend


# an aot_autograd backend whose forward compiler is `relu_error_when_dynamic`: the bug is in
# the graphs after AOT Autograd, and only when they have symbolic sizes
aot_relu_error_when_dynamic = _aot_relu_error_when_dynamic()
