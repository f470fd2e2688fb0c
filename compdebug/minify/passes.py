"""The reduction moves: each turns a candidate into a smaller one, never judging it.

Pure functions of (problem, layout, parameter) -> Candidate. The shrinker
decides which to try, in what order, and asks the oracle through its one door.
"""

from __future__ import annotations

from collections.abc import Collection

from compdebug.minify.problem import Candidate, Layout, Problem


def cut_after(problem: Problem, layout: Layout, size: int) -> Candidate:
    """Keep the first `size` compute nodes; whatever they hand to later nodes (or return) is returned.

    The result computes exactly what the original computed up to that point,
    so cuts are nested: a longer prefix contains every shorter one.
    """
    prefix = set(layout.compute[:size])
    later = set(layout.compute[size:])
    returned = set(layout.outputs)
    outputs = tuple(
        name for name in layout.compute[:size]
        if name in returned or any(user in later for user in problem.users[name])
    )
    kept = frozenset(n for n in layout.candidate.kept if n in prefix or not problem.is_compute(n))
    return Candidate(outputs, kept, layout.candidate.frozen)


def freeze(layout: Layout, names: Collection[str]) -> Candidate:
    """Turn the compute nodes `names` into inputs holding their eager values (what fed only them goes)."""
    candidate = layout.candidate
    return Candidate(candidate.outputs, candidate.kept, candidate.frozen | frozenset(names))


def freeze_all_but_last(problem: Problem, layout: Layout, keep: int) -> Candidate:
    """Turn every compute node that may become an input into one, except the last `keep` of them."""
    head = layout.compute[: max(len(layout.compute) - keep, 0)]
    return freeze(layout, [n for n in head if problem.can_freeze(n)])


def drop_outputs(layout: Layout, names: Collection[str]) -> Candidate:
    """Stop returning `names` (and stop computing what only they needed)."""
    candidate = layout.candidate
    return Candidate(tuple(n for n in candidate.outputs if n not in names), candidate.kept, candidate.frozen)


def drop_kept(layout: Layout, names: Collection[str]) -> Candidate:
    """Stop keeping the unused nodes `names` (dead code, unused inputs)."""
    candidate = layout.candidate
    return Candidate(candidate.outputs, candidate.kept - frozenset(names), candidate.frozen)


def hoist_output(problem: Problem, layout: Layout, name: str) -> Candidate:
    """Return the compute nodes `name` uses instead of `name`, dropping that one node."""
    candidate = layout.candidate
    rest = tuple(n for n in candidate.outputs if n != name)
    return Candidate((*rest, *_computed_args(problem, layout, name, rest)), candidate.kept, candidate.frozen)


def split_off(problem: Problem, layout: Layout, names: Collection[str]) -> Candidate:
    """Remove exactly the compute nodes `names`: they become inputs, and what they used is returned instead.

    Where `freeze` also removes everything that fed `names`, this keeps it
    (as outputs), so two culprits joined by a run of nodes come apart.
    """
    candidate = layout.candidate
    removed = set(names)
    fed: list[str] = []
    for name in names:
        fed += [n for n in _computed_args(problem, layout, name, candidate.outputs) if n not in removed]
    fed = sorted(set(fed), key=problem.index.__getitem__)
    return Candidate((*candidate.outputs, *fed), candidate.kept, candidate.frozen | removed)


def _computed_args(problem: Problem, layout: Layout, name: str, returned: tuple[str, ...]) -> list[str]:
    """The compute nodes `name` reads that are not returned already, in graph order."""
    body = set(layout.compute)
    return sorted((n for n in problem.deps[name] if n in body and n not in returned), key=problem.index.__getitem__)
