"""Find an op, named by its bare name ("relu"), in every form it takes in an FX graph.

Dynamo graphs hold torch functions, Tensor methods and nn.Modules; graphs after
AOT Autograd hold aten overloads. `matches` recognises all of them.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from typing import Any

import torch

from compdebug import _torch
from compdebug.errors import CompdebugError

# Namespaces whose functions count as "the op" when their name is the op's.
_FUNCTION_NAMESPACES: tuple[Any, ...] = (
    torch,
    torch.nn.functional,
    _torch.NN_FUNCTIONS,
    torch.special,
    torch.linalg,
    torch.fft,
    torch.Tensor,
    operator,
)
# operator's in-place forms (x += y): operator.iadd is "add" done in place.
_INPLACE_OPERATORS = frozenset(
    name for name in dir(operator) if name.startswith("i") and {name[1:], name[1:] + "_"} & set(dir(operator))
)
# Ops compdebug itself inserts; never matched, so injection cannot feed on its own output.
_OWN_NAMESPACE = "compdebug"


def check_op_name(op: str) -> None:
    """Refuse op names that can never match (dotted paths, overload names, blanks)."""
    if not isinstance(op, str) or not op.isidentifier():
        raise CompdebugError(
            f"bug injection takes bare op names such as 'relu' or 'log1p', not {op!r}: "
            "the name matches torch.X, torch.nn.functional.X, Tensor.X/X_, nn.Modules named X "
            "and aten.X overloads alike"
        )


@functools.cache
def _functions_named(op: str) -> frozenset[Any]:
    found = set()
    for namespace in _FUNCTION_NAMESPACES:
        for name in (op, op + "_"):
            target = getattr(namespace, name, None)
            if callable(target):
                found.add(target)
    if "i" + op in _INPLACE_OPERATORS:
        found.add(getattr(operator, "i" + op))
    return frozenset(found)


def _overload_name(target: Any) -> str | None:
    """The packet name of an aten-style op ("relu" for aten.relu.default), else None."""
    found = _torch.aten_name(target)
    if found is None or found[0] == _OWN_NAMESPACE:
        return None
    return found[1]


def matches(node: torch.fx.Node, op: str, modules: Mapping[str, torch.nn.Module]) -> bool:
    """Whether `node` computes `op` (in-place variants included).

    `modules` maps qualified names to submodules (`dict(gm.named_modules())`), for
    call_module nodes: a module matches when its class name, lowercased, is `op`.
    """
    if node.op == "call_method":
        return node.target in (op, op + "_")
    if node.op == "call_module":
        module = modules.get(str(node.target))
        return module is not None and type(module).__name__.lower() == op
    if node.op != "call_function":
        return False
    overload = _overload_name(node.target)
    if overload is not None:
        return overload in (op, op + "_")
    try:
        return node.target in _functions_named(op)
    except TypeError:  # an unhashable target is no torch function
        return False


def bare_name(node: torch.fx.Node, modules: Mapping[str, torch.nn.Module]) -> str | None:
    """The bare op name under which `matches` finds `node` ("relu" for relu_, aten.relu.default, nn.ReLU), else None."""
    if node.op == "call_method":
        return _out_of_place(str(node.target))
    if node.op == "call_module":
        module = modules.get(str(node.target))
        return None if module is None else type(module).__name__.lower()
    if node.op != "call_function":
        return None
    overload = _overload_name(node.target)
    if overload is not None:
        return _out_of_place(overload)
    name = getattr(node.target, "__name__", None)
    if not isinstance(name, str):
        return None
    if name in _INPLACE_OPERATORS and getattr(operator, name, None) is node.target:
        return name[1:]  # operator.iadd is add done in place
    return _out_of_place(name)


def _out_of_place(name: str) -> str:
    """"relu" for "relu_"; dunder names ("__getitem__") as they are."""
    return name[:-1] if name.endswith("_") and not name.endswith("__") and len(name) > 1 else name


def is_overload(node: torch.fx.Node) -> bool:
    """Whether `node` calls an aten-style op overload (the form of graphs after AOT Autograd)."""
    return node.op == "call_function" and _overload_name(node.target) is not None


def is_inplace(node: torch.fx.Node, modules: Mapping[str, torch.nn.Module]) -> bool:
    """Whether a matched node mutates its input (relu_, aten.relu_, F.relu(inplace=True), nn.ReLU(inplace=True))."""
    if node.op == "call_module":
        return bool(getattr(modules.get(str(node.target)), "inplace", False))
    if node.op == "call_method":
        return str(node.target).endswith("_")
    if node.kwargs.get("inplace") is True:  # F.relu(x, inplace=True)
        return True
    overload = _overload_name(node.target)
    if overload is not None:
        return overload.endswith("_")
    name = getattr(node.target, "__name__", "")
    if getattr(operator, name, None) is node.target:
        return name in _INPLACE_OPERATORS
    return name.endswith("_")
