"""The ReproTarget of a failure caught by a capture hook (before any minification)."""

from __future__ import annotations

from typing import Any

from compdebug.minify.oracles import Signature
from compdebug.repro.target import ReproTarget


def target_for(failure: Any, error: BaseException) -> ReproTarget:
    """Describe how `error`, caught by `failure`'s kind of check, must reproduce."""
    return failure.repro_target(Signature.of_error(failure.kind, error))
