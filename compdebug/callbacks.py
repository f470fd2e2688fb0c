"""Compile start/end hooks: call user code around every Dynamo frame compilation.

Built on torch's own hook point (`torch._dynamo.callback.callback_handler`): one
adapter pair is registered there and dispatches to compdebug's callback lists.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs

from compdebug import _torch
from compdebug.errors import CallbackError

log = logging.getLogger("compdebug.callbacks")

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class CompileEvent:
    """What a one-argument callback receives at the start of a compilation."""

    compile_id: str  # Dynamo's id, "frame/recompile" such as "0/0" or "1/2"
    trigger: str  # "dynamo", "lazy_backward", "cudagraph_recording", ...
    start_time: float  # time.time() when the compilation started


@attrs.frozen
class CompileEndEvent(CompileEvent):
    """What a one-argument callback receives at the end of a compilation."""

    duration_s: float  # wall seconds from start to end


@attrs.frozen(eq=False)
class _Entry:
    """One registration: a callback and whether it takes the event."""

    fn: Callable[..., Any]
    takes_event: bool

    def call(self, event: CompileEvent) -> None:
        if self.takes_event:
            self.fn(event)
        else:
            self.fn()


class _Registry:
    """compdebug's callback lists and the adapter pair installed in torch's handler.

    `torch._dynamo.reset()` clears torch's handler, our adapters included; like
    torch's own callbacks, compdebug's are then gone too. We notice this lazily
    (the adapters are missing at the next registration) and drop the stale lists,
    so callbacks registered before a reset never fire again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start: list[_Entry] = []
        self._end: list[_Entry] = []
        self._installed = False
        # (trigger, compile_id) -> (wall start, perf_counter start)
        self._started: dict[tuple[str, str], tuple[float, float]] = {}

    def add(self, which: str, fn: Callable[..., Any]) -> _Entry:
        entry = _Entry(fn, _takes_event(fn))
        with self._lock:
            self._sync_with_torch()
            self._list(which).append(entry)
        return entry

    def discard(self, entries: list[_Entry]) -> None:
        """Remove exactly these registrations; ones already gone are ignored."""
        with self._lock:
            for entry in entries:
                for lst in (self._start, self._end):
                    if any(e is entry for e in lst):
                        lst[:] = [e for e in lst if e is not entry]

    def remove(self, fn: Callable[..., Any]) -> None:
        with self._lock:
            self._sync_with_torch()
            before = len(self._start) + len(self._end)
            self._start[:] = [e for e in self._start if e.fn != fn]
            self._end[:] = [e for e in self._end if e.fn != fn]
            if len(self._start) + len(self._end) == before:
                raise CallbackError(
                    f"{_describe(fn)} is not registered as a compile callback, so it cannot be removed. "
                    "Register it with compdebug.on_compile_start / on_compile_end first "
                    "(note that torch._dynamo.reset() clears all compile callbacks)."
                )

    def dispatch_start(self, args: Any = None) -> None:
        """Adapter torch calls at the start of a compilation; never raises."""
        try:
            trigger, compile_id = _read_callback_args(args)
            wall, perf = time.time(), time.perf_counter()
            with self._lock:
                self._started[(trigger, compile_id)] = (wall, perf)
                entries = list(self._start)
            _run_all(entries, CompileEvent(compile_id, trigger, wall), "start")
        except Exception:  # the hook must never break compilation
            log.exception("compdebug's compile-start dispatcher failed; compilation goes on")

    def dispatch_end(self, args: Any = None) -> None:
        """Adapter torch calls at the end of a compilation; never raises."""
        try:
            trigger, compile_id = _read_callback_args(args)
            now_wall, now_perf = time.time(), time.perf_counter()
            with self._lock:
                # no start seen (a callback registered mid-compilation): duration 0
                wall, perf = self._started.pop((trigger, compile_id), (now_wall, now_perf))
                entries = list(self._end)
            event = CompileEndEvent(compile_id, trigger, wall, duration_s=now_perf - perf)
            _run_all(entries, event, "end")
        except Exception:
            log.exception("compdebug's compile-end dispatcher failed; compilation goes on")

    def _list(self, which: str) -> list[_Entry]:
        return self._start if which == "start" else self._end

    def _sync_with_torch(self) -> None:
        """Install the adapter pair in torch's handler; forget callbacks a reset cleared.

        Called with the lock held.
        """
        handler = _torch_handler()
        start_in = _contains(handler.start_callbacks, self.dispatch_start)
        end_in = _contains(handler.end_callbacks, self.dispatch_end)
        if start_in and end_in:
            return
        if self._installed:
            log.debug("torch's compile callbacks were cleared (torch._dynamo.reset()); dropping compdebug's too")
            self._start.clear()
            self._end.clear()
            self._started.clear()
        if not start_in:
            handler.register_start_callback(self.dispatch_start)
        if not end_in:
            handler.register_end_callback(self.dispatch_end)
        self._installed = True


