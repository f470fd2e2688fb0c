"""python -m benchmarks: compdebug's minifier against torch's, on CPU or CUDA.

Writes <out>/<device>.json and <out>/<device>.md (with --quick: <device>-quick.*),
and with the chain cases the growth plot (default docs/growth.png, full runs only).
With --real: real models and Inductor's relu bug, each tool as a user runs it,
capture to repro (benchmarks/real.py); writes <out>/real-<device>.json and .md.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import time
import warnings
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--quick", action="store_true",
                        help="the smoke subset (seconds), no offload child processes; with --real: one model, one bug")
    parser.add_argument("--case", action="append", default=[], metavar="NAME", help="run only these cases (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"), help="folder for .json and .md")
    parser.add_argument("--plot", default=None, help="growth plot path (default docs/growth.png on full runs)")
    parser.add_argument("--limit", type=float, default=None,
                        help="seconds each tool may spend on one case (default 120; --real: each step, default 1200)")
    parser.add_argument("--offload", choices=("auto", "yes", "no"), default="auto",
                        help="run the offload memory benchmark (auto: on full runs)")
    parser.add_argument("--offload-ops", type=int, default=None, help="ops of the offload chain (default: per device)")
    parser.add_argument("--offload-side", type=int, default=None, help="side of its square float32 tensors")
    parser.add_argument("--offload-limit", type=float, default=600, help="seconds each offload configuration may take")
    real = parser.add_argument_group("real models (--real)")
    real.add_argument("--real", action="store_true",
                      help="real models, Inductor's relu bug: torch's repro_after=aot + minifier launcher against "
                           "compdebug's capture, each in its own process with empty caches")
    real.add_argument("--after", default="aot", choices=("aot", "dynamo"), help="compdebug's repro_after (--real)")
    real.add_argument("--workers", default=None, metavar="N,N,...",
                      help="run compdebug once per minifier.workers value, e.g. 1,2,4,8 (--real)")
    real.add_argument("--no-check", action="store_true", help="do not run the final repros afterwards (--real)")
    real.add_argument("--keep", default=None, metavar="DIR", help="keep each case's folders under DIR (--real)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.real:
        return main_real(args, argv)
    args.limit = 120 if args.limit is None else args.limit
    from benchmarks import corpus

    if args.list:
        for case in corpus.CASES:
            print(f"{case.name:<34} {case.family:<13} {case.oracle:<24} {'quick' if case.quick else ''}")
        return 0
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda needs a CUDA GPU; none is visible", file=sys.stderr)
        return 2
    quiet_logs()
    from benchmarks import offload, report, suite

    log = functools.partial(print, flush=True)
    cases = corpus.select(quick=args.quick, names=args.case)
    started = time.perf_counter()
    result: dict[str, Any] = {"machine": suite.machine(args.device), "quick": args.quick, "limit_s": args.limit}
    result["cases"] = suite.run_cases(cases, args.device, limit_s=args.limit, log=log)
    run_offload = args.offload == "yes" or (args.offload == "auto" and not args.quick and not args.case)
    result["offload"] = offload.run_all(args.device, ops=args.offload_ops, side=args.offload_side,
                                        limit_s=args.offload_limit, log=log) if run_offload else []
    result["summary"] = report.summarize(result["cases"], result["offload"])
    result["seconds"] = time.perf_counter() - started
    stem = args.device + ("-quick" if args.quick else "") + ("-some" if args.case else "")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(report.markdown(result))
    plot = args.plot or (os.path.join(ROOT, "docs", "growth.png") if not args.quick and not args.case else None)
    if plot and report.growth_plot(result["cases"], plot):
        log(f"plot: {plot}")
    log(f"results: {os.path.join(args.out, stem)}.json, .md ({result['seconds']:.0f} s)")
    print(report.summary_lines(result["summary"]))
    return 0


def main_real(args: argparse.Namespace, argv: list[str] | None) -> int:
    """python -m benchmarks --real: the real-model table of issue 10."""
    from benchmarks import real

    if args.list:
        for case in real.all_cases():
            model = real.MODELS[case.model]
            where = "cpu" if case.model in real.CPU_MODELS else "cuda"
            print(f"{case.name:<26} {where:<5} {'available' if model.available else 'needs ' + model.needs}")
        return 0
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda needs a CUDA GPU; none is visible", file=sys.stderr)
        return 2
    from benchmarks import report, suite
    from benchmarks.real_program import has_workers_key

    log = functools.partial(print, flush=True)
    workers, skipped = real_workers(args.workers, has_workers_key())
    if skipped:
        log(f"--workers skipped: {skipped}")
    selected = real.cases(args.device, quick=args.quick, names=args.case)
    if not selected:
        print(f"no real case can run on {args.device} here (models need: "
              f"{sorted({real.MODELS[m].needs for m in real.CUDA_MODELS})})", file=sys.stderr)
        return 2
    limit = 1200 if args.limit is None else args.limit
    started = time.perf_counter()
    result: dict[str, Any] = {
        "machine": suite.machine(args.device), "quick": args.quick, "limit_s": limit, "after": args.after,
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "workers_skipped": skipped,
    }
    result["cases"] = real.run_all(selected, args.device, limit_s=limit, after=args.after, workers=workers,
                                   check=not args.no_check, keep=args.keep, log=log)
    result["summary"] = report.real_summary(result["cases"])
    result["seconds"] = time.perf_counter() - started
    stem = f"real-{args.device}" + ("-quick" if args.quick else "") + ("-some" if args.case else "")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(report.real_markdown(result))
    log(f"results: {os.path.join(args.out, stem)}.json, .md ({result['seconds']:.0f} s)")
    print(report.real_summary_lines(result["summary"]))
    return 0


def real_workers(option: str | None, available: bool) -> tuple[tuple[int | None, ...], str | None]:
    """The minifier.workers values of --workers "1,2,4", and why they are skipped (None: not skipped)."""
    if option is None:
        return (None,), None
    try:
        values = tuple(int(v) for v in option.split(","))
    except ValueError:
        raise SystemExit(f"--workers takes comma-separated positive ints such as 1,2,4,8; got {option!r}") from None
    if not values or min(values) < 1:
        raise SystemExit(f"--workers takes comma-separated positive ints such as 1,2,4,8; got {option!r}")
    if not available:
        return (None,), "this compdebug has no minifier.workers key yet; compdebug ran once with its defaults"
    return values, None


def quiet_logs() -> None:
    """Keep the suite's output to one line per case: minifier chatter goes nowhere."""
    logging.getLogger("compdebug").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")


if __name__ == "__main__":
    sys.exit(main())
