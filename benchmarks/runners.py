"""Run one case through compdebug's Minifier and through torch's own fx minifier.

Both get a deep copy of the same graph, the same inputs and the same predicate
(wrapped to count its calls); each run is summarised as a `ToolRun`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import time
from typing import Any

import attrs
import torch
import torch.fx as fx

from benchmarks.corpus import Built
from benchmarks.oracles import Counting, OutOfTime, Predicate


@attrs.define
class ToolRun:
    """What one minifier did with one case."""

    tool: str  # "compdebug" or "torch"
    queries: int | None  # the tool's own count (compdebug: MinifyResult.queries; torch: its "Made N queries")
    predicate_calls: int | None  # calls our wrapper counted (None when compdebug got a failure object)
    seconds: float  # wall time of the whole minification
    original_nodes: int
    final_nodes: int | None = None
    final_fails: bool | None = None  # the result still fails the oracle (checked afterwards, not counted)
    final_runs: bool | None = None  # the result runs eagerly on its inputs
    cache_hits: int | None = None
    error: str | None = None  # why there is no result (out of time, a crash)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def run_compdebug(built: Built, *, limit_s: float, offload_to_disk: bool = False,
                  save_dir: str | None = None) -> ToolRun:
    """Minify `built` with compdebug.Minifier; a failure object if the case has one, else the counted predicate."""
    import compdebug

    counting = Counting(built.predicate)
    oracle = built.failure if built.failure is not None else counting
    gm = copy.deepcopy(built.gm)
    run = ToolRun("compdebug", None, None, 0.0, len(gm.graph.nodes))
    start = time.perf_counter()
    try:
        result = compdebug.Minifier(gm, list(built.inputs), oracle, offload_to_disk=offload_to_disk,
                                    save_dir=save_dir, max_seconds=limit_s, progress=False).minify()
    except Exception as error:  # noqa: BLE001 - a broken run is a result to report, not a crash of the suite
        run.seconds = time.perf_counter() - start
        run.error = f"{type(error).__name__}: {error}"[:500]
        return run
    run.seconds = time.perf_counter() - start
    run.queries = result.queries
    run.cache_hits = result.cache_hits
    run.predicate_calls = counting.calls if built.failure is None else None
    _check_final(run, built.predicate, result.graph_module, list(result.inputs))
    return run


def run_torch(built: Built, *, limit_s: float, offload_to_disk: bool = False,
              save_dir: str | None = None) -> ToolRun:
    """Minify `built` with torch._functorch.fx_minifier.minifier (its output silenced), stopped after `limit_s`."""
    # checked on torch 2.13 (CPU): minifier(fail_f, inps, module_fails, dump_state, *, save_dir,
    # offload_to_disk, ...) -> (GraphModule, inputs); prints to stdout and stderr.
    from torch._functorch.fx_minifier import minifier

    gm = copy.deepcopy(built.gm)
    run = ToolRun("torch", None, None, 0.0, len(gm.graph.nodes))
    start = time.perf_counter()
    counting = Counting(built.predicate, deadline=start + limit_s)
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter), _tensor_reader(
                save_dir if offload_to_disk else None):
            out_gm, out_inputs = minifier(gm, list(built.inputs), counting, dump_state=_quiet,
                                          save_dir=save_dir, offload_to_disk=offload_to_disk)
    except OutOfTime:
        run.seconds = time.perf_counter() - start
        run.predicate_calls = counting.calls
        run.error = f"stopped after {limit_s:.0f} s ({counting.calls} queries so far)"
        return run
    except Exception as error:  # noqa: BLE001
        run.seconds = time.perf_counter() - start
        run.predicate_calls = counting.calls
        run.error = f"{type(error).__name__}: {error}"[:500]
        return run
    run.seconds = time.perf_counter() - start
    run.predicate_calls = counting.calls
    made = re.findall(r"Made (\d+) queries", chatter.getvalue())
    run.queries = int(made[-1]) if made else counting.calls
    with _tensor_reader(save_dir if offload_to_disk else None):
        _check_final(run, built.predicate, out_gm, list(out_inputs))
    return run


def _check_final(run: ToolRun, predicate: Predicate, gm: fx.GraphModule, inputs: list[Any]) -> None:
    """Fill in the result's node count, whether it still fails and whether it runs eagerly."""
    run.final_nodes = len(gm.graph.nodes)
    try:
        run.final_fails = bool(predicate(gm, inputs))
    except Exception:  # noqa: BLE001
        run.final_fails = False
    try:
        with torch.no_grad():
            gm(*inputs)
        run.final_runs = True
    except Exception:  # noqa: BLE001 - an injected run-time bug only fires when compiled, so eager must run
        run.final_runs = False


def _quiet(gm: fx.GraphModule, inputs: Any) -> None:
    """torch's dump_state, silenced (it prints the whole graph's code before every round)."""


@contextlib.contextmanager
def _tensor_reader(save_dir: str | None):
    """With torch's offload, let its load_tensor nodes read the saved values (else they return random data)."""
    if save_dir is None:
        yield
        return
    # checked on torch 2.13 (CPU): debugprims.load_tensor reads through this global reader
    from torch._prims.debug_prims import load_tensor_reader

    with load_tensor_reader(save_dir):
        yield
