"""Say so when a patch of `inject.ops` ends and an op it names was in no graph compiled meanwhile.

`watch_injection` runs at every `config.patch` (registered by `install`); bug
injection calls `note_graph` with every graph it plants into. The warning names
the ops of those graphs that look related: made by decomposing the op (after
AOT Autograd), or with a similar name.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import pathlib
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import torch

from compdebug import _torch
from compdebug.backends.match import bare_name, matches
from compdebug.config import add_patch_hook, config
from compdebug.errors import UnmatchedInjectionWarning

log = logging.getLogger("compdebug.backends.inject")

# stages whose graphs compdebug plants into itself; "codegen" bugs are inductor's, out of sight
WATCHED_STAGES = ("dynamo", "aot")
_MAX_LISTED = 12


@attrs.define
class _Watch:
    """What the graphs compiled during one patch held, for the ops that patch injects."""

    ops: dict[str, str]
    stage: str
    graphs: int = 0
    matched: set[str] = attrs.field(factory=set)
    seen: dict[str, set[str]] = attrs.field(factory=dict)  # op name -> kinds of graph it was in
    decomposed: dict[str, set[str]] = attrs.field(factory=dict)  # op -> names of the nodes its decomposition made

    def unmatched(self) -> list[str]:
        return [op for op in self.ops if op not in self.matched]


_watches: list[_Watch] = []


@contextlib.contextmanager
def watch_injection(changes: Mapping[str, Any]) -> Iterator[None]:
    """While a patch that sets `inject.ops` is active, note which of its ops the compiled graphs held."""
    ops = changes.get("inject.ops")
    stage = config.inject.stage  # the value in force now, set by this patch or an outer one
    if not ops or stage not in WATCHED_STAGES:
        yield
        return
    watch = _Watch(dict(ops), stage)
    _watches.append(watch)
    ended_by = None
    try:
        yield
    except BaseException as error:
        ended_by = error
        raise
    finally:
        _watches.remove(watch)
        for op in watch.unmatched():
            _report(unmatched_message(watch, op, ended_by), keep=ended_by)


def note_graph(gm: torch.fx.GraphModule, kind: str) -> None:
    """Tell every active watch what `gm` (a graph of `kind`: "Dynamo", "forward", "backward") holds."""
    if not _watches:
        return
    modules = dict(gm.named_modules())
    nodes = [node for node in gm.graph.nodes if node.op.startswith("call_")]
    for watch in list(_watches):
        watch.graphs += 1
        watch.matched.update(op for op in watch.ops if any(matches(node, op, modules) for node in nodes))
        for node in nodes:
            name = bare_name(node, modules)
            if name is None:
                continue
            watch.seen.setdefault(name, set()).add(kind)
            origin = _torch.decomposed_from(node)
            if origin is not None and origin[1] != name:
                watch.decomposed.setdefault(origin[1].rstrip("_"), set()).add(name)


def unmatched_message(watch: _Watch, op: str, ended_by: BaseException | None = None) -> str:
    """What to tell the user about `op`, which no graph compiled during the patch held.

    `ended_by` is the exception that ended the patch's body, if one did.
    """
    head = f"compdebug: inject.ops names {op!r} ({watch.ops[op]} at stage {watch.stage!r}), but "
    if watch.graphs == 0 and ended_by is not None:
        return head + f"no graph was compiled before the patch ended with {type(ended_by).__name__}, so no bug was planted."
    if watch.graphs == 0:
        return head + (
            "no graph was compiled while the patch was active, so no bug was planted. Code compiled "
            "before the patch keeps running as it was compiled: compile inside the patch "
            "(or call torch._dynamo.reset() first)."
        )
    text = head + "no graph compiled while the patch was active contained it, so no bug was planted."
    related = related_ops(op, watch)
    if related:
        return text + " Ops in those graphs that look related: " + "; ".join(related) + ". Name one of them in inject.ops."
    names = sorted(watch.seen)
    listed = ", ".join(names[:_MAX_LISTED]) + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")
    return text + f" Those graphs held: {listed}."


def related_ops(op: str, watch: _Watch) -> list[str]:
    """Ops the graphs held that look related to `op`, each with the kinds of graph it was in.

    Related: made by decomposing `op` (recorded by AOT Autograd on each node), or
    a name that contains `op`'s name or is contained in it (by `_`-separated
    words: relu in leaky_relu, threshold in threshold_backward), or that is
    close to it letter by letter (difflib).
    """
    from_decomposition = sorted(watch.decomposed.get(op, set()))
    close = difflib.get_close_matches(op, list(watch.seen), n=5, cutoff=0.75)
    by_name = sorted((name for name in watch.seen if _shares_words(op, name) or name in close), key=_close_first(close))
    names = (from_decomposition + [name for name in by_name if name not in from_decomposition])[:_MAX_LISTED]
    groups: dict[str, list[str]] = {}  # what is said of the names -> the names
    for name in names:
        kinds = " and ".join(sorted(watch.seen[name]))
        origin = f", made by decomposing {op}" if name in from_decomposition else ""
        groups.setdefault(f"in {kinds} graphs{origin}", []).append(name)
    return [f"{', '.join(group)} ({said})" for said, group in groups.items()]


def _close_first(close: list[str]) -> Any:
    return lambda name: (close.index(name) if name in close else len(close), name)


def _shares_words(a: str, b: str) -> bool:
    """Whether the `_`-separated words of one name run, in order, inside the other's."""
    words_a, words_b = [w for w in a.split("_") if w], [w for w in b.split("_") if w]
    if words_a == words_b or not words_a or not words_b:
        return False
    short, long = sorted((words_a, words_b), key=len)
    return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


def _report(message: str, keep: BaseException | None = None) -> None:
    """Log and warn; while `keep` (the body's error) propagates, a warning turned error must not replace it."""
    log.info("%s", message)
    try:
        warnings.warn(message, UnmatchedInjectionWarning, stacklevel=_user_stacklevel())
    except UnmatchedInjectionWarning:
        if keep is None:
            raise


_OWN_FILES = (str(pathlib.Path(__file__).resolve().parents[1]), contextlib.__file__)


def _user_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first frame outside compdebug and contextlib."""
    level, frame = 2, sys._getframe(2)  # 1 is _report, 2 its caller
    while frame is not None and frame.f_code.co_filename.startswith(_OWN_FILES):
        level += 1
        frame = frame.f_back
    return level


def install() -> None:
    """Register `watch_injection` with config.patch (idempotent)."""
    add_patch_hook(watch_injection)
