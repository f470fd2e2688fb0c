"""`Minifier`: shrink a failing FX graph, in this process, to a small graph that fails the same way.

It checks the original fails, records every node's eager value once, runs the
shrinker, and returns a `MinifyResult` that writes the repro.
"""

from __future__ import annotations

import logging
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch
import torch.fx

from compdebug import symbolic
from compdebug.config import config
from compdebug.errors import BadInputError, FailureChangedError, FlakyFailureError, GraphDoesNotFailError
from compdebug.minify.executor import make_executor
from compdebug.minify.isolate import DEFAULT_ISOLATED_TIMEOUT, HARD_STAGES, hard_failure_target, oracle_payload
from compdebug.minify.oracles import Oracle, Signature, as_oracle, describe_target, reproduces
from compdebug.minify.problem import Problem
from compdebug.minify.progress import make_progress
from compdebug.minify.root import PrivateRoot
from compdebug.minify.shrinker import OnProgress, Shrinker, Stop
from compdebug.minify.tensors import fresh_inputs
from compdebug.symbolic import concrete
from compdebug.minify.values import InMemoryValues, ValueStore, run_eager
from compdebug.repro.target import ReproTarget

log = logging.getLogger("compdebug.minify")


@attrs.frozen
class MinifyResult:
    """The smallest failing graph found, its inputs, and how the search went."""

    graph_module: torch.fx.GraphModule = attrs.field(eq=False)
    inputs: list[Any] = attrs.field(eq=False)
    queries: int  # oracle evaluations actually run
    cache_hits: int  # candidates answered from the cache instead
    seconds: float
    original_nodes: int  # len(graph.nodes), as torch counts
    final_nodes: int
    random_inputs: bool  # the graph also fails on random inputs, so the repro needs no saved values
    target: ReproTarget
    stopped_early: str | None = None  # why the search ended before a fixpoint (budget, Ctrl-C)

    def repro_module(self) -> str:
        """`class Repro(torch.nn.Module): ...` with the graph's forward."""
        from compdebug.repro import module_text

        return module_text(self.graph_module)

    def repro_script(self) -> str:
        """A standalone script that exits non-zero with the original error while the bug is present."""
        from compdebug.repro import script_text

        return script_text(self.graph_module, self.inputs, self.target, random_inputs=self.random_inputs)

    def save(self, directory: str | os.PathLike[str]) -> pathlib.Path:
        """Write repro.py (and the saved input values unless `random_inputs`); return the path of repro.py."""
        from compdebug.repro import save

        return save(directory, self.graph_module, self.inputs, self.target, random_inputs=self.random_inputs)


