"""compdebug.bisect against torch's CompilerBisector, side by side in one run.

    python -m benchmarks.bisect [--model gpt2] [--mode warm|cold|both] [--rounds N] [--out DIR]

The failure: HF GPT-2 with relu as its activation (benchmarks.real_models
MODELS["gpt2_relu"], so that the graph holds relus) compiled by Inductor with its
relu lowering bug (torch._inductor.config.cpp.inject_relu_bug_TESTING_ONLY =
"accuracy"; triton's on CUDA). torch's CompilerBisector.do_bisect re-runs the
program (torch.compile of the model, judged against eager) each step;
compdebug.bisect gets the graph Dynamo captured and AccuracyFailure("inductor").
Both judge with compdebug.accuracy.check_accuracy (same tolerance, fp64 reference).

Each tool runs in a child process of its own with an empty Inductor cache, one
after the other (torch first in odd rounds, compdebug first in even ones). Mode "warm": the failing program
ran once before the bisect starts (as it has when a user reaches for a bisector:
Inductor's kernel cache holds what that run compiled); "cold": nothing was
compiled before. Only the bisect itself is timed, in wall seconds and in CPU
seconds (the process and the g++ runs it waited for; Inductor compiles in the
process, TORCHINDUCTOR_COMPILE_THREADS=1, so none escape the count): on a shared
machine wall time moves with the load of others, CPU time much less. Writes
DIR/bisect-<device>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

from benchmarks.child import ROOT, run_json_child

TOOLS = ("torch", "compdebug")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bisect", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2_relu", help="a benchmarks.real_models name with relus in it")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--mode", default="both", choices=("warm", "cold", "both"))
    parser.add_argument("--rounds", type=int, default=1, help="rounds per mode (each runs both tools once)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one child may take")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- in a child: one tool, one bisect ---------------------------------------------
def build(model_name: str, device: str) -> tuple[Any, tuple[Any, ...]]:
    from benchmarks.real_models import MODELS

    return MODELS[model_name].build(device)


def relu_bug(device: str) -> dict[str, str]:
    return {("triton" if device == "cuda" else "cpp") + ".inject_relu_bug_TESTING_ONLY": "accuracy"}


def warm_up_imports(device: str) -> None:
    """One tiny compile, so that neither tool pays Inductor's first import and compiler checks."""
    import torch

    torch._dynamo.reset()
    torch.compile(lambda x: torch.relu(x) + 1, backend="inductor")(torch.randn(8, device=device))
    torch._dynamo.reset()


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (g++ runs: TORCHINDUCTOR_COMPILE_THREADS=1)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_torch(model: Any, inputs: tuple[Any, ...], device: str, warm: bool) -> dict[str, Any]:
    import torch
    import torch._inductor.config as inductor_config
    from torch._inductor.compiler_bisector import CompilerBisector

    from compdebug.accuracy import check_accuracy

    runs = 0

    def program_passes() -> bool:
        nonlocal runs
        runs += 1
        torch._dynamo.reset()
        with inductor_config.patch(relu_bug(device)):
            ok, _ = check_accuracy(model, torch.compile(model), list(inputs))
        return ok

    if warm:
        program_passes()  # the failing run the user saw
        runs = 0
    started, cpu = time.perf_counter(), cpu_seconds()
    found = CompilerBisector.do_bisect(program_passes)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "backend": found.backend if found else None,
        "subsystem": found.subsystem if found else None,
        "application": None if found is None or found.bisect_number is None else found.bisect_number + 1,
        "detail": found.debug_info if found else None,
        "queries": runs,
        "seconds": seconds,
        "cpu_seconds": cpu,
    }


def run_compdebug(model: Any, inputs: tuple[Any, ...], device: str, warm: bool) -> dict[str, Any]:
    import torch

    import compdebug
    from compdebug import _torch

    graphs: list[tuple[Any, list[Any]]] = []

    def capture(gm: Any, example_inputs: list[Any]) -> Any:
        graphs.append((gm, list(example_inputs)))
        if warm:  # the failing run the user saw: Inductor compiles this graph once
            with _torch.inductor_config_patch(relu_bug(device)):
                return _torch.compile_fx(gm, example_inputs)
        return gm.forward

    torch._dynamo.reset()
    torch.compile(model, backend=capture)(*inputs)
    torch._dynamo.reset()
    if len(graphs) != 1:
        raise SystemExit(f"expected one graph from Dynamo, got {len(graphs)}")
    gm, example_inputs = graphs[0]
    with compdebug.config.patch({"inject.ops": {"relu": "accuracy"}, "inject.stage": "codegen"}):
        failure = compdebug.AccuracyFailure("inductor")  # the spec records the codegen bug knob
    cpu = cpu_seconds()
    result = compdebug.bisect(gm, example_inputs, failure)
    cpu = cpu_seconds() - cpu
    return {
        "backend": result.backend,
        "subsystem": result.subsystem,
        "application": result.application,
        "detail": result.detail,
        "queries": result.queries,
        "seconds": result.seconds,
        "cpu_seconds": cpu,
        "nodes": len(gm.graph.nodes),
        "steps": list(result.steps),
    }


