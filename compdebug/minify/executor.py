"""Where one oracle query runs: the single replaceable step between the minifier and a compiler.

`InProcessExecutor` runs it here; `compdebug.minify.isolate` has the child-process
one (surviving crashes and hangs), the time limit and majority votes, behind the same `evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
import torch.fx

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


def make_executor(isolate: bool, query_timeout: float | None = None, flaky: str | None = None) -> Executor:
    """The executor for `isolate` and `query_timeout` (config keys minifier.*) and `flaky`.

    Isolated queries run in a warm child process (`compdebug.minify.isolate`);
    in-process ones are stopped at `query_timeout` where a timer can stop them;
    with flaky="majority" each query is judged by the majority of three runs.
    """
    from compdebug.minify import isolate as isolation  # it builds on the executors of this module

    executor: Executor
    if isolate:
        executor = isolation.IsolatedExecutor(query_timeout)
    elif query_timeout is not None:
        executor = isolation.TimedExecutor(InProcessExecutor(), query_timeout)
    else:
        executor = InProcessExecutor()
    return isolation.MajorityExecutor(executor) if flaky == "majority" else executor