class Minifier:
    """Shrink `gm` (failing on `inputs` the way `failure` says) to a 1-minimal graph that fails the same way.

    `failure`: `CompileFailure(backend)`, `RuntimeFailure(backend)`,
    `AccuracyFailure(backend, ...)` or a callable `(gm, inputs) -> bool`.
    Arguments left None take `compdebug.config.minifier.*`. `save_dir` is
    where offloaded values go (`offload_to_disk`; a folder created in it is
    removed at the end). `on_progress(gm, inputs)` is called each time the best
    graph shrinks. `query_timeout`: seconds after which a query counts as a
    "timeout" failure. `flaky`: None refuses a failure that comes and goes
    (`FlakyFailureError`); "majority" judges each query by the majority of 3 runs.
    `expect`: the failure the original graph must show (capture passes the one it
    caught, a resumed run the one its checkpoint records); if it fails otherwise,
    `minify` raises `FailureChangedError`.
    `target` (how the failure reproduces) is known once `minify` has checked the original.
    """

    def __init__(
        self,
        gm: torch.fx.GraphModule,
        inputs: Sequence[Any],
        failure: Oracle | Callable[[torch.fx.GraphModule, list[Any]], bool],
        offload_to_disk: bool | None = None,
        save_dir: str | os.PathLike[str] | None = None,
        max_queries: int | None = None,
        max_seconds: float | None = None,
        isolate: bool | None = None,
        progress: bool | None = None,
        *,
        on_progress: OnProgress | None = None,
        query_timeout: float | None = None,
        flaky: str | None = None,
        expect: ReproTarget | None = None,
    ) -> None:
        _check_graph(gm, inputs)
        self.expect = expect
        self.gm = gm
        self.inputs = [concrete(x) for x in inputs]  # a SymInt input stands for its number
        self.oracle = as_oracle(failure)
        settings = config.minifier

        def given(value: Any, default: Any) -> Any:
            return default if value is None else value

        self.offload_to_disk = _flag("offload_to_disk", given(offload_to_disk, settings.offload_to_disk))
        self.max_queries = _limit("max_queries", given(max_queries, settings.max_queries), int)
        self.max_seconds = _limit("max_seconds", given(max_seconds, settings.max_seconds), float)
        self.isolate = _flag("isolate", given(isolate, settings.isolate))
        self.progress = _flag("progress", given(progress, True))
        self.save_dir = save_dir
        self.on_progress = on_progress
        self.query_timeout = _limit("query_timeout", given(query_timeout, settings.query_timeout), float)
        self.flaky = _flaky(flaky)
        self.target: ReproTarget | None = None
        if self.isolate:
            oracle_payload(self.oracle)  # refuses, now, a failure check a child process cannot receive

    def minify(self) -> MinifyResult:
        """Search; stop at a 1-minimal graph, or early (budget, Ctrl-C) with the best graph so far."""
        started = time.monotonic()
        root = PrivateRoot(self.gm)
        problem = Problem(root.module, root.module, self.inputs)
        progress = make_progress(self.progress, len(self.gm.graph.nodes))
        executor = make_executor(self.isolate, self.query_timeout, self.flaky)
        shrinker = Shrinker(
            problem,
            self.oracle,
            executor,
            max_queries=self.max_queries,
            max_seconds=self.max_seconds,
            progress=progress,
            on_progress=self.on_progress,
            after_query=root.restore,
        )
        store: ValueStore | None = None
        try:
            self._establish(shrinker)
            self.target = self._repro_target(shrinker.signature)
            store = self._store()
            problem.attach_values(run_eager(root.module, self.inputs, store), store)
            root.restore()
            stopped = _shrink(shrinker)
            random_ok = stopped is None and _random_inputs_fail(shrinker)
            best = shrinker.best
            result_gm = problem.graph_module(best)
            result_inputs = fresh_inputs(problem.inputs(best))
        finally:
            progress.close()
            executor.close()
            if store is not None:
                store.close()
        result = MinifyResult(
            graph_module=result_gm,
            inputs=result_inputs,
            queries=shrinker.queries + getattr(executor, "extra_runs", 0),  # majority votes run more
            cache_hits=shrinker.cache_hits,
            seconds=time.monotonic() - started,
            original_nodes=len(self.gm.graph.nodes),
            final_nodes=len(result_gm.graph.nodes),
            random_inputs=random_ok,
            target=self.target,
            stopped_early=stopped,
        )
        log.info(
            "minified %d -> %d nodes in %d queries (%d cache hits, %.1f s)%s",
            result.original_nodes, result.final_nodes, result.queries, result.cache_hits, result.seconds,
            f"; stopped early: {stopped}" if stopped else "",
        )
        return result

    def _establish(self, shrinker: Shrinker) -> None:
        observed = shrinker.establish()
        if self.expect is not None and not reproduces(observed, self.expect):
            raise FailureChangedError(
                f"the graph was captured failing {describe_target(self.expect)}, but with {self.oracle.describe()} "
                f"it gives: {_outcome(observed)}",
                observed,
            )
        if shrinker.signature is None and observed is not None and observed.stage in HARD_STAGES:
            shrinker.signature = observed  # a compiler that crashes or hangs is a bug to report too
            log.warning(
                "the original graph fails with a %s (%s), not as %s checks: minifying that %s%s",
                observed.stage, observed.describe(), self.oracle.describe(), observed.stage,
                "; if the compiler is only slow, raise query_timeout" if observed.stage == "timeout" else "",
            )
        if self.flaky is None:
            _check_steady(shrinker, observed)
        if shrinker.signature is None:
            raise GraphDoesNotFailError(_does_not_fail_message(self.oracle, observed))
        log.debug("the original graph fails %s", shrinker.signature.describe())

    def _repro_target(self, signature: Signature) -> ReproTarget:
        if signature.stage in HARD_STAGES:
            timeout = DEFAULT_ISOLATED_TIMEOUT if self.query_timeout is None else self.query_timeout
            return hard_failure_target(self.oracle, signature, timeout)
        return self.oracle.repro_target(signature)

    def _store(self) -> ValueStore:
        if not self.offload_to_disk:
            return InMemoryValues()
        from compdebug.minify.offload import DiskValues

        return DiskValues(self.save_dir)


def _check_steady(shrinker: Shrinker, first: Signature | None) -> None:
    """Ask about the original graph once more (a counted query): a failure that comes and goes is refused."""
    if shrinker.max_queries is not None and shrinker.queries >= shrinker.max_queries:
        return  # no query left to spend on it
    best, problem = shrinker.best, shrinker.problem
    shrinker.queries += 1
    try:
        again = shrinker.executor.evaluate(shrinker.oracle, problem.graph_module(best), problem.inputs(best))
    finally:
        shrinker.after_query()
    if again == first:
        return
    raise FlakyFailureError(
        f"the original graph does not fail the same way twice with {shrinker.oracle.describe()}: first "
        f"{_outcome(first)}, then {_outcome(again)}. A failure that comes and goes cannot be minified one run "
        "per query: make it deterministic (fixed seeds and inputs, torch.use_deterministic_algorithms(True)), "
        "or pass flaky='majority' to judge each query by the majority of 3 runs."
    )


def _outcome(signature: Signature | None) -> str:
    return "no failure" if signature is None else signature.describe()


