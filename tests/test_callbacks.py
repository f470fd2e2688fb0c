"""compdebug's compile callbacks: events, error isolation, scoping and removal.

tests/conftest.py resets Dynamo around every test, which also clears compile callbacks.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import types

import pytest
import torch

import compdebug
from compdebug.callbacks import CompileEndEvent, CompileEvent
from compdebug.errors import CallbackError


_fresh_names = itertools.count()


def fresh_compiled(fn):
    """torch.compile of a copy of `fn` with a code object of its own, so it always compiles.

    (Dynamo caches per code object: a function defined once would compile only once.)
    """
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{next(_fresh_names)}")
    copy = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    return torch.compile(copy, backend="eager")


def with_break(x):
    x = x + 1
    torch._dynamo.graph_break()
    return torch.sin(x)


def plain(x):
    return x * 2


def compile_with_break():
    """A fresh function with one graph break: two Dynamo frame compilations."""
    return fresh_compiled(with_break)


def compile_plain():
    """A fresh function without graph breaks: one Dynamo frame compilation."""
    return fresh_compiled(plain)


def test_one_arg_callbacks_get_ordered_events_with_durations():
    events: list[tuple[str, CompileEvent]] = []

    @compdebug.on_compile_start
    def started(event):
        events.append(("start", event))

    @compdebug.on_compile_end
    def ended(event):
        events.append(("end", event))

    before = time.time()
    x = torch.randn(4)
    assert torch.equal(compile_with_break()(x), torch.sin(x + 1))

    assert [kind for kind, _ in events] == ["start", "end", "start", "end"]
    starts = [e for kind, e in events if kind == "start"]
    ends = [e for kind, e in events if kind == "end"]
    assert all(type(e) is CompileEvent for e in starts)
    assert all(isinstance(e, CompileEndEvent) for e in ends)
    assert [e.compile_id for e in starts] == [e.compile_id for e in ends]
    frames = [int(e.compile_id.split("/")[0]) for e in starts]
    assert frames == sorted(frames) and len(set(frames)) == 2
    assert all(e.trigger == "dynamo" for _, e in events)
    for start, end in zip(starts, ends):
        assert before <= start.start_time <= time.time()
        assert end.start_time == start.start_time
        assert end.duration_s > 0


def test_decorators_return_the_function_unchanged():
    def started():
        pass

    def ended(event):
        pass

    assert compdebug.on_compile_start(started) is started
    assert compdebug.on_compile_end(ended) is ended


def test_zero_argument_callbacks_count_each_compilation():
    counter = []
    compdebug.on_compile_start(lambda: counter.append(len(counter) + 1))
    compdebug.on_compile_end(lambda: counter.append(len(counter) + 1))
    compile_with_break()(torch.randn(3))
    assert counter == [1, 2, 3, 4]


def test_raising_callback_is_logged_and_compilation_goes_on(caplog):
    seen = []

    @compdebug.on_compile_start
    def broken(event):
        raise ValueError("callback bug")

    @compdebug.on_compile_start
    def healthy():
        seen.append("start")

    @compdebug.on_compile_end
    def broken_end():
        raise RuntimeError("end callback bug")

    x = torch.randn(5)
    with caplog.at_level(logging.ERROR, logger="compdebug.callbacks"):
        result = compile_plain()(x)

    assert torch.equal(result, x * 2)
    assert seen == ["start"]  # the callback after the broken one still ran
    records = [r for r in caplog.records if r.name == "compdebug.callbacks"]
    assert len(records) == 2
    assert "broken" in records[0].getMessage() and records[0].exc_info[0] is ValueError
    assert "broken_end" in records[1].getMessage() and records[1].exc_info[0] is RuntimeError


def test_lazy_backward_compilation_is_reported_with_its_trigger():
    triggers = []
    compdebug.on_compile_start(lambda event: triggers.append(event.trigger))
    fn = torch.compile(lambda x: (x.sin() * 2).sum(), backend="aot_eager")
    fn(torch.randn(4, requires_grad=True)).backward()
    assert triggers == ["dynamo", "lazy_backward"]


def test_compile_callbacks_are_active_only_inside_the_block():
    calls = []
    with compdebug.compile_callbacks(start=lambda: calls.append("start"), end=lambda e: calls.append("end")):
        compile_plain()(torch.randn(2))
    assert calls == ["start", "end"]
    compile_plain()(torch.randn(2))
    assert calls == ["start", "end"]


def test_compile_callbacks_are_removed_when_the_block_raises():
    calls = []

    def started():
        calls.append("start")

    with pytest.raises(KeyError):
        with compdebug.compile_callbacks(start=started):
            raise KeyError("user error")
    compile_plain()(torch.randn(2))
    assert calls == []
    with pytest.raises(CallbackError):
        compdebug.remove_compile_callback(started)


def test_compile_callbacks_leave_other_registrations_of_the_same_function():
    calls = []

    def started():
        calls.append("start")

    compdebug.on_compile_start(started)
    with compdebug.compile_callbacks(start=started):
        pass
    compile_plain()(torch.randn(2))
    assert calls == ["start"]


def test_remove_compile_callback_removes_start_and_end():
    calls = []

    def both(event):
        calls.append(type(event).__name__)

    compdebug.on_compile_start(both)
    compdebug.on_compile_end(both)
    compile_plain()(torch.randn(2))
    assert calls == ["CompileEvent", "CompileEndEvent"]
    compdebug.remove_compile_callback(both)
    compile_plain()(torch.randn(2))
    assert calls == ["CompileEvent", "CompileEndEvent"]


def test_removing_an_unknown_callback_raises():
    with pytest.raises(compdebug.CompdebugError, match="not registered"):
        compdebug.remove_compile_callback(lambda: None)


def test_callbacks_with_wrong_signatures_are_refused_at_registration():
    with pytest.raises(CallbackError, match="no argument or one"):
        compdebug.on_compile_start(lambda a, b: None)
    with pytest.raises(CallbackError, match="callable"):
        compdebug.on_compile_end("not a function")
    with pytest.raises(CallbackError):
        compdebug.compile_callbacks(end=lambda a, b: None)


def test_dynamo_reset_clears_compile_callbacks_like_torchs_own():
    calls = []
    compdebug.on_compile_start(lambda: calls.append("old"))
    torch._dynamo.reset()
    compile_plain()(torch.randn(2))
    compdebug.on_compile_start(lambda: calls.append("new"))
    compile_plain()(torch.randn(2))
    assert calls == ["new"]


def test_torchs_own_callbacks_still_run_beside_compdebugs():
    calls = []
    torch._dynamo.on_compile_start(lambda *args: calls.append("torch"))
    compdebug.on_compile_start(lambda: calls.append("compdebug"))
    compile_plain()(torch.randn(2))
    assert sorted(calls) == ["compdebug", "torch"]


def test_registration_from_many_threads_keeps_the_lists_consistent():
    calls = []

    def churn():
        for _ in range(200):
            fn = lambda: calls.append("leaked")  # noqa: E731
            compdebug.on_compile_start(fn)
            compdebug.remove_compile_callback(fn)

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    compile_plain()(torch.randn(2))
    assert calls == []
