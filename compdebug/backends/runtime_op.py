"""`compdebug::injected_runtime_error`: the custom op an injected run-time bug becomes.

A real torch op (not a Python wrapper) so that every backend, Inductor included,
keeps it in the compiled code as an extern call that raises when it runs.
"""

from __future__ import annotations

import torch

from compdebug.errors import InjectedRuntimeError

# One library object for the process; torch.library refuses to define an op twice.
_LIB = torch.library.Library("compdebug", "FRAGMENT")  # noqa: TOR901 (kept alive on purpose)
_LIB.define("injected_runtime_error(Tensor x, str op) -> Tensor")


def error_name(op: str) -> str:
    """The CamelCase error name of an op: "relu" -> "ReluRuntimeError", "layer_norm" -> "LayerNormRuntimeError"."""
    return "".join(part[:1].upper() + part[1:] for part in op.split("_") if part) + "RuntimeError"


def runtime_error_message(op: str) -> str:
    """The message of the injected error; stable (no node names) so minified repros fail alike."""
    return f"{error_name(op)}: compdebug injected a run-time error into {op!r}"


def _raise(x: torch.Tensor, op: str) -> torch.Tensor:
    raise InjectedRuntimeError(runtime_error_message(op))


def _fake(x: torch.Tensor, op: str) -> torch.Tensor:
    return torch.empty_like(x)


def _backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
    # never runs for real (the forward raises first); makes training graphs traceable
    return grad, None


_LIB.impl("injected_runtime_error", _raise, "CompositeExplicitAutograd")
torch.library.register_fake("compdebug::injected_runtime_error", _fake, lib=_LIB)
torch.library.register_autograd("compdebug::injected_runtime_error", _backward, lib=_LIB)

INJECTED_RUNTIME_ERROR = torch.ops.compdebug.injected_runtime_error.default
# Its result may go unused (x.relu_() whose value nobody reads): dead-code
# elimination in FX, AOT Autograd and Inductor must keep it anyway.
torch.fx.node.has_side_effect(INJECTED_RUNTIME_ERROR)
