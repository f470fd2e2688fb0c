"""Compile an after-Dynamo graph with symbolic inputs as Dynamo handed it over: through Dynamo again.

A backend compiles a dynamic-shape graph under Dynamo's fake mode, where the
inputs' symbolic dims are SymInts. Given the graph and real inputs (a candidate
of the minifier, a checkpoint), only Dynamo can make that again: the graph is
traced by `torch.compile` with its symbolic dims marked dynamic, its symbolic
int inputs read off those sizes (`compdebug.symbolic.DynamoCall`), exactly as
repro.py does, and the backend compiles what Dynamo hands it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from compdebug import _torch, symbolic

CompileGraph = Callable[[torch.fx.GraphModule, list[Any]], Callable[..., Any]]


class _Primed(Exception):
    """Raised by the compiled code on the call that only makes Dynamo compile."""


def needs_dynamo(gm: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> bool:
    """Whether `gm` is a Dynamo graph that was traced with symbolic inputs, now given real ones
    outside any Dynamo compile (so compiling it directly would make every size static)."""
    if _torch.dynamo_compiling():
        return False
    if any(isinstance(x, _torch.SYMBOLIC_TYPES) or _torch.is_fake_tensor(x) for x in example_inputs):
        return False
    return symbolic.traced_by_dynamo(gm) and symbolic.is_symbolic(gm)


def compile_through_dynamo(compile_graph: CompileGraph, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """Compile `gm` with `compile_graph` as Dynamo would hand it over, its inputs symbolic as recorded.

    Compiles now (an error of `compile_graph` is raised as it was raised, not
    wrapped by Dynamo) and returns the compiled callable, which takes `gm`'s
    arguments and marks the recorded dims dynamic on each call.
    """
    state: dict[str, Any] = {"priming": True, "error": None}

    def backend(traced: torch.fx.GraphModule, traced_inputs: list[Any]) -> Callable[..., Any]:
        state["error"] = None
        try:
            compiled = compile_graph(traced, traced_inputs)
        except Exception as error:
            if not _torch.is_compile_restart(error):  # a restart: Dynamo traces again and calls back
                state["error"] = error
            raise

        def run(*args: Any) -> Any:
            if state["priming"]:
                raise _Primed
            return compiled(*args)

        return run

    call = symbolic.dynamo_call(symbolic.describe_graph(gm), example_inputs)
    compiled_fn = call.function(gm, backend)  # the very lines repro.py runs
    try:
        compiled_fn(*example_inputs)
    except _Primed:
        pass
    except Exception:
        if state["error"] is not None:
            raise state["error"] from None
        raise
    finally:
        state["priming"] = False
    return compiled_fn
