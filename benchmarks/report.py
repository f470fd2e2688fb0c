"""Turn benchmark records into a summary, markdown tables and the growth plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.real import BEYOND_TARGET
from benchmarks.suite import compdebug_queries, ratio, torch_queries

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
        _machine_line(m), "", "## Summary", "", summary_lines(report["summary"]), "",
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


# -- the real-model benchmark (python -m benchmarks --real) ----------------------------------------


def real_summary(cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The issue's figures over the real cases: the per-case budget, the geomean of beyond/minify, final sizes."""
    measured = [c for c in cases if c["beyond_ratio"] is not None]
    beyond = geomean([c["beyond_ratio"] for c in measured])
    zero = [c["name"] for c in measured if c["beyond_ratio"] == 0]  # a geomean cannot hold 0: say so
    checks = [(c["compdebug"].get("repro_check"), c["torch"].get("repro_check")) for c in cases]
    return {
        "cases": len(cases),
        "measured": len(measured),
        "within_budget": sum(1 for c in measured if c["within_budget"]),
        "beyond_ratio_geomean": beyond,
        "beyond_ratio_zero": zero,
        "beyond_target": BEYOND_TARGET,
        "beyond_met": beyond is not None and beyond <= BEYOND_TARGET and len(measured) == len(cases),
        "final_no_larger": sum(1 for c in cases if c["final_no_larger"]),
        "compdebug_repro_fails": sum(1 for ours, _ in checks if ours and ours["fails"]),
        "torch_repro_fails": sum(1 for _, theirs in checks if theirs and theirs["fails"]),
        "checked": sum(1 for ours, _ in checks if ours is not None),
        "torch_minify_stopped": [c["name"] for c in cases if c["torch_minify_stopped"]],
        "broken": [c["name"] for c in cases if c["beyond_ratio"] is None],
    }


def real_summary_lines(summary: dict[str, Any]) -> str:
    s = summary
    lines = [
        f"- compdebug's whole run within torch's capture + half its minify: {s['within_budget']} of {s['cases']} cases",
        f"- (compdebug beyond torch's capture) / (torch's minify): geometric mean {_fmt(s['beyond_ratio_geomean'])} "
        f"over {s['measured']} cases (target <= {s['beyond_target']}): {'met' if s['beyond_met'] else 'not met'}",
        f"- compdebug's final graph no larger than torch's: {s['final_no_larger']} of {s['cases']} cases",
    ]
    if s["checked"]:
        lines.append(f"- final repro still fails when run: compdebug {s['compdebug_repro_fails']} of {s['checked']}, "
                     f"torch {s['torch_repro_fails']} of {s['checked']}")
    if s["beyond_ratio_zero"]:
        lines.append(f"- compdebug took no longer than torch's capture alone (ratio 0, left out of the geomean): "
                     f"{', '.join(s['beyond_ratio_zero'])}")
    if s["torch_minify_stopped"]:
        lines.append(f"- torch's minify stopped at the time limit (its time is a lower bound): "
                     f"{', '.join(s['torch_minify_stopped'])}")
    if s["broken"]:
        lines.append(f"- no figure (a step broke, see the notes): {', '.join(s['broken'])}")
    return "\n".join(lines)


