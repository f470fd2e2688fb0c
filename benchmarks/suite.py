"""Run the corpus through both minifiers and collect one record per case.

Real-oracle cases run each tool in a child process with an empty Inductor
cache, so that neither tool is served compiled code the other one paid for.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from benchmarks.child import run_isolated
from benchmarks.corpus import Case
from benchmarks.runners import ToolRun, run_compdebug, run_torch


def chain_bound(nodes: int) -> float:
    """The issue's query budget for a chain with one culprit: 2 * log2(n) + 10."""
    return 2 * math.log2(nodes) + 10


def compdebug_queries(run: dict[str, Any]) -> int | None:
    """The query count of a compdebug run: MinifyResult.queries, else what the wrapper counted."""
    return run["queries"] if run["queries"] is not None else run["predicate_calls"]


def torch_queries(run: dict[str, Any]) -> int | None:
    """The query count of a torch run: calls of its module_fails (our wrapper), else its own "Made N queries"."""
    return run["predicate_calls"] if run["predicate_calls"] is not None else run["queries"]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def run_case(case: Case, device: str, *, limit_s: float) -> dict[str, Any]:
    """Minify `case` on `device` with both tools and return its record.

    Cheap-oracle cases run in this process; real-oracle cases run each tool in
    a child process of its own (benchmarks.child), with an empty compile cache.
    """
    if case.oracle == "inspect":
        built = case.build(device)
        culprit, nodes = built.culprit, len(built.gm.graph.nodes)
        ours = run_compdebug(built, limit_s=limit_s).to_dict()
        theirs = run_torch(built, limit_s=limit_s).to_dict()
    else:
        ours, theirs = (_isolated(case, tool, device, limit_s) for tool in ("compdebug", "torch"))
        culprit = ours.pop("culprit", None) or theirs.pop("culprit", None)
        theirs.pop("culprit", None)
        nodes = ours["original_nodes"] or theirs["original_nodes"]  # 0 where a child broke before building
    record: dict[str, Any] = {
        "name": case.name, "family": case.family, "oracle": case.oracle, "device": device,
        "culprit": culprit, "original_nodes": nodes, "size": case.size, "compdebug": ours, "torch": theirs,
    }
    q_ours, q_theirs = compdebug_queries(ours), torch_queries(theirs)
    record["query_ratio"] = None if theirs["error"] or ours["error"] else ratio(q_ours, q_theirs)
    record["time_ratio"] = None if theirs["error"] or ours["error"] else ratio(ours["seconds"], theirs["seconds"])
    record["counts_agree"] = ours["predicate_calls"] is None or ours["predicate_calls"] == ours["queries"]
    if case.family == "chain":
        bound = chain_bound(record["original_nodes"])
        record["bound"] = bound
        record["within_bound"] = q_ours is not None and q_ours <= bound
    return record


def run_cases(cases: Sequence[Case], device: str, *, limit_s: float,
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every case in order, one log line each."""
    records = []
    for case in cases:
        start = time.perf_counter()
        record = run_case(case, device, limit_s=limit_s)
        records.append(record)
        log(_one_line(record, time.perf_counter() - start))
    return records


def _isolated(case: Case, tool: str, device: str, limit_s: float) -> dict[str, Any]:
    """`tool`'s run of `case` from a child process, shaped like ToolRun.to_dict() also when the child broke."""
    run = run_isolated(case.name, tool, device, limit_s)
    if "tool" not in run:
        run = dict(ToolRun(tool, None, None, 0.0, 0, error=run["error"]).to_dict())
    return run


def _one_line(record: dict[str, Any], seconds: float) -> str:
    ours, theirs = record["compdebug"], record["torch"]
    parts = [f"{record['name']:<32}", f"nodes {record['original_nodes']:>5}",
             f"queries {compdebug_queries(ours)} vs {torch_queries(theirs)}",
             f"final {ours['final_nodes']} vs {theirs['final_nodes']}", f"({seconds:.1f} s)"]
    for run in (ours, theirs):
        if run["error"]:
            parts.append(f"[{run['tool']}: {run['error'][:120]}]")
    return "  ".join(parts)


def machine(device: str) -> dict[str, Any]:
    """Where the figures were taken."""
    import os

    info: dict[str, Any] = {
        "device": device, "torch": torch.__version__, "python": platform.python_version(),
        "cpus": os.cpu_count(), "platform": platform.platform(),
    }
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            info["memory_gib"] = round(int(meminfo.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
