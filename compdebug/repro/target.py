"""ReproTarget: how a repro script must fail, as plain data.

The minifier's oracles describe themselves with one of these; the script
writer turns it into the last lines of `repro.py`.
"""

from __future__ import annotations

from typing import Literal

import attrs

from compdebug.backends.spec import BackendSpec

Kind = Literal["compile", "runtime", "accuracy", "predicate", "crash", "timeout"]


@attrs.frozen
class ReproTarget:
    """What failing means for a repro: compile error, run-time error, accuracy, a user predicate,
    or (found with isolate=True) a process that crashes or hangs while compiling and running."""

    kind: Kind
    backend: BackendSpec | None = None  # None only for kind "predicate"
    error_type: str | None = None  # the exception class name the original failure raised
    error_message: str | None = None  # its normalised message (for the script's check)
    error_text: str | None = None  # its message as it was raised (for the script's header)
    strict: bool = False  # accuracy only
    fp64_reference: bool = True
    tolerance: float = 1e-3
    predicate_path: str | None = None  # "module:qualname" of a user predicate, when importable
    timeout_s: float | None = None  # "timeout" only: seconds without an answer that count as a hang
