"""Backends and predicates that fail for real: segfault, abort, hang, memory, flakiness.

Importing this module registers the backends with torch.compile, so a spawned
worker (or a resumed run) that unpickles or imports one by its path has them too.
Each is eager on graphs without a relu.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import torch

from compdebug.backends.match import matches
from compdebug.errors import ReluCompileError


def has_op(gm: torch.fx.GraphModule, op: str) -> bool:
    modules = dict(gm.named_modules())
    return any(matches(node, op, modules) for node in gm.graph.nodes)


def segfault_at_relu(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Reads address 0 (a real SIGSEGV) while compiling a graph with a relu."""
    if has_op(gm, "relu"):
        ctypes.string_at(0)
    return gm.forward


def abort_at_relu(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Calls abort() (SIGABRT) while compiling a graph with a relu."""
    if has_op(gm, "relu"):
        os.abort()
    return gm.forward


def hang_at_relu(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Never finishes compiling a graph with a relu."""
    if has_op(gm, "relu"):
        time.sleep(3600)
    return gm.forward


def killed_at_relu(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Dies of SIGKILL, as under the kernel's out-of-memory killer, while compiling a graph with a relu."""
    if has_op(gm, "relu"):
        os.kill(os.getpid(), signal.SIGKILL)
    return gm.forward


def out_of_memory_at_relu(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Lowers this process's address-space limit (RLIMIT_AS) and allocates past it, for a graph with a relu.

    The limit is left lowered: whoever runs the query must put it back.
    """
    if has_op(gm, "relu"):
        import resource

        with open("/proc/self/statm") as statm:
            in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (in_use + (512 << 20), hard))
        torch.empty(8 << 30, dtype=torch.uint8)  # 8 GiB: more than the limit allows
    return gm.forward


def relu_error_cos_segfault(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """ReluCompileError for a graph with a relu; a segfault for one with a cos and no relu."""
    if has_op(gm, "relu"):
        raise ReluCompileError("relu_error_cos_segfault: graph has a relu")
    if has_op(gm, "cos"):
        ctypes.string_at(0)
    return gm.forward


def slow_relu_compile_error(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Takes 0.25 s per compile, then raises ReluCompileError for a graph with a relu."""
    time.sleep(0.25)
    if has_op(gm, "relu"):
        raise ReluCompileError("slow_relu_compile_error: graph has a relu")
    return gm.forward


BACKENDS = {
    "robust_segfault_at_relu": segfault_at_relu,
    "robust_abort_at_relu": abort_at_relu,
    "robust_hang_at_relu": hang_at_relu,
    "robust_killed_at_relu": killed_at_relu,
    "robust_out_of_memory_at_relu": out_of_memory_at_relu,
    "robust_relu_error_cos_segfault": relu_error_cos_segfault,
    "robust_slow_relu_compile_error": slow_relu_compile_error,
}


def _register() -> None:
    from torch._dynamo.backends.registry import _COMPILER_FNS, register_backend  # checked on torch 2.13

    for name, fn in BACKENDS.items():
        if name not in _COMPILER_FNS:
            register_backend(compiler_fn=fn, name=name)


_register()


# ----------------------------------------------------------------------------- predicates

_calls = {"alternating": 0, "every_third_lies": 0}


def alternating_relu(gm: torch.fx.GraphModule, inputs: list[Any]) -> bool:
    """Flaky: says a graph with a relu fails on odd calls only."""
    _calls["alternating"] += 1
    return has_op(gm, "relu") and _calls["alternating"] % 2 == 1


def every_third_lies_relu(gm: torch.fx.GraphModule, inputs: list[Any]) -> bool:
    """Flaky: whether the graph has a relu, except every third call answers the opposite."""
    _calls["every_third_lies"] += 1
    truth = has_op(gm, "relu")
    return (not truth) if _calls["every_third_lies"] % 3 == 0 else truth


def reset_calls() -> None:
    for key in _calls:
        _calls[key] = 0
