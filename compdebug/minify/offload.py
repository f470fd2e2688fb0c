"""DiskValues: a value store that keeps a graph's tensors on disk, not in memory.

Each tensor is written once (equal contents share one file) and read back
lazily, memory-mapped copy-on-write, only when a candidate asks for it.
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import shutil
import tempfile
import weakref
from typing import Any

import attrs
import torch

from compdebug import _torch
from compdebug.accuracy import storage_span
from compdebug.errors import OffloadError
from compdebug.minify.tensors import plain_tensor

log = logging.getLogger("compdebug.minify.offload")

MIN_FREE_BYTES = 256 * 2**20  # refuse a directory with less free space than this
_SAMPLES = 256  # bytes sampled for the content fingerprint
_MAX_COMPARES = 4  # files with the same fingerprint compared in full before writing a new one
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


@attrs.frozen
class _OnDisk:
    """Where one tensor's bytes are and how to rebuild the tensor from them."""

    file: str
    nbytes: int
    dtype: torch.dtype
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    device: torch.device
    requires_grad: bool
    parameter: bool
    span: bool  # True: the file holds the storage span (restore with as_strided); False: the elements in order

    def load(self) -> torch.Tensor:
        """A new tensor, backed by a private (copy-on-write) map of the file: writes never reach the disk."""
        data = torch.from_file(self.file, shared=False, size=self.nbytes, dtype=torch.uint8)
        data = data.view(self.dtype).to(self.device)  # before as_strided: to() would drop overlapping strides
        if self.span:
            t = data.as_strided(self.shape, self.stride)
        else:
            t = torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device=self.device)
            t.copy_(data.view(self.shape))
        t = t.detach().requires_grad_(self.requires_grad)
        return torch.nn.Parameter(t, self.requires_grad) if self.parameter else t

    def describe(self) -> dict[str, Any]:
        return {
            "file": os.path.basename(self.file),
            "dtype": str(self.dtype),
            "shape": list(self.shape),
            "stride": list(self.stride),
            "device": str(self.device),
            "requires_grad": self.requires_grad,
            "layout": "storage span" if self.span else "contiguous elements",
        }