def real_table(cases: Sequence[dict[str, Any]]) -> str:
    """One row per case: torch's capture and minify, compdebug's whole run, and the issue's figures."""
    head = ("| case | nodes | torch capture s | torch minify s | torch queries | torch final | compdebug s "
            "| compdebug queries | compdebug final | budget s | within | beyond / minify |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    notes = []
    for c in cases:
        theirs, ours = c["torch"], c["compdebug"]
        minify, mine = theirs.get("minify", {}), ours.get("minify") or {}
        nodes = mine.get("original_nodes") or minify.get("original_nodes")
        minify_s = _fmt(c["torch_minify_s"], 1) + (" (stopped)" if c["torch_minify_stopped"] else "")
        rows.append(
            f"| {c['name']} | {_fmt(nodes)} | {_fmt(c['torch_capture_s'], 1)} | {minify_s} "
            f"| {_fmt(minify.get('queries'))} | {_fmt(minify.get('final_nodes'))} | {_fmt(c['compdebug_s'], 1)} "
            f"| {_fmt(mine.get('queries'))} | {_fmt(mine.get('final_nodes'))} | {_fmt(c['budget_s'], 1)} "
            f"| {_fmt(c['within_budget'])} | {_fmt(c['beyond_ratio'])} |"
        )
        for label, run in (("torch capture", theirs.get("capture", {})), ("torch minify", minify),
                           ("compdebug", ours)):
            if run.get("failed"):
                notes.append(f"- {c['name']}, {label}: {run['failed'][:300]}")
        for label, check in (("torch", theirs.get("repro_check")), ("compdebug", ours.get("repro_check"))):
            if check and not check["fails"]:
                notes.append(f"- {c['name']}, {label}: the final repro ran without failing")
    return "\n".join(rows + ([""] + notes if notes else []))


def profile_means(profile: Sequence[dict[str, Any]] | None) -> dict[str, float]:
    """Mean per query of every numeric field of a MinifyResult profile (compile, run, reference seconds, size)."""
    if not profile:
        return {}
    keys = [k for k, v in profile[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    means = {k: sum(float(r.get(k) or 0) for r in profile) / len(profile) for k in keys}
    order = ("compile", "run", "ref", "node", "size")
    return dict(sorted(means.items(), key=lambda kv: next((i for i, w in enumerate(order) if w in kv[0]), len(order))))


def profile_table(cases: Sequence[dict[str, Any]]) -> str | None:
    """Per case, compdebug's per-query means from MinifyResult.profile; None when no run had a profile."""
    rows = []
    for c in cases:
        profile = (c["compdebug"].get("minify") or {}).get("profile")
        if profile:
            means = ", ".join(f"{k} {v:.3g}" for k, v in profile_means(profile).items())
            rows.append(f"| {c['name']} | {len(profile)} | {means} |")
    if not rows:
        return None
    return "\n".join(["| case | queries profiled | mean per query |", "|---|---|---|", *rows])


def passes_table(cases: Sequence[dict[str, Any]]) -> str | None:
    """Per case and pass, compdebug's per-pass statistics (MinifyResult.passes); None when none had them."""
    rows = []
    for c in cases:
        for record in (c["compdebug"].get("minify") or {}).get("passes") or []:
            name = record.get("name", "?")
            rest = ", ".join(f"{k} {_fmt(v)}" for k, v in record.items() if k != "name")
            rows.append(f"| {c['name']} | {name} | {rest} |")
    if not rows:
        return None
    return "\n".join(["| case | pass | statistics |", "|---|---|---|", *rows])


def workers_table(cases: Sequence[dict[str, Any]]) -> str | None:
    """compdebug's whole run per minifier.workers value, its speed-up over the first, and whether the result is the same."""
    rows = []
    for c in cases:
        runs = c.get("compdebug_workers") or []
        if not runs:
            continue
        first = runs[0]
        first_sha = (first.get("minify") or {}).get("graph_sha1")
        for run in runs:
            mine = run.get("minify") or {}
            speedup = ratio(first.get("seconds"), run.get("seconds")) if "failed" not in run else None
            same = None if "failed" in run else mine.get("graph_sha1") == first_sha
            rows.append(f"| {c['name']} | {run['workers']} | {_fmt(run.get('seconds'), 1)} | {_fmt(speedup)} "
                        f"| {_fmt(mine.get('queries'))} | {_fmt(mine.get('final_nodes'))} | {_fmt(same)} |")
    if not rows:
        return None
    head = "| case | workers | compdebug s | speed-up | queries | final | same result |"
    return "\n".join([head, "|---|---|---|---|---|---|---|", *rows])


def real_markdown(report: dict[str, Any]) -> str:
    """The whole page of benchmarks/results/real-<device>.md."""
    m = report["machine"]
    parts = [
        f"# Real models: compdebug against torch's minifier ({m['device']}{', quick' if report['quick'] else ''})",
        "", _machine_line(m), "", f"Command: `{report['command']}`", "",
        "Bug: Inductor's relu code-generation bug (`inject_relu_bug_TESTING_ONLY`). torch: after-AOT repro "
        "(`TORCHDYNAMO_REPRO_AFTER=aot`, level 2, or 4 for accuracy), then `minifier_launcher.py minify "
        f"--no-isolate`; compdebug: `repro_after={report['after']!r}`, capture to repro.py in one run. "
        "Each tool with empty compile caches of its own, each step in its own process.",
        "", "Seconds: torch capture and compdebug are measured inside the program, from the first call of the "
        "compiled model to the error reaching it (compdebug has minified and written repro.py by then); torch "
        "minify is the launcher's whole process. nodes: the captured graph as compdebug's minifier counts it "
        "(torch's launcher retraces it and may count a few more). budget: torch capture + half of torch minify.",
        "", "## Summary", "", real_summary_lines(report["summary"]), "", "## Cases", "", real_table(report["cases"]), "",
    ]
    for title, table in (("compdebug per query (MinifyResult.profile)", profile_table(report["cases"])),
                         ("compdebug per pass (MinifyResult.passes)", passes_table(report["cases"])),
                         ("compdebug with minifier.workers", workers_table(report["cases"]))):
        if table:
            parts += [f"## {title}", "", table, ""]
    if report.get("workers_skipped"):
        parts += [f"`--workers` skipped: {report['workers_skipped']}", ""]
    return "\n".join(parts)


def _machine_line(m: dict[str, Any]) -> str:
    return (f"torch {m['torch']}, Python {m['python']}, {m['cpus']} CPUs, {m.get('memory_gib', '?')} GiB"
            + (f", {m['gpu']}" if m.get("gpu") else "")
            + (f"; load average at start {', '.join(f'{x:.1f}' for x in m['load_average'])}"
               if m.get("load_average") else ""))
