"""Oracle queries on the seed graph: compdebug's Minifier vs torch's fx_minifier, same predicate.

The seed graph is test_if_graph_minified's (20 sin, a relu, 20 cos, after Dynamo);
the predicate compiles with compdebug_relu_compile_error and says whether it
raised ReluCompileError. Both minifiers get the very same counting predicate.

    python benchmarks/seed_queries.py
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Sequence
from typing import Any

import torch

import compdebug
from compdebug.backends.spec import resolve_backend
from compdebug.errors import ReluCompileError


def seed_graph() -> tuple[torch.fx.GraphModule, list[torch.Tensor]]:
    """The graph Dynamo hands the backend for the seed program, and its example inputs."""
    captured = []

    def grab(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        captured.append((gm, list(example_inputs)))
        return gm.forward

    @torch.compile(backend=grab)
    def inner(x: torch.Tensor) -> torch.Tensor:
        for _ in range(20):
            x = torch.sin(x)
        x = torch.relu(x)
        for _ in range(20):
            x = torch.cos(x)
        return x

    inner(torch.randn(20, 20))
    return captured[0]


class CountingPredicate:
    """(gm, inputs) -> True when compiling raises ReluCompileError; counts its calls."""

    def __init__(self) -> None:
        self.backend = resolve_backend("compdebug_relu_compile_error")
        self.calls = 0

    def __call__(self, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> bool:
        self.calls += 1
        try:
            self.backend.compile(gm, list(inputs))
        except ReluCompileError:
            return True
        return False


def torch_queries(gm: torch.fx.GraphModule, inputs: list[Any]) -> tuple[int, str]:
    from torch._functorch.fx_minifier import minifier  # checked on torch 2.13 (CPU) and 2.11 (GPU)

    fails = CountingPredicate()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        small, _ = minifier(gm, inputs, fails, dump_state=lambda *_: None)
    return fails.calls, small.code


def compdebug_queries(gm: torch.fx.GraphModule, inputs: list[Any]) -> tuple[int, str]:
    fails = CountingPredicate()
    result = compdebug.Minifier(gm, inputs, fails, progress=False).minify()
    assert result.queries == fails.calls
    return fails.calls, result.graph_module.code


def main() -> int:
    gm, inputs = seed_graph()
    ours, our_code = compdebug_queries(gm, inputs)
    theirs, their_code = torch_queries(gm, inputs)
    print(f"seed graph: {len(gm.graph.nodes)} nodes")
    print(f"compdebug Minifier: {ours} queries")
    print(f"torch fx_minifier:  {theirs} queries")
    print(f"ratio: {ours / theirs:.2f}")
    same = our_code.strip() == their_code.strip()
    print("same minimal graph" if same else f"graphs differ:\n{our_code}\n---\n{their_code}")
    return 0 if ours * 2 <= theirs and same else 1


if __name__ == "__main__":
    sys.exit(main())