class DiskValues:
    """Store node values as files under a fresh folder in `directory` (default: the system temp dir).

    `put(name, value)` writes the tensors in `value` (a tensor, or tuples, lists
    and dicts holding tensors); other values stay in memory. `get(name)` returns
    new tensors with the original dtype, shape, strides, device and
    requires_grad. `close()` removes the folder unless `keep=True`, which leaves
    it with an `index.json` describing each stored value. A directory that
    cannot be written, or with less than `min_free_bytes` free, is refused here
    with `OffloadError`; so is a disk that fills up during `put`.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, keep: bool = False,
                 min_free_bytes: int = MIN_FREE_BYTES) -> None:
        parent = os.fspath(directory) if directory is not None else tempfile.gettempdir()
        self.path = _make_folder(parent)
        _check_free_space(self.path, parent, min_free_bytes)  # removes the folder when refusing
        self.keep = keep
        self.bytes_written = 0
        self.closed = False
        self._files = 0
        self._values: dict[str, tuple[Any, list[Any]]] = {}
        self._by_fingerprint: dict[tuple[int, bytes], list[str]] = {}
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)
        if keep:
            self._cleanup.detach()
        log.debug("offloading values to %s", self.path)

    def put(self, name: str, value: Any) -> None:
        """Keep `value` under `name`: its tensors on disk, everything else in memory."""
        self._check_open()
        leaves, spec = _torch.tree_flatten(value)
        self._values[name] = (spec, [self._store(leaf) if isinstance(leaf, torch.Tensor) else leaf for leaf in leaves])

    def get(self, name: str) -> Any:
        """The value stored under `name`, with fresh tensors read lazily from disk."""
        self._check_open()
        spec, leaves = self._values[name]
        return _torch.tree_unflatten([leaf.load() if isinstance(leaf, _OnDisk) else leaf for leaf in leaves], spec)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def close(self) -> None:
        """Remove the files (unless `keep`); tensors already returned by `get` stay valid."""
        if self.closed:
            return
        if self.keep:
            self._write_index()
            log.info("kept offloaded values in %s", self.path)
        self.closed = True
        self._values.clear()
        self._cleanup()

    def __enter__(self) -> DiskValues:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise OffloadError(f"DiskValues in {self.path} is closed; create a new one to store values")

    def _store(self, t: torch.Tensor) -> _OnDisk | torch.Tensor:
        """Write `t` (or find its bytes already on disk); tensors without plain strided data stay in memory."""
        if not plain_tensor(t) or t.device.type == "meta" or t.numel() == 0:
            return t
        plain = t.detach()
        span = storage_span(t) <= 2 * t.numel()  # write the span when it is not much bigger than the elements
        flat = plain.as_strided((storage_span(t),), (1,), t.storage_offset()) if span else plain.contiguous().view(-1)
        data = flat.cpu().view(torch.uint8)
        file = self._file_for(data)
        return _OnDisk(file, data.numel(), t.dtype, tuple(t.shape), tuple(t.stride()), t.device, t.requires_grad,
                       isinstance(t, torch.nn.Parameter), span)

    def _file_for(self, data: torch.Tensor) -> str:
        """The file holding exactly these bytes: an equal one already written, or a new one."""
        fingerprint = _fingerprint(data)
        same_print = self._by_fingerprint.setdefault(fingerprint, [])
        for file in same_print[:_MAX_COMPARES]:
            if torch.equal(torch.from_file(file, shared=False, size=data.numel(), dtype=torch.uint8), data):
                return file
        file = os.path.join(self.path, f"{self._files:06d}.bin")
        self._write(file, data)
        self._files += 1
        same_print.append(file)
        return file

    def _write(self, file: str, data: torch.Tensor) -> None:
        # write() straight from the tensor's memory: no copy into Python bytes, and a
        # full disk surfaces as OSError (writing through a shared mmap would SIGBUS)
        view = memoryview((ctypes.c_char * data.numel()).from_address(data.data_ptr()))
        try:
            with open(file, "wb") as f:
                f.write(view)
        except OSError as error:
            _remove_quietly(file)
            if error.errno in _FULL_DISK:
                raise OffloadError(
                    f"the disk holding {self.path} is full ({self.bytes_written / 2**20:.0f} MiB written so far); "
                    "free some space or offload to another directory"
                ) from error
            raise OffloadError(f"cannot write offloaded value {file}: {error.strerror}") from error
        self.bytes_written += data.numel()

    def _write_index(self) -> None:
        index = {
            name: [leaf.describe() if isinstance(leaf, _OnDisk) else {"in_memory": repr(leaf)} for leaf in leaves]
            for name, (_, leaves) in self._values.items()
        }
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(index, f, indent=1)


def _fingerprint(data: torch.Tensor) -> tuple[int, bytes]:
    """Length plus evenly spaced sampled bytes: cheap, and equal for equal bytes."""
    n = data.numel()
    k = min(n, _SAMPLES)
    picks = torch.arange(k) * (n - 1) // max(k - 1, 1)
    return n, bytes(data[picks].tolist())


def _make_folder(parent: str) -> str:
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(prefix="compdebug_values_", dir=parent)
    except OSError as error:
        raise OffloadError(
            f"cannot write offloaded values under {parent!r}: {error.strerror or error}. Pass a writable directory"
        ) from error


def _check_free_space(path: str, parent: str, min_free_bytes: int) -> None:
    stats = os.statvfs(path)
    free = stats.f_bavail * stats.f_frsize
    if free < min_free_bytes:
        shutil.rmtree(path, ignore_errors=True)
        raise OffloadError(
            f"only {free / 2**20:.0f} MiB free under {parent!r}; offloading needs at least "
            f"{min_free_bytes / 2**20:.0f} MiB. Free some space or pass another directory"
        )


def _remove_quietly(file: str) -> None:
    try:
        os.remove(file)
    except OSError:
        pass
