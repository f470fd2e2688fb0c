"""Turn benchmark records into a summary, markdown tables and the growth plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.suite import compdebug_queries, torch_queries

MiB = 2**20
OFFLOAD_GROWTH_TARGET = 2.0  # peak growth with offload <= this many times the largest intermediate
OFFLOAD_TIME_TARGET = 3.0  # offload time <= this many times in-memory time


def geomean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def summarize(cases: Sequence[dict[str, Any]], offload: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures: query and time ratios, chain bounds, final sizes, offload targets."""
    ratios = [(c["query_ratio"], c["name"]) for c in cases if c["query_ratio"] is not None]
    ours = [c["compdebug"] for c in cases]
    summary: dict[str, Any] = {
        "cases": len(cases),
        "query_ratio_geomean": geomean([r for r, _ in ratios]),
        "query_ratio_worst": max(ratios) if ratios else None,
        "query_ratio_best": min(ratios) if ratios else None,
        "time_ratio_geomean": geomean([c["time_ratio"] for c in cases]),
        "compdebug_errors": [c["name"] for c in cases if c["compdebug"]["error"]],
        "torch_errors": [c["name"] for c in cases if c["torch"]["error"]],
        "compdebug_final_fails": sum(1 for r in ours if r["final_fails"]),
        "compdebug_final_runs": sum(1 for r in ours if r["final_runs"]),
        "fewer_or_equal_queries": sum(1 for c in cases if _le(compdebug_queries(c["compdebug"]), torch_queries(c["torch"]))),
        "smaller_or_equal_final": sum(1 for c in cases if _le(c["compdebug"]["final_nodes"], c["torch"]["final_nodes"])),
        "query_counts_disagree": [c["name"] for c in cases if not c["counts_agree"]],
        "chains": [
            {"name": c["name"], "nodes": c["original_nodes"], "queries": compdebug_queries(c["compdebug"]),
             "torch_queries": torch_queries(c["torch"]), "bound": c["bound"], "met": c["within_bound"]}
            for c in cases if "bound" in c
        ],
    }
    summary["offload"] = offload_targets(offload)
    return summary


def _le(a: float | None, b: float | None) -> bool:
    return a is not None and (b is None or a <= b)


