"""Where one oracle query runs: the single replaceable step between the minifier and a compiler.

`InProcessExecutor` runs it here. A child-process executor (surviving crashes
and hangs) can replace it behind the same `evaluate` without touching the passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
import torch.fx

from compdebug.errors import CompdebugError
from compdebug.minify.oracles import Oracle, Signature


class Executor(Protocol):
    """Runs one query: how does `gm` fail on `inputs` according to `oracle`?"""

    def evaluate(self, oracle: Oracle, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        """`gm` is built for this query alone; `inputs` are templates the executor must not change."""
        ...

    def close(self) -> None: ...


class InProcessExecutor:
    """Runs each query in this process (a crash of the compiler ends the minifier too).

    Each query starts from the same random state (seed 0, as repro scripts
    do), so random ops in a graph behave alike in every query; the caller's
    random state is restored afterwards.
    """

    def evaluate(self, oracle: Oracle, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        with torch.random.fork_rng(devices=_cuda_devices(inputs)):
            torch.manual_seed(0)
            return oracle.observe(gm, inputs)

    def close(self) -> None:
        pass


def _cuda_devices(inputs: Sequence[Any]) -> list[int]:
    devices = {x.device for x in inputs if isinstance(x, torch.Tensor) and x.device.type == "cuda"}
    return sorted(d.index if d.index is not None else torch.cuda.current_device() for d in devices)


def make_executor(isolate: bool) -> Executor:
    """The executor for `isolate` (config key minifier.isolate)."""
    if isolate:
        raise CompdebugError(
            "isolate=True (running each query in a child process) is not available in this version of "
            "compdebug; every query runs in this process. Pass isolate=False (the default), or leave "
            "compdebug.config.minifier.isolate off."
        )
    return InProcessExecutor()
