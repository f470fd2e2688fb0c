"""Bug injection: plant a compile, run-time or accuracy bug at chosen ops of a graph.

The passes here are pure (graph in, changed copy out) and work on Dynamo graphs
and aten graphs alike; `compdebug.backends.aot.compile_injected` compiles with them.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Mapping
from typing import Any

import torch

from compdebug.backends.match import check_op_name, is_inplace, is_overload, matches
from compdebug.backends.runtime_op import INJECTED_RUNTIME_ERROR
from compdebug.backends.types import CompilerFn
from compdebug.backends.unmatched import note_graph
from compdebug.config import INJECT_KINDS
from compdebug.errors import CompdebugError, ReluCompileError, TestingOnlyCompileError

log = logging.getLogger("compdebug.backends.inject")

STAGES = ("dynamo", "aot")  # "codegen" lives in inductor's config, see spec.inductor_bug_settings


def check_injection(ops: Mapping[str, str], stage: str) -> None:
    """Refuse op names, kinds and stages that `compile_injected` cannot plant."""
    if ops and stage not in STAGES:
        raise CompdebugError(
            f"compile_injected plants bugs at stage 'dynamo' or 'aot', not {stage!r}; "
            "inject.stage='codegen' is applied through inductor's config by BackendSpec.compile"
        )
    for op, kind in ops.items():
        check_op_name(op)
        if kind not in INJECT_KINDS:
            raise CompdebugError(f"unknown injected bug kind {kind!r} for {op!r}: use one of {INJECT_KINDS}")


def injecting(compiler: CompilerFn, ops: Mapping[str, str]) -> CompilerFn:
    """`compiler`, planting `ops` into every graph before compiling it (extra arguments pass through)."""
    if not ops:
        return compiler

    @functools.wraps(compiler)
    def compile_with_bugs(gm: torch.fx.GraphModule, example_inputs: list[Any], *args: Any, **kwargs: Any) -> Any:
        return compiler(injected(gm, ops, _aot_graph_kind(gm, kwargs)), example_inputs, *args, **kwargs)

    return compile_with_bugs


def _aot_graph_kind(gm: torch.fx.GraphModule, kwargs: Mapping[str, Any]) -> str:
    """"backward" for a backward graph (Inductor says so; AOT Autograd names its inputs tangents_N), else "forward"."""
    if kwargs.get("is_backward") or any(str(node.target).startswith("tangents") for node in gm.graph.find_nodes(op="placeholder")):
        return "backward"
    return "forward"


def injected(gm: torch.fx.GraphModule, ops: Mapping[str, str], kind: str = "Dynamo") -> torch.fx.GraphModule:
    """A copy of `gm` with the bugs of `ops` planted; raises at once for a compile error.

    `kind` ("Dynamo", "forward", "backward") says what graph it is, for the
    warning about injected ops that no graph held.
    """
    note_graph(gm, kind)
    raise_compile_errors(gm, ops)
    planted = {op: kind for op, kind in ops.items() if kind != "compile_error"}
    if not planted:
        return gm
    result = copy_graph_module(gm)
    plant(result, planted)
    return result


def raise_compile_errors(gm: torch.fx.GraphModule, ops: Mapping[str, str]) -> None:
    """Raise the injected compile error of the first op of `ops` the graph contains."""
    modules = dict(gm.named_modules())
    for op, kind in ops.items():
        if kind == "compile_error" and any(matches(node, op, modules) for node in gm.graph.nodes):
            raise compile_error(op)


def compile_error(op: str) -> Exception:
    """The error an injected compile bug raises: `ReluCompileError` for relu, else `TestingOnlyCompileError`."""
    # no node names in the message: a minified graph must fail with the same text
    message = f"compdebug injected a compile error into graphs containing {op!r}"
    return ReluCompileError(message) if op == "relu" else TestingOnlyCompileError(message)


def plant(gm: torch.fx.GraphModule, ops: Mapping[str, str]) -> None:
    """Plant run-time and accuracy bugs of `ops` at every matching node of `gm`, in place."""
    modules = dict(gm.named_modules())
    # find every site first, so one bug never lands on a node another bug inserted
    sites = []
    for node in gm.graph.nodes:
        op = next((op for op in ops if matches(node, op, modules)), None)
        if op is not None and _plantable(node, ops[op]):
            sites.append((node, op))
    for node, op in sites:
        _PLANTERS[ops[op]](gm.graph, node, op, is_inplace(node, modules))
    gm.graph.lint()
    gm.recompile()
    log.debug("planted %s at %d node(s)", dict(ops), len(sites))


def _plant_runtime_error(graph: torch.fx.Graph, node: torch.fx.Node, op: str, inplace: bool) -> None:
    _insert_after(graph, node, "call_function", INJECTED_RUNTIME_ERROR, (node, op))


def _plant_accuracy(graph: torch.fx.Graph, node: torch.fx.Node, op: str, inplace: bool) -> None:
    # the added node takes the form of the matched one: aten in aten graphs, torch otherwise;
    # in place for in-place ops, so every alias of the mutated tensor sees the +1
    aten = torch.ops.aten
    if is_overload(node):
        kind, target = "call_function", aten.add_.Tensor if inplace else aten.add.Tensor
    elif inplace:
        kind, target = "call_method", "add_"
    else:
        kind, target = "call_function", torch.add
    _insert_after(graph, node, kind, target, (node, 1))


_PLANTERS = {"runtime_error": _plant_runtime_error, "accuracy": _plant_accuracy}

# metadata that describes the value (same for node and its replacement) or where it came from
_KEPT_META = ("val", "example_value", "tensor_meta", "stack_trace", "nn_module_stack")


def _insert_after(graph: torch.fx.Graph, node: torch.fx.Node, kind: str, target: Any, args: tuple[Any, ...]) -> None:
    """Insert a node computing from `node` right after it, and let every user of `node` read it instead."""
    with graph.inserting_after(node):
        new = graph.create_node(kind, target, args)
    new.meta.update({key: node.meta[key] for key in _KEPT_META if key in node.meta})
    node.replace_all_uses_with(new, delete_user_cb=lambda user: user is not new)


def _plantable(node: torch.fx.Node, kind: str) -> bool:
    """Whether `node`'s value is a tensor the bug can take (+1 makes no sense on bools)."""
    value = node.meta.get("val", node.meta.get("example_value"))
    if value is None:
        return True  # no metadata (a symbolically traced graph): assume a tensor
    if isinstance(value, torch.Tensor) and (kind != "accuracy" or value.dtype != torch.bool):
        return True
    log.debug("not planting %s at %s: its value is %s", kind, node.format_node(), type(value).__name__)
    return False


def copy_graph_module(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A copy of `gm` whose graph can be changed freely (submodules and parameters are shared).

    Keeps what Dynamo and AOT Autograd attach to a graph module (`meta`,
    `_param_name_to_source`, placeholders' `_dynamo_source`).
    """
    graph = copy.deepcopy(gm.graph)
    result = torch.fx.GraphModule(gm, graph, class_name=type(gm).__name__)
    for name, value in vars(gm).items():
        if name not in vars(result):
            setattr(result, name, value)
    result.meta = dict(getattr(gm, "meta", {}))
    for old, new in zip(gm.graph.find_nodes(op="placeholder"), graph.find_nodes(op="placeholder")):
        if hasattr(old, "_dynamo_source"):
            new._dynamo_source = old._dynamo_source  # type: ignore[attr-defined]
    return result
