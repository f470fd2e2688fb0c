"""The reduction engine: the best failing candidate so far, one door to the oracle, and the passes.

Every candidate goes through `consider` (normal form, "is it smaller?", cache,
budget, one query through the executor); passes only build candidates and
search. Passes run until a whole round changes nothing: the result is then
1-minimal (no single node can become an input, no single output can go).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch.fx

from compdebug.minify import passes
from compdebug.minify.executor import Executor
from compdebug.minify.oracles import Oracle, Signature
from compdebug.minify.problem import Candidate, Layout, Problem
from compdebug.minify.progress import Progress
from compdebug.minify.search import ddmin, find_first, find_integer
from compdebug.minify.tensors import fresh_inputs, random_inputs

log = logging.getLogger("compdebug.minify")

OnProgress = Callable[[torch.fx.GraphModule, list[Any]], None]


class Stop(Exception):
    """The budget is spent: stop shrinking and keep the best graph so far."""


class Shrinker:
    """Owns the best failing candidate and the door (`consider`) every candidate passes through."""

    def __init__(
        self,
        problem: Problem,
        oracle: Oracle,
        executor: Executor,
        *,
        max_queries: int | None = None,
        max_seconds: float | None = None,
        progress: Progress,
        on_progress: OnProgress | None = None,
        after_query: Callable[[], None] = lambda: None,
    ) -> None:
        self.problem = problem
        self.oracle = oracle
        self.executor = executor
        self.max_queries = max_queries
        self.max_seconds = max_seconds
        self.progress = progress
        self.on_progress = on_progress
        self.after_query = after_query
        self.started = time.monotonic()
        self.queries = 0
        self.cache_hits = 0
        self.signature: Signature | None = None
        self.best: Layout = problem.layout(problem.original)
        self._cache: dict[Any, Signature | None] = {}

    # -- the door -----------------------------------------------------------
    def establish(self) -> Signature | None:
        """Ask about the original graph. If it fails the oracle's way, that failure is the signature to keep."""
        observed = self._ask(self.best, budgeted=False)  # the original is always asked
        if observed is not None and observed.stage == self.oracle.kind:
            self.signature = observed
        return observed

    def consider(self, candidate: Candidate) -> bool:
        """Whether `candidate` fails like the original; if it does and is smaller, it becomes the best."""
        layout = self.problem.layout(candidate)
        if layout.candidate == self.best.candidate:
            return True
        if layout.empty or layout.cost >= self.best.cost or not self.problem.faithful(layout):
            return False
        observed = self._ask(layout)
        if observed != self.signature:
            if observed is not None:
                log.debug(
                    "candidate of %d nodes fails differently (%s): not taken", layout.node_count, observed.describe()
                )
            return False
        self._adopt(layout)
        return True

    def fails_with_random_inputs(self) -> bool:
        """Whether the best graph still fails when its inputs hold random values (one more query)."""
        return self._ask(self.best, random=True) == self.signature

    def _ask(self, layout: Layout, *, random: bool = False, budgeted: bool = True) -> Signature | None:
        key = (random, self.problem.structure_key(layout, value_sensitive=self.oracle.value_sensitive))
        if key in self._cache:
            self.cache_hits += 1
            return self._cache[key]
        if budgeted:
            self._check_budget()
        self.queries += 1
        gm = self.problem.graph_module(layout)
        inputs = self.problem.inputs(layout)
        if random:
            inputs = random_inputs(inputs)
        try:
            observed = self.executor.evaluate(self.oracle, gm, inputs)
        finally:
            self.after_query()
        self._cache[key] = observed
        self.progress.update(self.best.node_count, self.queries)
        return observed

    def _check_budget(self) -> None:
        if self.max_queries is not None and self.queries >= self.max_queries:
            raise Stop(f"max_queries={self.max_queries} reached")
        if self.max_seconds is not None and time.monotonic() - self.started >= self.max_seconds:
            raise Stop(f"max_seconds={self.max_seconds} reached")

    def _adopt(self, layout: Layout) -> None:
        log.debug("%d -> %d nodes (query %d)", self.best.node_count, layout.node_count, self.queries)
        self.best = layout
        self.progress.update(layout.node_count, self.queries)
        if self.on_progress is not None:
            try:
                self.on_progress(self.problem.graph_module(layout), fresh_inputs(self.problem.inputs(layout)))
            except Exception as error:  # a failing checkpoint must not end the minification
                log.warning("on_progress raised %s: %s; minifying on", type(error).__name__, error)

    # -- the passes ---------------------------------------------------------
    def shrink(self) -> None:
        """Run every pass, in order, until a whole round changes nothing."""
        reductions = [
            self.truncate_suffix,
            self.freeze_prefix,
            self.split_blocks,
            self.remove_outputs,
            self.freeze_blocks,
            self.hoist_outputs,
            self.eliminate_dead_code,
            self.remove_unused_inputs,
        ]
        while True:
            before = self.best.candidate
            for reduction in reductions:
                start = self.best.node_count
                reduction()
                if self.best.node_count != start:
                    log.debug("%s: %d -> %d nodes", reduction.__name__, start, self.best.node_count)
            if self.best.candidate == before:
                return

    def truncate_suffix(self) -> None:
        """Drop as many trailing compute nodes as possible, returning what the rest hands on.

        Probes dropping 1, 2, 4, ... nodes, then bisects: the graph stays as
        close to the original as long as possible, so a failure the original's
        outputs hid (an accuracy error behind a comparison) is not found
        before the one they show.
        """
        layout = self.best
        n = len(layout.compute)
        find_integer(lambda drop: self.consider(passes.cut_after(self.problem, layout, n - drop)), n - 1)

    def freeze_prefix(self) -> None:
        """Turn the longest possible head of the graph into inputs: find how few trailing nodes must stay."""
        layout = self.best
        find_first(
            -1, len(layout.compute), lambda keep: self.consider(passes.freeze_all_but_last(self.problem, layout, keep))
        )

    def remove_outputs(self) -> None:
        """Return as few values as possible (delta debugging over the outputs)."""
        ddmin(lambda: self.best.outputs, lambda chunk: self.consider(passes.drop_outputs(self.best, chunk)))

    def freeze_blocks(self) -> None:
        """Turn blocks of compute nodes, down to single nodes, into inputs (delta debugging)."""
        ddmin(
            lambda: [n for n in self.best.compute if self.problem.can_freeze(n)],
            lambda chunk: self.consider(passes.freeze(self.best, chunk)),
        )

    def split_blocks(self) -> None:
        """Remove exactly blocks of compute nodes, down to single nodes, returning what they used (ddmin)."""
        ddmin(
            lambda: [n for n in self.best.compute if self.problem.can_freeze(n)],
            lambda chunk: self.consider(passes.split_off(self.problem, self.best, chunk)),
        )

    def hoist_outputs(self) -> None:
        """Drop each returned compute node, returning what it was computed from instead."""
        for name in self.best.outputs:
            if name in self.best.outputs and name in self.best.compute:
                self.consider(passes.hoist_output(self.problem, self.best, name))

    def eliminate_dead_code(self) -> None:
        """Drop unused nodes the original graph kept (they may matter to a compiler, so ask)."""
        ddmin(
            lambda: [n for n in self.best.body if n in self.best.candidate.kept],
            lambda chunk: self.consider(passes.drop_kept(self.best, chunk)),
        )

    def remove_unused_inputs(self) -> None:
        """Drop inputs nothing uses (the original graph's, or frozen dead code)."""
        ddmin(
            lambda: [n for n in self.best.inputs if n in self.best.candidate.kept],
            lambda chunk: self.consider(passes.drop_kept(self.best, chunk)),
        )
