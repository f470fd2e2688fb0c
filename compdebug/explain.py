"""ExplainWithBackend: a backend wrapper that records what Dynamo hands a backend.

It keeps every graph, times every compile, gathers the graph-break reasons and
summarizes them (`ExplainOutput`), then compiles with the wrapped backend.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import attrs
import torch

from compdebug import _torch
from compdebug.backends.spec import BackendSpec, CompilerFn, resolve_backend


@attrs.frozen
class BreakReason:
    """Why Dynamo ended a graph early: the reason text and the user frames, outermost first."""

    reason: str
    user_stack: list[traceback.FrameSummary]
    graph_index: int  # 0-based index in `ExplainOutput.graphs` of the graph this break ended

    @property
    def location(self) -> str:
        """The innermost user frame as `file:line in function` ("<unknown>" without a stack)."""
        return _frame_text(self.user_stack[-1]) if self.user_stack else "<unknown>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "user_stack": [_frame_dict(frame) for frame in self.user_stack],
            "graph_index": self.graph_index,
        }


@attrs.frozen
class BreakSummary:
    """Break reasons with the same text at the same innermost user frame, counted once."""

    reason: str
    location: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class ExplainOutput:
    """What `ExplainWithBackend.output()` returns.

    `graph_break_count` counts every graph but the first of each call into a
    compiled function: for one call it is `graph_count - 1`, as torch's
    ExplainWithBackend counts, nested frames included; a second compiled
    function, or a recompile of the called function, starts a call of its own
    and adds no break. `op_count` counts function calls (call_function nodes),
    as torch does; `ops_per_graph` names method and module calls too.
    `break_reasons` lists the breaks that ended a graph.
    """

    graphs: list[torch.fx.GraphModule]
    graph_count: int
    graph_break_count: int
    op_count: int
    break_reasons: list[BreakReason]
    ops_per_graph: list[list[str]]
    compile_times: list[float]
    break_summary: list[BreakSummary]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: graphs as their Python code, frames as plain dicts."""
        return {
            "graph_count": self.graph_count,
            "graph_break_count": self.graph_break_count,
            "op_count": self.op_count,
            "break_reasons": [reason.to_dict() for reason in self.break_reasons],
            "break_summary": [summary.to_dict() for summary in self.break_summary],
            "ops_per_graph": [list(ops) for ops in self.ops_per_graph],
            "compile_times": list(self.compile_times),
            "graphs": [gm.code for gm in self.graphs],
        }

    def __str__(self) -> str:
        lines = [
            f"Graph Count: {self.graph_count}",
            f"Graph Break Count: {self.graph_break_count}",
            f"Op Count: {self.op_count}",
            "Break Reasons:",
        ]
        for number, reason in enumerate(self.break_reasons, 1):
            lines.append(f"  Break Reason {number} (ends graph {reason.graph_index + 1}):")
            lines.append("    Reason: " + _indent_rest(reason.reason, "      "))
            lines.append("    User Stack:")
            lines.extend(f"      {_frame_text(frame)}" for frame in reason.user_stack)
        lines.append("Break Reason Summary (same reason at the same place counted once):")
        for summary in self.break_summary:
            first_line = summary.reason.strip().splitlines()[0] if summary.reason.strip() else "<no reason>"
            lines.append(f"  {summary.count}x at {summary.location}: {first_line}")
        lines.append("Ops per Graph:")
        for number, ops in enumerate(self.ops_per_graph, 1):
            lines.append(f"  Graph {number}: {', '.join(ops)}")
        lines.append("Compile Times:")
        for number, seconds in enumerate(self.compile_times, 1):
            lines.append(f"  Graph {number}: {seconds:.6f} s")
        lines.append(f"  Total: {sum(self.compile_times):.6f} s")
        return "\n".join(lines) + "\n"


