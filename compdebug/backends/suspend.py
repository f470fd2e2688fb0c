"""Capture suspended: the compile hook stands aside while compdebug compiles a graph itself.

A context variable, not a config patch: it holds in the thread (or task) that
compiles, while the user's other threads keep the config they set.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_suspended = contextvars.ContextVar("compdebug_capture_suspended", default=False)


@contextlib.contextmanager
def capture_suspended() -> Iterator[None]:
    """Within this block (this context only), the compile hook neither captures nor injects."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


def is_capture_suspended() -> bool:
    return _suspended.get()
