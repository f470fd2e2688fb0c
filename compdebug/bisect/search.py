"""The search: the first failing backend, then its first guilty subsystem, then the application.

torch's CompilerBisector re-runs the whole program for each step and tries
subsystems one at a time. Here every step compiles the one captured graph in
this process (`Prober`), the subsystems are group-tested (switch off a prefix
of the list, split by weight), and the applications of the guilty one are
bisected on how many of them are made, counted in the query that found the
backend, trying first where each kind of op is first applied.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from compdebug.bisect.probe import Prober
from compdebug.bisect.result import BisectResult
from compdebug.bisect.subsystems import Plan, Subsystem, backends
from compdebug.errors import BadInputError, GraphDoesNotFailError
from compdebug.minify.minifier import _check_graph
from compdebug.minify.oracles import AccuracyFailure, CompileFailure, Oracle, RuntimeFailure, Signature, as_oracle
from compdebug.symbolic import concrete

log = logging.getLogger("compdebug.bisect")


def bisect(gm: torch.fx.GraphModule, inputs: Sequence[Any], failure: Any) -> BisectResult:
    """Which backend, subsystem and application first break `gm` (failing on `inputs` as `failure` says).

    `failure` is `CompileFailure(backend)`, `RuntimeFailure(backend)` or
    `AccuracyFailure(backend, ...)`; a step counts as failing only when it fails
    the same way (same stage, error type and normalised message; accuracy as
    accuracy). A graph that does not fail raises `GraphDoesNotFailError`.
    """
    return search(gm, inputs, failure)[0]


def search(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], failure: Any, *, signature: Signature | None = None
) -> tuple[BisectResult, Signature]:
    """`bisect`, and the signature of the failure it looked for.

    Told the failure's `signature` (when the caller has seen it), it does not
    compile with the original backend just to see it again.
    """
    started = time.monotonic()
    oracle = _bisectable(failure)
    _check_graph(gm, inputs)
    order = backends()
    names = [name for name, _ in order]
    if signature is None and oracle.kind == "accuracy":
        signature = Signature("accuracy")
    prober = Prober(gm, [concrete(x) for x in inputs], oracle, dict(order), signature)
    original = oracle.backend.name  # type: ignore[attr-defined]
    if prober.signature is None or original not in names:
        _establish(prober, original if original in names else None)

    def result(backend: str | None, passed: list[str], **found: Any) -> tuple[BisectResult, Signature]:
        assert prober.signature is not None
        found = {"subsystem": None, "application": None, "detail": None, **found}
        answer = BisectResult(
            backend=backend, queries=prober.queries, seconds=time.monotonic() - started,
            failure=prober.signature.describe(), passed=tuple(passed), steps=tuple(prober.steps),
            original_backend=oracle.backend.label, **found,  # type: ignore[attr-defined]
        )
        return answer, prober.signature

    passed: list[str] = []
    for name, subsystems in order:
        if prober.fails(Plan(name)):
            return result(name, passed, **_guilty_subsystem(prober, name, subsystems))
        passed.append(name)
        seen = prober.observe(Plan(name))
        if seen is not None:
            log.warning("bisect: %s fails differently (%s); not the failure bisected", name, seen.describe())
    if original in names:
        raise _does_not_fail(oracle, prober.observe(Plan(original)))
    return result(None, passed)


def _bisectable(failure: Any) -> Oracle:
    oracle = as_oracle(failure)
    if not isinstance(oracle, (CompileFailure, RuntimeFailure, AccuracyFailure)):
        raise BadInputError(
            f"bisect compiles the graph with other backends than the failing one, so it needs "
            f"CompileFailure(backend), RuntimeFailure(backend) or AccuracyFailure(backend, ...); got "
            f"{oracle.describe()}. Wrap your check in one of those, or minify with it instead."
        )
    return oracle


def _establish(prober: Prober, backend: str | None) -> None:
    """Compile with the original backend once: its failure is the one to look for."""
    observed = prober.observe(Plan(backend))
    if observed is None or (prober.signature is not None and observed != prober.signature):
        raise _does_not_fail(prober.oracle, observed)
    prober.signature = observed


def _does_not_fail(oracle: Oracle, seen: Signature | None) -> GraphDoesNotFailError:
    return GraphDoesNotFailError(
        f"the graph given to bisect does not fail with {oracle.describe()}: "
        f"{'it ran without failing' if seen is None else 'it failed differently: ' + seen.describe()}. "
        "Pass the graph, inputs and bug settings of the failing run; a failure that comes and goes cannot "
        "be bisected."
    )


def _guilty_subsystem(prober: Prober, backend: str, subsystems: list[Subsystem]) -> dict[str, Any]:
    """subsystem, application, detail, applications of the first subsystem whose switching off helps,
    and the candidates asked about.

    The candidates are the settings that change something and the subsystems
    that were applied at all. Switching off a prefix of them at a time, a
    weighted bisection finds the first candidate whose addition to the prefix
    makes the failure go (each application, and each setting, taken as equally
    likely to be at fault: on most graphs the first question is "everything
    but the lowerings off?"). Its own switching off is then confirmed (the
    application bisect confirms it on the way); should that fail (subsystems
    that interact), each candidate is tried alone, in order, as torch does.
    """
    candidates = [
        s for s in subsystems
        if (s.setting_changes_something() if s.is_setting else prober.applications(backend, s.name))
    ]
    asked = {"candidates": tuple(s.name for s in candidates)}
    if not candidates:
        return asked
    weights = [1 if s.is_setting else len(prober.applications(backend, s.name)) for s in candidates]

    def helps(j: int) -> bool:  # switching off candidates[0..j] makes the failure go
        return not prober.fails(Plan(backend, off=frozenset(s.name for s in candidates[: j + 1])))

    first, seen = first_true(helps, weights)
    if first is None:
        return asked
    found = _confirmed(prober, backend, candidates[first], known_to_help=seen and first == 0)
    if found is not None:
        return {**asked, **found}
    log.info("bisect: switching off %s alone does not help; trying each subsystem alone", candidates[first].name)
    for subsystem in candidates:
        if not prober.fails(Plan(backend, off=frozenset({subsystem.name}))):
            found = _confirmed(prober, backend, subsystem, known_to_help=True)
            if found is not None:
                return {**asked, **found}
    return asked


def first_true(test: Callable[[int], bool], weights: Sequence[int]) -> tuple[int | None, bool]:
    """The smallest j with `test(j)` (monotone in j) or None, and whether `test(j)` was seen true.

    `weights[j]`: how likely j is the answer. A weighted bisection: each
    question splits the weight of the j still possible (and of "none", weighing
    as little as one candidate) in half. When only the last candidate and
    "none" remain, the last is returned untested (`False`): the caller's
    confirmation of it answers that question too.
    """
    low, high = 0, len(weights)  # the answer lies in [low, high]; len(weights) stands for None
    while low < high:
        if low == high - 1 and high == len(weights):
            return low, False
        total = sum(weights[low:high]) + 1
        middle, below = low, weights[low]
        while middle < high - 1 and below + weights[middle + 1] / 2 <= total / 2:
            middle += 1
            below += weights[middle]
        if test(middle):
            high = middle
        else:
            low = middle + 1
    return (None, False) if low == len(weights) else (low, True)


def _confirmed(prober: Prober, backend: str, subsystem: Subsystem, *, known_to_help: bool) -> dict[str, Any] | None:
    """The answer for `subsystem` if switching it off alone makes the failure go, else None."""
    if subsystem.is_setting:
        if not known_to_help and prober.fails(Plan(backend, off=frozenset({subsystem.name}))):
            return None
        return {"subsystem": subsystem.name, "detail": subsystem.setting_text}
    applied = prober.applications(backend, subsystem.name)
    first, saw_pass = first_failing(
        lambda k: prober.fails(Plan(backend, limit=(subsystem.name, k))), len(applied), first_of_kind(applied)
    )
    known_to_help = known_to_help or saw_pass
    if not known_to_help and prober.fails(Plan(backend, off=frozenset({subsystem.name}))):
        return None
    return {
        "subsystem": subsystem.name,
        "application": first,
        "detail": applied[first - 1],
        "applications": len(applied),
    }


def first_failing(fails: Callable[[int], bool], n: int, likely: Sequence[int]) -> tuple[int, bool]:
    """The smallest k in 1..n with `fails(k)` (`fails(n)` is known), and whether some k passed on the way.

    `likely` (sorted, within 1..n) are the ks guessed most likely to be the
    answer: they are bisected first, then the answer is pinned down between the
    two guesses around it, so a good guess costs log2(len(likely)) + 1 queries
    instead of log2(n), and a bad one at most one query more.
    """
    low, high = 1, n  # the answer lies in [low, high]
    saw_pass = False
    points = [k for k in likely if 1 <= k < n]
    while points:
        middle = points[len(points) // 2]
        if fails(middle):
            high = middle
            points = [k for k in points if k < middle]
        else:
            low = middle + 1
            saw_pass = True
            points = [k for k in points if k > middle]
    if low < high:  # is the answer high itself? (the guess just above the last passing one)
        if fails(high - 1):
            high -= 1
        else:
            return high, True
    while low < high:
        middle = (low + high) // 2
        if fails(middle):
            high = middle
        else:
            low = middle + 1
            saw_pass = True
    return low, saw_pass


_NUMBERED = re.compile(r"_\d+$")


def first_of_kind(applied: Sequence[str | None]) -> list[int]:
    """The 1-based positions where a kind of application is first made: a new op, decomposition or pass.

    torch describes a lowering by its node's name (`relu_3`), a decomposition by
    its op, a pass by its name; a bug in one op's lowering or decomposition
    first shows at such a position.
    """
    seen: set[str] = set()
    positions = []
    for position, info in enumerate(applied, start=1):
        kind = _NUMBERED.sub("", info) if info is not None else None
        if kind is not None and kind not in seen:
            seen.add(kind)
            positions.append(position)
    return positions