class ExplainWithBackend:
    """A `torch.compile` backend that records each graph, then compiles it with `backend`.

    `backend` is a registered name ("inductor", "eager", ...) or a compiler
    callable `(gm, example_inputs) -> callable`. Use as
    `torch.compile(fn, backend=eb)`, run `fn`, then read `eb.output()`.
    """

    def __init__(self, backend: str | CompilerFn | BackendSpec) -> None:
        self.backend: Callable[..., Any] = resolve_backend(backend, with_injection=False).fn
        self.graphs: list[torch.fx.GraphModule] = []
        self.compile_times: list[float] = []
        self.break_reasons: list[BreakReason] = []
        self._graph_breaks = 0
        self._call: object = None  # the code whose call the last graph belonged to

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self._record(gm)
        start = time.perf_counter()
        try:
            return self.backend(gm, example_inputs)
        finally:  # a failing compile is timed too, so times and graphs stay aligned
            self.compile_times.append(time.perf_counter() - start)

    @property
    def op_count(self) -> int:
        return sum(map(_function_calls, self.graphs))

    def output(self) -> ExplainOutput:
        """A snapshot of everything recorded so far."""
        ops_per_graph = [_ops(gm) for gm in self.graphs]
        return ExplainOutput(
            graphs=list(self.graphs),
            graph_count=len(self.graphs),
            graph_break_count=self._graph_breaks,
            op_count=self.op_count,
            break_reasons=list(self.break_reasons),
            ops_per_graph=ops_per_graph,
            compile_times=list(self.compile_times),
            break_summary=summarize_breaks(self.break_reasons),
        )

    def clear(self) -> None:
        """Forget everything recorded (the wrapped backend is kept)."""
        self.graphs.clear()
        self.compile_times.clear()
        self.break_reasons.clear()
        self._graph_breaks = 0
        self._call = None

    def reset(self) -> None:
        """What `torch._dynamo.reset()` calls on the backends it cached: the record is kept.

        The wrapped backend's own `reset()` (cudagraphs has one) runs, as it would
        if Dynamo had cached that backend itself. `clear()` forgets the record.
        """
        inner_reset = getattr(self.backend, "reset", None)
        if callable(inner_reset):
            inner_reset()

    def _record(self, gm: torch.fx.GraphModule) -> None:
        self.graphs.append(gm)
        entry, call = _call_of_this_compile()
        if not entry and call is not None and call is self._call:
            self._graph_breaks += 1
        self._call = call
        reason = _graph_break_reason(gm, len(self.graphs) - 1)
        if reason is not None:
            self.break_reasons.append(reason)


def summarize_breaks(reasons: list[BreakReason]) -> list[BreakSummary]:
    """Count break reasons with the same text at the same innermost frame once, first seen first."""
    counts: dict[tuple[str, str], int] = {}
    for reason in reasons:
        key = (reason.reason, reason.location)
        counts[key] = counts.get(key, 0) + 1
    return [BreakSummary(text, location, count) for (text, location), count in counts.items()]


def _graph_break_reason(gm: torch.fx.GraphModule, graph_index: int) -> BreakReason | None:
    """The break that ended `gm`, if Dynamo ended it at a graph break.

    Dynamo sets `gm.compile_subgraph_reason` (a GraphCompileReason with `reason`,
    `user_stack`, `graph_break`) on every graph it hands a backend. A graph built
    by hand has none.
    """
    compile_reason = _torch.graph_compile_reason(gm)
    if compile_reason is None or not getattr(compile_reason, "graph_break", False):
        return None
    stack = list(getattr(compile_reason, "user_stack", None) or [])
    return BreakReason(reason=str(getattr(compile_reason, "reason", "")), user_stack=stack, graph_index=graph_index)


def _call_of_this_compile() -> tuple[bool, object]:
    """(entry, call): which call into a compiled function the frame compiling now belongs to.

    After a graph break, Dynamo's rewritten bytecode of the called function runs
    the unsupported code eagerly and calls the resume function; frames compiled
    then (the resume function, functions called from the break, in any depth)
    run while that rewritten code is on the Python stack, and the outermost such
    frame is the call's. A compile with no rewritten code on the stack is an
    `entry`: user code called the compiled function, and this is its frame.
    `call` is the code object of the called function (None if unknown).
    """
    output_codes = _torch.dynamo_rewritten_codes()
    outermost = None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code in output_codes:
            outermost = frame.f_code
        frame = frame.f_back
    if outermost is None:
        return True, _torch.dynamo_compiling_code()
    return False, _torch.dynamo_original_code(outermost)


def _function_calls(gm: torch.fx.GraphModule) -> int:
    """The op count of `gm` as torch's ExplainWithBackend counts it: its call_function nodes."""
    return sum(1 for node in gm.graph.nodes if node.op == "call_function")


def _ops(gm: torch.fx.GraphModule) -> list[str]:
    """Names of the nodes of `gm` that compute something, in graph order."""
    return [_op_name(node) for node in gm.graph.nodes if node.op in ("call_function", "call_method", "call_module")]


def _op_name(node: torch.fx.Node) -> str:
    if node.op == "call_method":
        return f"method:{node.target}"
    if node.op == "call_module":
        return f"module:{node.target}"
    target = node.target
    if _torch.is_op_overload(target) or _torch.is_op_packet(target):
        return str(target)  # aten.add.Tensor
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    # name them as users write them: torch.sin (not torch._VariableFunctionsClass.sin), operator.add
    name = name.removeprefix("_VariableFunctionsClass.")
    module = {"_operator": "operator"}.get(module, module)
    return f"{module}.{name}" if module else name


def _frame_text(frame: traceback.FrameSummary) -> str:
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def _frame_dict(frame: traceback.FrameSummary) -> dict[str, Any]:
    return {"filename": frame.filename, "lineno": frame.lineno, "name": frame.name, "line": frame.line}


def _indent_rest(text: str, indent: str) -> str:
    """`text` with every line after the first indented, to sit under a label."""
    first, *rest = text.splitlines() or [""]
    return "\n".join([first, *((indent + line).rstrip() for line in rest)])
