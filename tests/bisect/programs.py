"""The failures torch's own CompilerBisector tests use, as programs both bisectors can run.

Each `Program` has a function, its inputs, the bug (a context manager that
plants it), the compdebug failure check, and `breaks(compiled, fn, inputs)`
judging a torch.compile'd run the same way (for CompilerBisector's test function).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import torch

import compdebug
from compdebug.accuracy import check_accuracy

aten = torch.ops.aten


@attrs.frozen
class Program:
    name: str
    fn: Callable[..., Any]
    make_inputs: Callable[[], list[Any]]
    bug: Callable[[], contextlib.AbstractContextManager[Any]]
    failure: Callable[[], Any]  # called inside `bug()`: bug-injection settings are recorded then
    error: type[BaseException] | None = None  # the error the bug raises; None: an accuracy bug
    device: str = "cpu"

    def breaks(self, compiled: Callable[..., Any]) -> bool:
        """Whether a torch.compile'd run of `fn` shows this failure (and not another one)."""
        inputs = self.make_inputs()
        try:
            if self.error is None:
                ok, _ = check_accuracy(self.fn, compiled, inputs)
                return not ok
            compiled(*inputs)
        except Exception as error:  # a backend error is wrapped by Dynamo: look at the causes
            return self.error is not None and _caused_by(error, self.error)
        return False


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__ or getattr(error, "inner_exception", None) or error.__context__
    return False


def captured(fn: Callable[..., Any], inputs: list[Any]) -> tuple[torch.fx.GraphModule, list[Any]]:
    """The graph Dynamo hands a backend for `fn(*inputs)`, and its example inputs."""
    graphs: list[tuple[torch.fx.GraphModule, list[Any]]] = []

    def keep(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        graphs.append((gm, list(example_inputs)))
        return gm.forward

    torch._dynamo.reset()
    torch.compile(fn, backend=keep, fullgraph=True)(*inputs)
    torch._dynamo.reset()
    assert len(graphs) == 1
    return graphs[0]


# -- the bugs ----------------------------------------------------------------------
def _bad_hardswish(x: torch.Tensor) -> torch.Tensor:
    return x * 2  # hardswish is x * clamp(x + 3, 0, 6) / 6


def _raising_hardswish(x: torch.Tensor) -> torch.Tensor:
    raise compdebug.TestingOnlyCompileError("bad hardswish decomposition")


@contextlib.contextmanager
def bad_decomposition(decomposition: Callable[..., Any]) -> Iterator[None]:
    """Inductor's decomposition table (which aot_eager_decomp_partition uses too) with a wrong hardswish."""
    import torch._inductor.compile_fx as compile_fx

    original = compile_fx.select_decomp_table

    def table() -> dict[Any, Any]:
        return {**original(), aten.hardswish.default: decomposition}

    compile_fx.select_decomp_table = table
    try:
        yield
    finally:
        compile_fx.select_decomp_table = original


def relu_lowering_bug() -> contextlib.AbstractContextManager[Any]:
    """Inductor's own relu bug in its C++ code generation (as torch's test_bad_lowering, on CPU)."""
    return compdebug.config.patch({"inject.ops": {"relu": "accuracy"}, "inject.stage": "codegen"})


def injected(stage: str, op: str, kind: str) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    return lambda: compdebug.config.patch({"inject.ops": {op: kind}, "inject.stage": stage})


def _decomposed(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.silu(x) + torch.nn.functional.hardswish(x * 3)


def _lowered(x: torch.Tensor) -> torch.Tensor:
    return ((x * -1) - 0.01).relu()  # torch's test_bad_lowering


def _with_relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x.sin()) * 2


def _random(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(10) + x  # Inductor's own RNG, unless fallback_random


def _inductor(**settings: Any) -> Callable[[], Any]:
    return lambda: compdebug.AccuracyFailure("inductor")


PROGRAMS = {
    program.name: program
    for program in (
        Program("bad_decomposition", _decomposed, lambda: [torch.randn(16)],
                lambda: bad_decomposition(_bad_hardswish), lambda: compdebug.AccuracyFailure("inductor")),
        Program("bad_decomposition_error", _decomposed, lambda: [torch.randn(16)],
                lambda: bad_decomposition(_raising_hardswish), lambda: compdebug.CompileFailure("inductor"),
                error=compdebug.TestingOnlyCompileError),
        Program("bad_lowering", _lowered, lambda: [torch.rand(100)],
                relu_lowering_bug, lambda: compdebug.AccuracyFailure("inductor")),
        Program("eager", _with_relu, lambda: [torch.randn(16)],
                injected("dynamo", "relu", "accuracy"), lambda: compdebug.AccuracyFailure("inductor")),
        Program("aot_eager", _with_relu, lambda: [torch.randn(16)],
                injected("aot", "relu", "accuracy"), lambda: compdebug.AccuracyFailure("inductor")),
        Program("fallback_random", _random, lambda: [torch.randn(10)],
                injected("aot", "inductor_random", "compile_error"), lambda: compdebug.CompileFailure("inductor"),
                error=compdebug.TestingOnlyCompileError),
    )
}


def torch_bisect(program: Program) -> Any:
    """torch's CompilerBisector on `program` (it re-runs torch.compile of the function each step)."""
    from torch._inductor.compiler_bisector import CompilerBisector

    def passes() -> bool:
        torch._dynamo.reset()
        with program.bug():
            return not program.breaks(torch.compile(program.fn))

    return CompilerBisector.do_bisect(passes)


def our_bisect(program: Program) -> compdebug.BisectResult:
    gm, inputs = captured(program.fn, program.make_inputs())
    with program.bug():
        return compdebug.bisect(gm, inputs, program.failure())
