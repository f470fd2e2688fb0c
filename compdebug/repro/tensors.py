"""Saving and loading graph inputs and module state, strides and sharing included.

`load_tensors` and `set_module_tensors` use nothing but torch: repro scripts
that must run without compdebug paste their source verbatim.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import torch

from compdebug import _torch, symbolic
from compdebug.accuracy import storage_span
from compdebug.errors import BadInputError
from compdebug.repro._files import atomic_write

# Plain values saved as they are (torch.load(weights_only=True) accepts them).
_PLAIN_VALUES = (int, float, bool, str, type(None))
FORMAT = "repro-tensors/1"


def save_tensors(path: str | os.PathLike[str], values: Sequence[Any]) -> None:
    """Write `values` (tensors and plain ints/floats/bools/None) to `path`, atomically.

    A SymInt (SymFloat, SymBool) of a dynamic-shape compile is saved as the number
    it stands for in this run, with its expression beside it; it loads as that number.

    Dense tensors keep shape, strides, storage offset, dtype, device,
    requires_grad, leafness and storage sharing (two inputs viewing one
    storage still do after loading). Each storage is saved from its start up to
    the last byte a saved tensor reaches, so offsets (and data alignment) survive.
    """
    packer = _Packer(values)
    entries = [packer.entry(value) for value in values]
    saved = {"format": FORMAT, "storages": packer.storages, "values": entries}
    atomic_write(pathlib.Path(path), lambda tmp: torch.save(saved, tmp))


def load_tensors(path: str | os.PathLike[str], map_location: Any = None) -> list[Any]:
    """Read what `save_tensors` wrote: a list of tensors and plain values (no pickled code runs)."""
    saved = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != "repro-tensors/1":
        raise ValueError(f"{path} was not written by save_tensors (format 'repro-tensors/1')")
    values = []
    for entry in saved["values"]:
        if "storage" in entry:
            data = saved["storages"][entry["storage"]]
            value = torch.empty(0, dtype=getattr(torch, entry["dtype"]), device=data.device)
            value.set_(data.untyped_storage(), entry["offset"], entry["size"], entry["stride"])
        else:
            value = entry.get("tensor", entry.get("value"))
        if entry.get("requires_grad"):
            value.requires_grad_()
            if not entry["leaf"]:
                value = value.view(entry["size"])  # a non-leaf, as the original was
        values.append(value)
    return values


def set_module_tensors(module: torch.nn.Module, names: Sequence[str], values: Sequence[Any]) -> None:
    """Put `values` into `module` at the dotted `names`; parameters stay parameters."""
    for name, value in zip(names, values, strict=True):
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        if isinstance(getattr(owner, attr, None), torch.nn.Parameter):
            value = torch.nn.Parameter(value, requires_grad=value.requires_grad)
        setattr(owner, attr, value)


def _compact(value: Any) -> bool:
    """Whether `value` is a plain dense tensor whose storage bytes can be saved directly."""
    return (
        isinstance(value, torch.Tensor)
        and type(value) in (torch.Tensor, torch.nn.Parameter)
        and value.layout == torch.strided
        and value.device.type != "meta"
        and not value.is_quantized
    )


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    return str(t.device), t.untyped_storage().data_ptr()


class _Packer:
    """Turns values into saveable entries, copying each shared storage once."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.storages: list[torch.Tensor] = []
        self._index: dict[tuple[str, int], int] = {}
        # the end (in bytes) of the farthest element any value reaches, per storage
        self._ends: dict[tuple[str, int], int] = {}
        for value in values:
            if _compact(value):
                end = (value.storage_offset() + storage_span(value)) * value.element_size()
                key = _storage_key(value)
                self._ends[key] = max(self._ends.get(key, 0), end)

    def entry(self, value: Any) -> dict[str, Any]:
        if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            # a dynamic-shape compile's number: saved as the value it had in this run (its hint)
            return {"value": symbolic.concrete(value), "symbolic": str(value)}
        if _torch.is_fake_tensor(value):
            raise BadInputError(
                f"cannot save a fake tensor of shape {tuple(value.shape)}: it holds no values. Pass real tensors "
                "(compdebug.symbolic.concrete makes one of the same sizes)."
            )
        if isinstance(value, _PLAIN_VALUES):
            return {"value": value}
        if not isinstance(value, torch.Tensor):
            raise BadInputError(
                f"cannot save a value of type {type(value).__name__}: "
                "graph inputs must be tensors, ints, floats, bools or None"
            )
        meta = {"size": list(value.shape), "requires_grad": value.requires_grad, "leaf": value.is_leaf}
        if not _compact(value):
            return {**meta, "tensor": value.detach()}
        return {
            **meta,
            "storage": self._storage_index(value),
            "dtype": str(value.dtype).removeprefix("torch."),
            "stride": list(value.stride()),
            "offset": value.storage_offset(),
        }

    def _storage_index(self, t: torch.Tensor) -> int:
        key = _storage_key(t)
        if key not in self._index:
            self._index[key] = len(self.storages)
            self.storages.append(_storage_bytes(t, self._ends[key]))
        return self._index[key]


def _storage_bytes(t: torch.Tensor, end: int) -> torch.Tensor:
    """A fresh uint8 tensor holding bytes [0, end) of `t`'s storage."""
    raw = torch.empty(0, dtype=torch.uint8, device=t.device)
    raw.set_(t.untyped_storage(), 0, (end,), (1,))
    return raw.clone()
