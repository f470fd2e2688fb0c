"""The minifier's own copy of the user's module, shared by every candidate graph.

Parameters are shared with the user's module; buffers and tensor constants are
copied, and put back after any query that changed them in place, so that no
query sees what an earlier one wrote and the user's tensors are never touched.
"""

from __future__ import annotations

import copy
import logging

import torch

from compdebug import _torch

log = logging.getLogger("compdebug.minify")


class PrivateRoot:
    """`module`: a copy of the user's GraphModule; `restore()` undoes in-place writes to its tensors."""

    def __init__(self, gm: torch.nn.Module) -> None:
        memo = {id(p): p for _, p in gm.named_parameters(remove_duplicate=False)}
        try:
            self.module = copy.deepcopy(gm, memo)
        except Exception as error:  # modules holding objects that cannot be copied
            log.warning("could not copy the graph module (%s); its buffers may change while minifying", error)
            self.module = gm
        self._saved = [(t, t.detach().clone(), _torch.tensor_version(t)) for t in _state_tensors(self.module)]

    def restore(self) -> None:
        """Put back every buffer or constant whose contents changed since the copy."""
        for i, (tensor, saved, version) in enumerate(self._saved):
            if _torch.tensor_version(tensor) != version:
                with torch.no_grad():
                    tensor.copy_(saved)
                self._saved[i] = (tensor, saved, _torch.tensor_version(tensor))


def _state_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    """Buffers and tensor attributes that are not parameters, each once."""
    found: dict[int, torch.Tensor] = {}
    for sub in module.modules():
        for value in [*(b for _, b, _ in _torch.own_buffers(sub)), *vars(sub).values()]:
            if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
                found.setdefault(id(value), value)
    return [t for t in found.values() if not t.is_inference()]
