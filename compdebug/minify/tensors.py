"""Describing and copying the values a candidate graph takes as inputs.

Every query gets fresh copies (same shape, strides, dtype, device, requires_grad,
leafness and Parameter-ness), so no query can change what the next one sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs
import torch

from compdebug.accuracy import storage_span  # one definition, shared with the offload store

ValueKind = Literal["tensor", "int", "float", "bool", "other"]


@attrs.frozen
class ValueMeta:
    """What a compiler can see of a value without reading its data (plus the number, for scalars)."""

    kind: ValueKind
    shape: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    dtype: torch.dtype | None = None
    device: torch.device | None = None
    requires_grad: bool = False
    is_leaf: bool = True
    parameter: bool = False
    number: str | None = None  # repr of an int/float/bool: compilers specialise on them

    @classmethod
    def of(cls, value: Any) -> ValueMeta:
        if isinstance(value, torch.Tensor):
            if not plain_tensor(value):
                return cls("other")
            return cls(
                "tensor",
                tuple(value.shape),
                tuple(value.stride()),
                value.dtype,
                value.device,
                value.requires_grad,
                value.is_leaf,
                isinstance(value, torch.nn.Parameter),
            )
        if isinstance(value, bool):
            return cls("bool", number=repr(value))
        if isinstance(value, int):
            return cls("int", number=repr(value))
        if isinstance(value, float):
            return cls("float", number=repr(value))
        return cls("other")

    @property
    def can_be_input(self) -> bool:
        """Whether a node producing this value may be replaced by an input holding it."""
        return self.kind != "other"


def plain_tensor(t: torch.Tensor) -> bool:
    """A dense tensor of torch's own type (or a Parameter): one we can copy exactly and save."""
    return type(t) in (torch.Tensor, torch.nn.Parameter) and t.layout == torch.strided and not t.is_quantized


def fresh_inputs(inputs: Sequence[Any]) -> list[Any]:
    """New copies of `inputs` (see `fresh_copy`); non-tensors are passed through."""
    return [fresh_copy(x) for x in inputs]


def random_inputs(inputs: Sequence[Any]) -> list[Any]:
    """Like `fresh_inputs`, but tensors hold random data instead of the values of `inputs`."""
    return [fresh_copy(x, random=True) for x in inputs]


def fresh_copy(value: Any, *, random: bool = False) -> Any:
    """A new tensor like `value` (equal data, or random with `random`); other values as they are.

    Shape, strides (overlapping and gapped ones too), dtype, device,
    requires_grad, leafness and Parameter-ness are kept; the copy never shares
    memory with `value`.
    """
    if not isinstance(value, torch.Tensor):
        return value
    if not plain_tensor(value):
        out = value.detach().clone()
        return out.requires_grad_(value.requires_grad) if out.is_floating_point() or out.is_complex() else out
    with torch.no_grad():
        out = torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device=value.device)
        span = storage_span(value)
        if span:
            target = out.as_strided((span,), (1,), 0)
            if random:
                _fill_random(target)
            else:
                target.copy_(value.detach().as_strided((span,), (1,), value.storage_offset()))
    return _dressed(out, value.requires_grad, value.is_leaf, isinstance(value, torch.nn.Parameter))


def dressed(value: Any, meta: ValueMeta) -> Any:
    """`value` (a detached tensor from a value store) with the autograd properties `meta` recorded.

    The result may share memory with `value`: use it as a template for
    `fresh_copy`, never hand it to compiled code.
    """
    if not isinstance(value, torch.Tensor) or meta.kind != "tensor":
        return value
    return _dressed(value.detach(), meta.requires_grad, meta.is_leaf, meta.parameter, copy=False)


def _dressed(
    t: torch.Tensor, requires_grad: bool, is_leaf: bool, parameter: bool, *, copy: bool = True
) -> torch.Tensor:
    if parameter:
        return torch.nn.Parameter(t, requires_grad=requires_grad)
    if not requires_grad:
        return t
    leaf = t.requires_grad_(True)
    if is_leaf:
        return leaf
    # a non-leaf that requires grad (an intermediate of the user's program): some
    # compilers treat those differently from leaves, so keep it one
    with torch.enable_grad():
        if copy and _dense(leaf):
            return torch.empty_strided(leaf.shape, leaf.stride(), dtype=leaf.dtype, device=leaf.device).copy_(leaf)
        return leaf.view_as(leaf)


def _dense(t: torch.Tensor) -> bool:
    return storage_span(t) == t.numel()


def _fill_random(flat: torch.Tensor) -> None:
    # a generator of our own: the same values every run, and the user's random state untouched
    generator = torch.Generator(device=flat.device).manual_seed(0)
    dtype = flat.dtype
    if dtype == torch.bool:
        flat.random_(0, 2, generator=generator)
    elif dtype.is_floating_point or dtype.is_complex:
        try:
            flat.normal_(generator=generator)
        except (RuntimeError, NotImplementedError):  # dtypes without a normal kernel (float8, ...)
            flat.copy_(torch.randn(flat.shape, device=flat.device, generator=generator).to(dtype))
    else:
        flat.random_(0, 8, generator=generator)
