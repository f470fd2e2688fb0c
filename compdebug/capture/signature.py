"""How a failure caught by a capture hook must reproduce (before any minification)."""

from __future__ import annotations

from typing import Any

from compdebug.minify.oracles import Signature
from compdebug.repro.target import ReproTarget


def captured_signature(failure: Any, error: BaseException) -> Signature:
    """The `Signature` the oracle `failure` reports for `error` (accuracy failures: the stage alone)."""
    if failure.kind == "accuracy":
        return Signature("accuracy", text=f"AccuracyError: {error}")
    return Signature.of_error(failure.kind, error)


def target_for(failure: Any, error: BaseException) -> ReproTarget:
    """Describe how `error`, caught by `failure`'s kind of check, must reproduce."""
    return failure.repro_target(captured_signature(failure, error))
