"""Capture failing graphs after Dynamo or after AOT Autograd, checkpoint and minify them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from compdebug.backends.interpose import register_captures
from compdebug.backends.spec import CompilerFn, resolve_backend
from compdebug.capture.aot import after_aot
from compdebug.capture.dynamo import after_dynamo
from compdebug.errors import ConfigError


CAPTURES = {"dynamo": after_dynamo, "aot": after_aot}
register_captures(CAPTURES)


def wrap_backend(backend: str | CompilerFn, *, repro_after: str = "dynamo") -> CompilerFn:
    """`backend`, capturing and minifying its failures whatever `config.repro_after` says.

    Use the result as `torch.compile(fn, backend=wrap_backend("inductor"))`.
    """
    if repro_after not in CAPTURES:
        raise ConfigError(f"wrap_backend(repro_after={repro_after!r}): it must be 'dynamo' or 'aot'")
    resolve_backend(backend)  # an unknown name fails now, not at the first compile
    capture = CAPTURES[repro_after]

    def captured(gm: torch.fx.GraphModule, example_inputs: list[Any], **kwargs: Any) -> Callable[..., Any]:
        # resolved per compile: the bug-injection settings in force now belong to the failure
        return capture(resolve_backend(backend), gm, example_inputs)

    captured._compdebug_captures = True  # type: ignore[attr-defined]  # the compile hook leaves it alone
    captured.__name__ = f"captured_{getattr(backend, '__name__', backend)}"
    return captured


__all__ = ["after_aot", "after_dynamo", "wrap_backend"]
