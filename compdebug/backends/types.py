"""The shapes backends take, and how a callable is named so that a script can import it again.

The bottom of backends/: it imports nothing of ours, so every other module here may use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

CompilerFn = Callable[[torch.fx.GraphModule, list[Any]], Callable[..., Any]]
# takes the compiler that receives post-AOT graphs and their role, returns one that wraps it
InnerWrapper = Callable[[Callable[..., Any], Any], Callable[..., Any]]


def importable_path(obj: Any) -> str | None:
    """"module:qualname" when `obj` can be imported back by that name, else None."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        target = load_by_path(f"{module}:{qualname}")
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if target is obj else None


def load_by_path(path: str) -> Any:
    """The object a "module:qualname" path names (ImportError/AttributeError if none)."""
    module, qualname = path.split(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target
