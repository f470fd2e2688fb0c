"""python -m benchmarks: compdebug's minifier against torch's, on CPU or CUDA.

Writes <out>/<device>.json and <out>/<device>.md (with --quick: <device>-quick.*),
and with the chain cases the growth plot (default docs/growth.png, full runs only).
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
    parser.add_argument("--quick", action="store_true", help="the smoke subset (seconds), no offload child processes")
    parser.add_argument("--case", action="append", default=[], metavar="NAME", help="run only these cases (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"), help="folder for .json and .md")
    parser.add_argument("--plot", default=None, help="growth plot path (default docs/growth.png on full runs)")
    parser.add_argument("--limit", type=float, default=120, help="seconds each tool may spend on one case")
    parser.add_argument("--offload", choices=("auto", "yes", "no"), default="auto",
                        help="run the offload memory benchmark (auto: on full runs)")
    parser.add_argument("--offload-ops", type=int, default=None, help="ops of the offload chain (default: per device)")
    parser.add_argument("--offload-side", type=int, default=None, help="side of its square float32 tensors")
    parser.add_argument("--offload-limit", type=float, default=600, help="seconds each offload configuration may take")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
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


def quiet_logs() -> None:
    """Keep the suite's output to one line per case: minifier chatter goes nowhere."""
    logging.getLogger("compdebug").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")


if __name__ == "__main__":
    sys.exit(main())