def _torch_handler() -> Any:
    return _torch.callback_handler()


def _contains(callbacks: list[Any], adapter: Callable[..., Any]) -> bool:
    # bound methods are new objects on each access: compare with ==
    return any(cb == adapter for cb in callbacks)


def _read_callback_args(args: Any) -> tuple[str, str]:
    """(trigger, compile_id) from torch's CallbackArgs, or from the compile context when absent."""
    trigger = getattr(args, "callback_trigger", None)
    trigger_name = getattr(trigger, "name", None) or (str(trigger) if trigger is not None else "dynamo")
    compile_id = getattr(args, "compile_id", None)
    if compile_id is None:
        compile_id = _torch.current_compile_id()
    return trigger_name.lower(), str(compile_id)


def _run_all(entries: list[_Entry], event: CompileEvent, which: str) -> None:
    for entry in entries:
        try:
            entry.call(event)
        except Exception:
            log.exception(
                "compile-%s callback %s raised (compile id %s); compilation goes on",
                which,
                _describe(entry.fn),
                event.compile_id,
            )


def _takes_event(fn: Callable[..., Any]) -> bool:
    """Whether `fn` is called with the event (one argument) or with none."""
    if not callable(fn):
        raise CallbackError(f"a compile callback must be callable; got {fn!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: give them the event
        return True
    for args in ((object(),), ()):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return bool(args)
    raise CallbackError(
        f"compile callback {_describe(fn)}{signature} must take no argument or one (a CompileEvent); "
        "give the others default values"
    )


def _describe(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


_registry = _Registry()


def on_compile_start(fn: F) -> F:
    """Call `fn` when each Dynamo frame compilation starts; returns `fn` unchanged.

    `fn` takes no argument or one `CompileEvent`.
    """
    _registry.add("start", fn)
    return fn


def on_compile_end(fn: F) -> F:
    """Call `fn` when each Dynamo frame compilation ends; returns `fn` unchanged.

    `fn` takes no argument or one `CompileEndEvent` (which has `duration_s`).
    """
    _registry.add("end", fn)
    return fn


def remove_compile_callback(fn: Callable[..., Any]) -> None:
    """Unregister `fn` as start and/or end callback; `CallbackError` if it is neither."""
    _registry.remove(fn)


def compile_callbacks(
    start: Callable[..., Any] | None = None, end: Callable[..., Any] | None = None
) -> contextlib.AbstractContextManager[None]:
    """Context manager: `start`/`end` are compile callbacks only inside the block.

    They are removed on exit, also when the block raises.
    """
    for fn in (start, end):  # refuse bad callbacks now, not at __enter__
        if fn is not None:
            _takes_event(fn)
    return _registered(start, end)


@contextlib.contextmanager
def _registered(start: Callable[..., Any] | None, end: Callable[..., Any] | None) -> Iterator[None]:
    entries: list[_Entry] = []
    try:
        if start is not None:
            entries.append(_registry.add("start", start))
        if end is not None:
            entries.append(_registry.add("end", end))
        yield
    finally:
        _registry.discard(entries)
