"""The one door to the compiler while bisecting: compile and judge the graph under a `Plan`.

Every question goes through `Prober.observe` (through `fails`, which answers a
plan asked before from its cache). A query with nothing switched off also
records what each subsystem applied, in order: the numbering later plans use.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch

from compdebug import _torch
from compdebug.backends.inject import copy_graph_module
from compdebug.backends.spec import resolve_backend
from compdebug.bisect.subsystems import Plan, Subsystem
from compdebug.minify.oracles import Oracle, Signature

log = logging.getLogger("compdebug.bisect")


class Prober:
    """Compile `gm` on `inputs` under plans and say whether it fails the way `signature` says.

    `oracle` checks the failure with the original backend; a plan for another
    backend judges with the same check, bug-injection settings and tolerances,
    only the backend swapped. `signature` is set by the caller once known.
    """

    def __init__(
        self,
        gm: torch.fx.GraphModule,
        inputs: Sequence[Any],
        oracle: Oracle,
        subsystems: dict[str, list[Subsystem]],
        signature: Signature | None = None,
    ) -> None:
        self.gm = gm
        self.inputs = list(inputs)
        self.oracle = oracle
        self.subsystems = subsystems
        self.signature = signature
        self.queries = 0
        self.steps: list[str] = []  # one line per query: the plan, what was seen, how long it took
        self._seen: dict[Plan, Signature | None] = {}
        # backend -> subsystem -> what each application applied, in order (None where torch says nothing)
        self._applied: dict[str, dict[str, list[str | None]]] = {}

    def fails(self, plan: Plan) -> bool:
        """Whether the graph fails the same way under `plan`."""
        assert self.signature is not None, "the failure to look for is not known yet"
        return self.observe(plan) == self.signature

    def observe(self, plan: Plan) -> Signature | None:
        """The failure seen under `plan` (one query, unless the plan was asked before)."""
        if plan in self._seen:
            return self._seen[plan]
        counts: collections.Counter[str] = collections.Counter()
        applied: dict[str, list[str | None]] = collections.defaultdict(list)

        def decide(backend: str, subsystem: str, debug_info: Callable[[], str] | None) -> bool:
            if backend != plan.backend:
                return False  # as in torch: only the backend being bisected is touched
            if subsystem in plan.off:
                return True
            index = counts[subsystem]
            counts[subsystem] += 1
            if plan.is_full:
                applied[subsystem].append(debug_info() if debug_info is not None else None)
            return plan.limit is not None and plan.limit[0] == subsystem and index >= plan.limit[1]

        started = time.monotonic()
        with self._settings(plan), _torch.bisect_hook(decide):
            observed = self.for_backend(plan.backend).observe(copy_graph_module(self.gm), self.inputs)
        self.queries += 1
        self._seen[plan] = observed
        if plan.is_full:
            self._applied[plan.backend] = dict(applied)
        outcome = "no failure" if observed is None else observed.describe()[:120]
        self.steps.append(f"{describe_plan(plan)}: {outcome} ({time.monotonic() - started:.1f} s)")
        log.info("bisect query %d: %s", self.queries, self.steps[-1])
        return observed

    def for_backend(self, backend: str | None) -> Oracle:
        """The failure check with `backend` in place of the original one (the original for None)."""
        return self.oracle if backend is None else swapped_backend(self.oracle, backend)

    def applications(self, backend: str, subsystem: str) -> list[str | None]:
        """What `subsystem` applied, in order, when `backend` compiled the graph with nothing switched off."""
        return self._applied.get(backend, {}).get(subsystem, [])

    def _settings(self, plan: Plan) -> contextlib.ExitStack:
        """The config changes of the settings `plan` switches off."""
        stack = contextlib.ExitStack()
        for subsystem in self.subsystems.get(plan.backend, []):
            if subsystem.name in plan.off and subsystem.change is not None:
                stack.enter_context(_torch.bisect_setting_patch(*subsystem.change))
        return stack


def swapped_backend(oracle: Oracle, backend: str) -> Oracle:
    """`oracle` (a Compile/Runtime/AccuracyFailure) judging with the registered `backend` instead.

    The bug-injection settings of its backend spec stay: they belong to the failure.
    """
    spec = oracle.backend  # type: ignore[attr-defined]
    if spec.name == backend:
        return oracle
    swapped = attrs.evolve(
        resolve_backend(backend, with_injection=False),
        inject_ops=spec.inject_ops,
        inject_stage=spec.inject_stage,
        inductor_settings=spec.inductor_settings,
    )
    return attrs.evolve(oracle, backend=swapped)  # type: ignore[misc]


def describe_plan(plan: Plan) -> str:
    parts = [plan.backend or "the failure's own backend"]
    if plan.off:
        parts.append("off: " + ", ".join(sorted(plan.off)))
    if plan.limit is not None:
        parts.append(f"{plan.limit[0]}: first {plan.limit[1]} applications only")
    return "; ".join(parts)