def offload_targets(offload: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Where compdebug's offload stands against the issue's targets (growth <= 2x one intermediate, time <= 3x)."""
    measured = [r for r in offload if "error" not in r]
    by = {r["config"]: r for r in measured if r.get("malloc", "default") == "default"}
    if not by:
        return {}
    out: dict[str, Any] = {}
    some = next(iter(by.values()))
    intermediate = some["intermediate_mib"]
    growth_key = "cuda_growth_mib" if some["device"] == "cuda" else "rss_growth_mib"
    out["growth_measure"] = growth_key
    out["intermediate_mib"] = intermediate
    for config, record in by.items():
        out[f"{config}_growth_x_intermediate"] = record[growth_key] / intermediate
    for record in measured:
        if record.get("malloc", "default") != "default":
            out[f"{record['config']}_growth_x_intermediate_fixed_malloc"] = record["rss_growth_mib"] / intermediate
    if "compdebug_offload" in by:
        growth = by["compdebug_offload"][growth_key]
        out["growth_target_mib"] = OFFLOAD_GROWTH_TARGET * intermediate
        out["growth_met"] = growth <= OFFLOAD_GROWTH_TARGET * intermediate
    for tool in ("compdebug", "torch"):
        memory, disk = by.get(f"{tool}_memory"), by.get(f"{tool}_offload")
        if memory and disk and not memory["run"]["error"] and not disk["run"]["error"]:
            out[f"{tool}_time_x_memory"] = disk["run"]["seconds"] / memory["run"]["seconds"]
    if "compdebug_time_x_memory" in out:
        out["time_met"] = out["compdebug_time_x_memory"] <= OFFLOAD_TIME_TARGET
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def cases_table(cases: Sequence[dict[str, Any]]) -> str:
    """One row per case: queries, seconds and final nodes of both tools, and the ratios."""
    head = ("| case | oracle | nodes | queries compdebug | queries torch | query ratio | s compdebug | s torch "
            "| time ratio | final compdebug | final torch |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    notes = []
    for c in cases:
        ours, theirs = c["compdebug"], c["torch"]
        q_ours = compdebug_queries(ours)
        q_label = _fmt(q_ours)
        if not c["counts_agree"]:
            q_label += f" (wrapper: {ours['predicate_calls']})"
        rows.append(
            f"| {c['name']} | {c['oracle']} | {c['original_nodes']} | {q_label} | {_fmt(torch_queries(theirs))} "
            f"| {_fmt(c['query_ratio'])} | {_fmt(ours['seconds'])} | {_fmt(theirs['seconds'])} "
            f"| {_fmt(c['time_ratio'])} | {_fmt(ours['final_nodes'])} | {_fmt(theirs['final_nodes'])} |"
        )
        for run in (ours, theirs):
            if run["error"]:
                notes.append(f"- {c['name']}, {run['tool']}: {run['error']}")
            elif run["final_fails"] is False:
                notes.append(f"- {c['name']}, {run['tool']}: the final graph no longer fails")
    return "\n".join(rows + ([""] + notes if notes else []))


def chains_table(summary: dict[str, Any]) -> str:
    rows = ["| case | nodes | compdebug queries | torch queries | 2·log2(n) + 10 | within |", "|---|---|---|---|---|---|"]
    for c in summary["chains"]:
        rows.append(f"| {c['name']} | {c['nodes']} | {_fmt(c['queries'])} | {_fmt(c['torch_queries'])} "
                    f"| {c['bound']:.1f} | {_fmt(c['met'])} |")
    return "\n".join(rows)


def offload_table(offload: Sequence[dict[str, Any]]) -> str:
    rows = ["| configuration | malloc | seconds | queries | peak RSS growth MiB | peak CUDA growth MiB "
            "| disk peak MiB | final nodes |", "|---|---|---|---|---|---|---|---|"]
    for r in offload:
        malloc = r.get("malloc", "default")
        if "error" in r:
            rows.append(f"| {r['config']} | {malloc} | {r['error'][:200]} | | | | | |")
            continue
        run = r["run"]
        queries = run.get("queries") if run.get("queries") is not None else run.get("predicate_calls")
        seconds = _fmt(run["seconds"], 1) + (f" ({run['error']})" if run.get("error") else "")
        rows.append(f"| {r['config']} | {malloc} | {seconds} | {_fmt(queries)} | {r['rss_growth_mib']:.0f} "
                    f"| {_fmt(r['cuda_growth_mib'], 0)} | {r['disk_peak_mib']:.0f} | {_fmt(run.get('final_nodes'))} |")
    return "\n".join(rows)


def summary_lines(summary: dict[str, Any]) -> str:
    lines = []
    worst = summary["query_ratio_worst"]
    lines.append(f"- cases: {summary['cases']}; compdebug's final graph still fails in "
                 f"{summary['compdebug_final_fails']} and runs eagerly in {summary['compdebug_final_runs']}")
    lines.append(f"- query ratio compdebug/torch: geometric mean {_fmt(summary['query_ratio_geomean'])}, "
                 f"worst {_fmt(worst[0]) if worst else '–'} ({worst[1] if worst else '–'}); compdebug used "
                 f"no more queries than torch in {summary['fewer_or_equal_queries']} of {summary['cases']} cases")
    lines.append(f"- time ratio compdebug/torch: geometric mean {_fmt(summary['time_ratio_geomean'])}")
    lines.append(f"- final graph no larger than torch's in {summary['smaller_or_equal_final']} of {summary['cases']} cases")
    met = [c for c in summary["chains"] if c["met"]]
    lines.append(f"- chains within 2·log2(n) + 10 queries: {len(met)} of {len(summary['chains'])}")
    if summary["query_counts_disagree"]:
        lines.append(f"- MinifyResult.queries differs from the wrapped predicate's count in: "
                     f"{', '.join(summary['query_counts_disagree'])}")
    for key in ("compdebug_errors", "torch_errors"):
        if summary[key]:
            lines.append(f"- {key.replace('_', ' ')}: {', '.join(summary[key])}")
    off = summary.get("offload") or {}
    if "growth_met" in off:
        lines.append(f"- offload peak growth: {off['compdebug_offload_growth_x_intermediate']:.1f}x one intermediate "
                     f"({off['intermediate_mib']:.0f} MiB; target <= {OFFLOAD_GROWTH_TARGET:.0f}x): "
                     f"{'met' if off['growth_met'] else 'not met'}; one eager run of the graph alone: "
                     f"{_fmt(off.get('eager_run_growth_x_intermediate'), 1)}x")
    if "compdebug_offload_growth_x_intermediate_fixed_malloc" in off:
        lines.append(f"- with malloc's mmap threshold fixed at 1 MiB: compdebug offload "
                     f"{off['compdebug_offload_growth_x_intermediate_fixed_malloc']:.1f}x, one eager run "
                     f"{_fmt(off.get('eager_run_growth_x_intermediate_fixed_malloc'), 1)}x")
    if "time_met" in off:
        lines.append(f"- offload time: {off['compdebug_time_x_memory']:.2f}x in-memory (target <= "
                     f"{OFFLOAD_TIME_TARGET:.0f}x): {'met' if off['time_met'] else 'not met'}; torch's offload: "
                     f"{_fmt(off.get('torch_time_x_memory'))}x")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The whole results page (benchmarks/results/<device>.md)."""
    m = report["machine"]
    parts = [
        f"# Minifier benchmarks ({m['device']}{', quick subset' if report['quick'] else ''})", "",
        f"torch {m['torch']}, Python {m['python']}, {m['cpus']} CPUs, {m.get('memory_gib', '?')} GiB"
        + (f", {m['gpu']}" if m.get("gpu") else "")
        + (f"; load average at start {', '.join(f'{x:.1f}' for x in m['load_average'])}" if m.get("load_average") else ""),
        "", "## Summary", "", summary_lines(report["summary"]), "",
        "## Cases", "", "Ratios are compdebug / torch (below 1: compdebug needed fewer).", "",
        cases_table(report["cases"]), "", "## Chains with one culprit", "", chains_table(report["summary"]), "",
    ]
    if report["offload"]:
        parts += ["## Disk offload", "", offload_table(report["offload"]), ""]
    return "\n".join(parts)


def growth_plot(cases: Sequence[dict[str, Any]], path: str) -> bool:
    """Queries and seconds against graph size for the one-culprit chains, both tools; False without data."""
    chains = sorted((c for c in cases if c["family"] == "chain"), key=lambda c: c["original_nodes"])
    if len(chains) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [c["original_nodes"] for c in chains]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for tool, count, style in (("compdebug", compdebug_queries, "o-"), ("torch", torch_queries, "s--")):
        left.plot(sizes, [count(c[tool]) for c in chains], style, label=tool)
        right.plot(sizes, [c[tool]["seconds"] for c in chains], style, label=tool)
    left.plot(sizes, [2 * math.log2(n) + 10 for n in sizes], ":", color="gray", label="2·log2(n) + 10")
    left.set(xscale="log", xlabel="graph nodes", ylabel="oracle queries", title="queries (one culprit)")
    right.set(xscale="log", yscale="log", xlabel="graph nodes", ylabel="seconds", title="wall time (one culprit)")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
