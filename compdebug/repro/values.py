"""Python expressions that recreate a tensor: random values of the same kind, or exact small literals.

Random tensors keep shape, strides, storage offset, dtype, device and
requires_grad; integer tensors stay within the range of the original values.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from compdebug.accuracy import storage_span
from compdebug.errors import ReproError

# Tensors with at most this many elements are written out value by value
# (module constants and small buffers: an index or a scalar like torch.tensor(2)).
INLINE_NUMEL = 4
_RANDN_DTYPES = {torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128}


def random_tensor_expr(t: torch.Tensor, *, device_as_suffix: bool = False, with_grad: bool = True) -> str:
    """`torch.randn([20, 20], dtype=torch.float32)`-like source for a tensor shaped like `t`.

    `device_as_suffix` writes a non-CPU device as `.to('cuda:0')` instead of a
    `device=` argument; `with_grad=False` leaves requires_grad out (the caller
    wraps the tensor in a Parameter).
    """
    if t.layout != torch.strided:
        raise ReproError(f"cannot write a {t.layout} tensor into a repro script: only dense (strided) tensors can be")
    dense = t.is_contiguous() and t.storage_offset() == 0
    shape = list(t.shape) if dense else [t.storage_offset() + storage_span(t)]
    grad = with_grad and t.requires_grad
    device = None if device_as_suffix else t.device
    expr = _random_call(t, shape, device, grad_kwarg=grad and dense)
    if not dense:
        offset = f", {t.storage_offset()}" if t.storage_offset() else ""
        expr += f".as_strided({list(t.shape)}, {list(t.stride())}{offset})"
        if grad:
            expr += ".requires_grad_()"
    if grad and not t.is_leaf:
        expr += f".view({list(t.shape)})"  # a non-leaf, as the original was
    if device_as_suffix and t.device.type != "cpu":
        expr += f".to({str(t.device)!r})"
    return expr


def literal_tensor_expr(t: torch.Tensor, *, device_as_suffix: bool = False) -> str:
    """`torch.tensor([1.0, 2.0], dtype=torch.float32)`: the exact values of a small tensor."""
    values = _literal(t.detach().cpu().tolist())
    kwargs = [f"dtype={t.dtype}"]
    if t.device.type != "cpu" and not device_as_suffix:
        kwargs.append(f"device={str(t.device)!r}")
    if t.requires_grad:
        kwargs.append("requires_grad=True")
    expr = f"torch.tensor({values}, {', '.join(kwargs)})"
    if device_as_suffix and t.device.type != "cpu":
        expr += f".to({str(t.device)!r})"
    return expr


def constant_tensor_expr(t: torch.Tensor) -> str:
    """Exact values for small tensors, random ones of the same kind for larger ones."""
    if t.layout == torch.strided and t.numel() <= INLINE_NUMEL and t.device.type != "meta":
        return literal_tensor_expr(t, device_as_suffix=True)
    return random_tensor_expr(t, device_as_suffix=True)


def value_expr(value: Any) -> str:
    """Source for a non-tensor graph input (int, float, bool, None)."""
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        raise ReproError(f"cannot write the symbolic value {value!r} into a repro script: pass concrete inputs")
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return _literal(value)
    if isinstance(value, (torch.dtype, torch.device)):
        return f"torch.{value}" if isinstance(value, torch.dtype) else f"torch.device({str(value)!r})"
    raise ReproError(
        f"cannot write an input of type {type(value).__name__} into a repro script: "
        "graph inputs must be tensors, ints, floats, bools or None"
    )


def _random_call(t: torch.Tensor, shape: list[int], device: torch.device | None, *, grad_kwarg: bool) -> str:
    """The factory call making `shape` random values of `t`'s kind."""
    extra = ""
    if device is not None and device.type != "cpu":
        extra += f", device={str(device)!r}"
    if t.dtype in _RANDN_DTYPES:
        return f"torch.randn({shape}, dtype={t.dtype}{extra}{', requires_grad=True' if grad_kwarg else ''})"
    if t.dtype == torch.bool:
        return f"torch.randint(0, 2, {shape}, dtype=torch.bool{extra})"
    if not t.dtype.is_floating_point and not t.dtype.is_complex:
        low, high = _int_range(t)
        return f"torch.randint({low}, {high}, {shape}, dtype={t.dtype}{extra})"
    # float8 and other narrow types: no random generator of their own
    expr = f"torch.randn({shape}{extra}).to({t.dtype})"
    return expr + (".requires_grad_()" if grad_kwarg else "")


def _int_range(t: torch.Tensor) -> tuple[int, int]:
    """[low, high) covering the values of integer tensor `t` (indices stay valid indices)."""
    if t.numel() == 0 or t.device.type == "meta":
        return 0, 2
    high = min(int(t.max()) + 1, torch.iinfo(t.dtype).max)  # randint's bound must fit the dtype
    return min(int(t.min()), high - 1), high


def _literal(value: Any) -> str:
    """repr() of nested lists of numbers, with non-finite floats written as float('inf')."""
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, complex) and not (math.isfinite(value.real) and math.isfinite(value.imag)):
        return f"complex({_literal(value.real)}, {_literal(value.imag)})"
    return repr(value)