def child(args: argparse.Namespace) -> None:
    import logging

    logging.disable(logging.WARNING)
    mode_warm = args.mode == "warm"
    model, inputs = build(args.model, args.device)
    warm_up_imports(args.device)
    run = run_torch if args.child == "torch" else run_compdebug
    print(json.dumps(run(model, inputs, args.device, mode_warm)), flush=True)


# -- the parent: both tools, side by side ------------------------------------------
def one_run(tool: str, args: argparse.Namespace, mode: str) -> dict[str, Any]:
    cache = tempfile.mkdtemp(prefix=f"cdbisect_{tool}_")
    try:
        flags = ["--child", tool, "--mode", mode, "--model", args.model, "--device", args.device]
        env = {"TORCHINDUCTOR_CACHE_DIR": cache, "PYTHONPATH": ROOT, "TORCHINDUCTOR_COMPILE_THREADS": "1"}
        return run_json_child("benchmarks.bisect", flags, timeout=args.timeout, env=env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def same_answer(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    return all(ours.get(key) == theirs.get(key) for key in ("backend", "subsystem", "application", "detail"))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for mode in sorted({run["mode"] for run in runs}):
        pairs = [run for run in runs if run["mode"] == mode and "error" not in run["torch"] and "error" not in run["compdebug"]]
        if not pairs:
            continue
        ratios = [pair["compdebug"]["seconds"] / pair["torch"]["seconds"] for pair in pairs]
        cpu_ratios = [pair["compdebug"]["cpu_seconds"] / pair["torch"]["cpu_seconds"] for pair in pairs]
        summary[mode] = {
            "rounds": len(pairs),
            "torch_seconds": statistics.median(pair["torch"]["seconds"] for pair in pairs),
            "compdebug_seconds": statistics.median(pair["compdebug"]["seconds"] for pair in pairs),
            "time_ratio_median": statistics.median(ratios),
            "time_ratio_worst": max(ratios),
            "torch_cpu_seconds": statistics.median(pair["torch"]["cpu_seconds"] for pair in pairs),
            "compdebug_cpu_seconds": statistics.median(pair["compdebug"]["cpu_seconds"] for pair in pairs),
            "cpu_ratio_median": statistics.median(cpu_ratios),
            "cpu_ratio_worst": max(cpu_ratios),
            "torch_queries": pairs[0]["torch"]["queries"],
            "compdebug_queries": pairs[0]["compdebug"]["queries"],
            "same_answer": all(pair["same_answer"] for pair in pairs),
        }
    return summary


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"# bisect: compdebug.bisect vs torch CompilerBisector ({result['model']}, relu lowering bug, {machine['device']})",
        "",
        f"torch {machine['torch']}, {machine['cpus']} CPUs, load average at start {machine.get('load_average')}",
        "",
        "| mode | round | tool | backend | subsystem | application | detail | queries | seconds | CPU seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in result["runs"]:
        for tool in TOOLS:
            r = run[tool]
            if "error" in r:
                lines.append(f"| {run['mode']} | {run['round']} | {tool} | error: {r['error'][:80]} | | | | | | |")
                continue
            lines.append(
                f"| {run['mode']} | {run['round']} | {tool} | {r['backend']} | {r['subsystem']} | {r['application']} "
                f"| {r['detail']} | {r['queries']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} |"
            )
    lines += ["", "| mode | rounds | torch s | compdebug s | time ratio (median, worst) | torch CPU s | compdebug CPU s "
              "| CPU ratio (median, worst) | queries (torch, compdebug) | same answer |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for mode, s in result["summary"].items():
        lines.append(
            f"| {mode} | {s['rounds']} | {s['torch_seconds']:.1f} | {s['compdebug_seconds']:.1f} | "
            f"{s['time_ratio_median']:.2f}, {s['time_ratio_worst']:.2f} | {s['torch_cpu_seconds']:.1f} | "
            f"{s['compdebug_cpu_seconds']:.1f} | {s['cpu_ratio_median']:.2f}, {s['cpu_ratio_worst']:.2f} | "
            f"{s['torch_queries']}, {s['compdebug_queries']} | {s['same_answer']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        child(args)
        return 0
    from benchmarks.suite import machine

    modes = ("warm", "cold") if args.mode == "both" else (args.mode,)
    result: dict[str, Any] = {"model": args.model, "machine": machine(args.device), "runs": []}
    for mode in modes:
        for round_ in range(1, args.rounds + 1):
            run: dict[str, Any] = {"mode": mode, "round": round_}
            for tool in TOOLS if round_ % 2 else TOOLS[::-1]:  # alternate who goes first: load drifts
                run[tool] = one_run(tool, args, mode)
                shown = run[tool].get("error") or f"{run[tool]['seconds']:.1f} s, {run[tool]['queries']} queries"
                print(f"{mode} round {round_} {tool}: {shown}", flush=True)
            run["same_answer"] = "error" not in run["torch"] and same_answer(run["compdebug"], run["torch"])
            result["runs"].append(run)
    result["summary"] = summarize(result["runs"])
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"bisect-{args.device}")
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1, default=str)
    with open(stem + ".md", "w") as f:
        f.write(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