def _shrink(shrinker: Shrinker) -> str | None:
    """Run the shrinker; return why it stopped early, or None when it reached a fixpoint."""
    try:
        shrinker.shrink()
    except Stop as stop:
        reason = str(stop)
    except KeyboardInterrupt:
        reason = "interrupted (Ctrl-C)"
    else:
        return None
    log.warning(
        "minify stopped early (%s) after %d queries; keeping the best graph found so far (%d nodes)",
        reason, shrinker.queries, shrinker.best.node_count,
    )
    return reason


def _random_inputs_fail(shrinker: Shrinker) -> bool:
    try:
        return shrinker.fails_with_random_inputs()
    except (Stop, KeyboardInterrupt):
        return False


def _does_not_fail_message(oracle: Oracle, observed: Signature | None) -> str:
    if observed is None:
        outcome = {
            "compile": "it compiled without error",
            "runtime": "it compiled and ran without error",
            "accuracy": "compiled and eager results agree",
            "predicate": "the predicate returned False",
        }.get(oracle.kind, "no failure was seen")
    else:
        outcome = f"it failed differently ({observed.describe()}), which {oracle.describe()} does not count"
        hint = {"compile": "CompileFailure", "runtime": "RuntimeFailure"}.get(observed.stage)
        if hint and hint != type(oracle).__name__:
            outcome += f"; to minify that failure, use {hint}(backend)"
    return (
        f"the graph given to the minifier does not fail with {oracle.describe()}: {outcome}. "
        "Check that the backend, compdebug.config.inject (bug injection) and the inputs (count, shapes, "
        "dtypes, devices, requires_grad) are those of the failing run; a failure that comes and goes "
        "cannot be minified."
    )


def _check_graph(gm: Any, inputs: Any) -> None:
    if not isinstance(gm, torch.fx.GraphModule):
        raise BadInputError(
            f"the minifier works on a torch.fx.GraphModule (the graph a torch.compile backend receives); got "
            f"{type(gm).__name__}. Trace a module with torch.fx.symbolic_trace, or let compdebug capture the "
            "failing graph (compdebug.config.patch(repro_after='dynamo'))."
        )
    if not isinstance(inputs, (list, tuple)):
        raise BadInputError(
            f"inputs must be a list or tuple of values, one per graph input; got {type(inputs).__name__}"
        )
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(inputs):
        raise BadInputError(
            f"the graph takes {len(placeholders)} inputs ({', '.join(n.name for n in placeholders) or 'none'}) but "
            f"{len(inputs)} values were given; pass one value per placeholder, in order."
        )
    for i, (node, value) in enumerate(zip(placeholders, inputs)):
        problem = _mismatch(node.meta.get("val", node.meta.get("example_value")), value)
        if problem is not None:
            raise BadInputError(
                f"input {i} ({node.name}) does not match the graph: {problem}. Pass the values the graph was "
                "captured with (one per placeholder, in order, with the shapes it was traced for)."
            )
    clashes = symbolic.conflicting_symbols(symbolic.describe_graph(gm), inputs)
    if clashes:
        described = "; ".join(f"{name} is {' and '.join(map(str, values))}" for name, values in clashes.items())
        raise BadInputError(
            f"the inputs disagree on the graph's symbolic sizes: {described}. The graph was traced with dynamic "
            "shapes, where sizes (and int inputs) that share a symbol are equal: keep them equal."
        )


def _mismatch(expected: Any, value: Any) -> str | None:
    """What differs between a placeholder's recorded example value and `value` (shapes; symbolic
    sizes match any size, `conflicting_symbols` checks that equal symbols get equal sizes)."""
    if isinstance(expected, torch.SymInt) and not isinstance(value, (int, torch.SymInt)):
        return f"the graph was traced with an int here (the symbolic size {expected}), got {type(value).__name__}"
    if not isinstance(expected, torch.Tensor):
        return None
    shape = [s if isinstance(s, int) else "?" for s in expected.shape]
    if not isinstance(value, torch.Tensor):
        return f"the graph was traced with a tensor of shape {shape}, got {type(value).__name__} {value!r}"[:300]
    if len(shape) != value.dim() or any(s != "?" and s != v for s, v in zip(shape, value.shape)):
        return f"the graph was traced with shape {shape}, got shape {list(value.shape)}"
    return None


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadInputError(f"Minifier({name}=...) must be True, False or None; got {value!r}")
    return value


def _limit(name: str, value: Any, kind: type) -> Any:
    numbers = (int, float) if kind is float else (int,)
    if value is None or (isinstance(value, numbers) and not isinstance(value, bool) and value > 0):
        return value
    words = "a positive number" if kind is float else "a positive int"
    raise BadInputError(f"Minifier({name}=...) must be {words} or None; got {value!r}")


def _flaky(value: Any) -> str | None:
    if value is None or value == "majority":
        return value
    raise BadInputError(
        f"Minifier(flaky=...) must be None (refuse a failure that comes and goes) or 'majority' "
        f"(judge each query by the majority of 3 runs); got {value!r}"
    )
