"""Which graph nodes return views of their arguments or change them in place.

The eager run copies stored values before a node that writes in place (by its
schema) runs; `values.run_eager` adds what the run itself shows (shared
storage, version counters), and `Problem.faithful` keeps a node sharing memory
with a live node from becoming an input.
"""

from __future__ import annotations

import enum
import functools
import operator
from typing import Any

import torch
import torch.fx

from compdebug import _torch


class Effect(enum.IntEnum):
    """How a node treats its arguments, from harmless to mutating (ordered: max() is the worst)."""

    PURE = 0
    VIEW = 1  # its result may share memory with an argument
    MUTATES = 2  # it writes into an argument


# Python operators that write into their first argument
_MUTATING_OPERATORS = {
    operator.setitem, operator.delitem, operator.iadd, operator.isub, operator.imul, operator.itruediv,
    operator.ifloordiv, operator.imod, operator.ipow, operator.iand, operator.ior, operator.ixor,
    operator.ilshift, operator.irshift, operator.imatmul,
}


def static_effect(node: torch.fx.Node, root: torch.nn.Module | None = None) -> Effect:
    """The worst thing `node` may do to its arguments, as far as schemas and keywords tell."""
    if node.kwargs.get("inplace") is True or node.kwargs.get("out") is not None:
        return Effect.MUTATES
    if node.op == "call_function":
        return _function_effect(node.target)
    if node.op == "call_method":
        return _named_op_effect(str(node.target))
    if node.op == "call_module" and root is not None:
        module = _submodule(root, str(node.target))
        return Effect.MUTATES if getattr(module, "inplace", False) is True else Effect.PURE
    return Effect.PURE


def _function_effect(target: Any) -> Effect:
    if target in _MUTATING_OPERATORS:
        return Effect.MUTATES
    if _torch.is_op_overload(target):
        return schema_effect(_torch.op_schema(target))
    if _torch.is_op_packet(target):
        return _named_op_effect(target.__name__.split(".")[-1])
    name = getattr(target, "__name__", None)
    if not isinstance(name, str) or getattr(target, "__module__", None) == "_operator":
        return Effect.PURE
    return _named_op_effect(name)


@functools.lru_cache(maxsize=None)
def _named_op_effect(name: str) -> Effect:
    """The worst effect among the aten overloads called `name` (torch.sin, Tensor.view_, ...)."""
    packet = getattr(torch.ops.aten, name, None) if name.isidentifier() else None
    if not _torch.is_op_packet(packet):
        # no aten op of that name; Tensor methods ending in "_" are in place by convention
        return Effect.MUTATES if name.endswith("_") and not name.startswith("_") else Effect.PURE
    schemas = _torch.packet_schemas(packet)
    # an overload with `out=` is used only when the call passes `out=` (static_effect checks that);
    # overloads without a Tensor argument are TorchScript's list and scalar ops of the same name
    relevant = [s for s in schemas if not _writes_out(s) and _takes_tensor(s)]
    return max((schema_effect(s) for s in relevant), default=Effect.PURE)


def schema_effect(schema: torch.FunctionSchema) -> Effect:
    """MUTATES if the schema writes an argument, VIEW if a result aliases one, else PURE."""
    if any(a.alias_info is not None and a.alias_info.is_write for a in schema.arguments):
        return Effect.MUTATES
    if any(r.alias_info is not None for r in schema.returns):
        return Effect.VIEW
    return Effect.PURE


def _writes_out(schema: torch.FunctionSchema) -> bool:
    return any(a.kwarg_only and a.alias_info is not None and a.alias_info.is_write for a in schema.arguments)


def _takes_tensor(schema: torch.FunctionSchema) -> bool:
    return any(isinstance(a.type, torch.TensorType) for a in schema.arguments)


def _submodule(root: torch.nn.Module, target: str) -> Any:
    try:
        return root.get_submodule(target)
    except AttributeError:
        return None
