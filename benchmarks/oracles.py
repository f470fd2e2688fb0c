"""Oracles as both minifiers see them: a counting wrapper, and real compile-and-run oracles.

`Counting` wraps one predicate so that every call either tool makes is counted
(and, for torch's minifier, stopped at a deadline). `real_failure` builds a
compdebug failure object with a bug injected; `SameFailure` turns it into a
plain predicate that judges a graph the same way, for torch's minifier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch.fx as fx

Predicate = Callable[[fx.GraphModule, Sequence[Any]], bool]


class OutOfTime(Exception):
    """Raised from inside a predicate when a tool's run has used up its time."""


class Counting:
    """`predicate`, counting its calls; past `deadline` (a perf_counter time) it raises `OutOfTime`."""

    def __init__(self, predicate: Predicate, deadline: float | None = None) -> None:
        self.predicate = predicate
        self.deadline = deadline
        self.calls = 0
        self.seconds = 0.0  # spent inside the predicate

    def __call__(self, gm: fx.GraphModule, inputs: Sequence[Any]) -> bool:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise OutOfTime(f"out of time after {self.calls} oracle calls")
        self.calls += 1
        start = time.perf_counter()
        try:
            return bool(self.predicate(gm, inputs))
        finally:
            self.seconds += time.perf_counter() - start


def injection(op: str, kind: str, stage: str) -> Any:
    """compdebug's bug injection of `kind` at every `op`, planted at `stage` ("dynamo" or "aot")."""
    import compdebug

    return compdebug.config.patch({"inject.ops": {op: kind}, "inject.stage": stage})


def real_failure(kind: str, backend: str, op: str, stage: str) -> Any:
    """A compdebug failure object for `backend`, with a bug of `kind` injected at `op` (at `stage`)."""
    import compdebug

    factory = {"compile_error": compdebug.CompileFailure, "runtime_error": compdebug.RuntimeFailure,
               "accuracy": compdebug.AccuracyFailure}[kind]
    with injection(op, kind, stage):
        return factory(backend)


class SameFailure:
    """A plain predicate for torch's minifier that judges exactly as compdebug's failure object does.

    It asks the failure object what it observes (compdebug's `Oracle.observe`,
    compdebug/minify/oracles.py) and answers True when that is the failure seen
    on the original graph: the same stage, error type and normalised message.
    """

    def __init__(self, failure: Any, gm: fx.GraphModule, inputs: Sequence[Any]) -> None:
        self.failure = failure
        self.expected = failure.observe(gm, list(inputs))

    def __call__(self, gm: fx.GraphModule, inputs: Sequence[Any]) -> bool:
        return self.expected is not None and self.failure.observe(gm, list(inputs)) == self.expected
