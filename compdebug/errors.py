"""Every exception and warning class compdebug defines.

`CompdebugError` and its subclasses are usage errors: what the user gave us was
wrong, and the message says how to fix it. `CompdebugWarning` and its subclasses
say that something the user asked for did not happen. The other classes are the
failures that testing backends, injected bugs and repro scripts raise on purpose.
"""

from __future__ import annotations


class CompdebugError(Exception):
    """Base class of every usage error compdebug raises."""


class ConfigError(CompdebugError):
    """An unknown config key, or a value of the wrong type or outside its choices."""


class GraphDoesNotFailError(CompdebugError):
    """The graph handed to the minifier does not fail with the given oracle."""


class FailureChangedError(GraphDoesNotFailError):
    """The graph does not fail the way it failed when it was captured (`observed`: how it does fail, or None)."""

    def __init__(self, message: str, observed: object = None) -> None:
        super().__init__(message)
        self.observed = observed


class FlakyFailureError(CompdebugError):
    """The original graph fails on some runs only."""


class BadInputError(CompdebugError):
    """Graph or inputs that compdebug cannot work with (wrong type, count or shape)."""


class BackendError(CompdebugError):
    """An unknown backend name, or a backend that cannot be named in a repro."""


class CheckpointError(CompdebugError):
    """A checkpoint directory that cannot be written or read."""


class ProgramError(CompdebugError):
    """A program for `python -m compdebug capture` that cannot be found."""


class CallbackError(CompdebugError):
    """A compile callback that cannot be registered (bad signature) or removed (not registered)."""


class ReproError(CompdebugError):
    """A graph, input or failure that cannot be written as a standalone repro script."""


class AccuracyError(Exception):
    """Compiled code computed values too far from eager's."""


class ReluCompileError(Exception):
    """Raised by a testing backend or injected bug when a graph holds a relu."""


class TestingOnlyCompileError(Exception):
    """Raised by testing backends and injected compile errors for other ops."""

    __test__ = False  # not a pytest test class despite its name


class InjectedRuntimeError(RuntimeError):
    """Raised at run time by compiled code carrying an injected runtime bug."""


class OffloadError(CheckpointError):
    """A directory for offloaded values that cannot be written, or a disk too full to hold them."""


class IsolationError(CompdebugError):
    """A query that cannot run in a child process (isolate=True): the worker cannot start or load it."""


class CompdebugWarning(UserWarning):
    """Base class of every warning compdebug gives."""


class UnmatchedInjectionWarning(CompdebugWarning):
    """An op named in `inject.ops` was in no graph compiled while its patch was active: no bug was planted there."""
