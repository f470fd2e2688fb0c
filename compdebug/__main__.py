"""python -m compdebug: the demo, and minifying or re-running a saved checkpoint.

    python -m compdebug demo
    python -m compdebug minify CHECKPOINT_DIR [--isolate] [--max-queries N] [--offload-to-disk]
                                              [--query-timeout S] [--flaky majority] [--import MODULE]
    python -m compdebug run CHECKPOINT_DIR [--query-timeout S] [--import MODULE]
    python -m compdebug bisect CHECKPOINT_DIR [--import MODULE]
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    from compdebug.errors import CompdebugError

    try:
        return args.command(args)
    except CompdebugError as error:
        print(f"compdebug: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compdebug",
        description=__doc__.split("\n")[0],
        epilog="See python -m compdebug COMMAND --help for each command.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what compdebug does")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="minify an injected compiler bug in a small model and print the repro")
    demo.set_defaults(command=_demo)

    minify = commands.add_parser(
        "minify",
        help="minify a saved checkpoint (resumes from its best/ checkpoint)",
        description=_wrap(
            "Minify the failure saved in CHECKPOINT_DIR (a capture folder, or its checkpoint/ or best/ "
            "subfolder). Starts from the newest readable best/ checkpoint, so a run that was stopped or killed "
            "resumes where it was; updates best/ each time the graph shrinks and writes repro.py into the capture "
            "folder (or, if that cannot be written, into a temporary folder it names). Exit status: 0 when "
            "repro.py was written, 2 on a usage error (a damaged checkpoint, a backend that cannot be found)."
        ),
        epilog="examples:\n"
        "  python -m compdebug minify compdebug_repro/20250101-120000-ab12cd\n"
        "  python -m compdebug minify DIR --isolate --query-timeout 60   # a compiler that crashes or hangs\n"
        "  python -m compdebug minify DIR --import mypkg.backends        # a backend mypkg registers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    minify.add_argument("checkpoint", type=pathlib.Path, metavar="CHECKPOINT_DIR", help=_CHECKPOINT_HELP)
    minify.add_argument(
        "--isolate",
        action="store_true",
        help="run each oracle query in a child process: a segfault, abort or hang counts as a failure "
        "instead of ending the run (crashes and hangs saved by an earlier run always run isolated)",
    )
    minify.add_argument(
        "--max-queries",
        type=_positive(int),
        default=None,
        metavar="N",
        help="stop after N oracle queries, keeping the best graph so far",
    )
    minify.add_argument("--offload-to-disk", action="store_true", help="keep intermediate values on disk, not in memory")
    minify.add_argument(
        "--flaky",
        choices=("majority",),
        default=None,
        help="for a failure that comes and goes: judge each query by the majority of 3 runs "
        "(without it, a flaky failure is refused)",
    )
    _common_arguments(minify)
    minify.set_defaults(command=_minify)

    run = commands.add_parser(
        "run",
        help="re-run a saved checkpoint and say whether it still fails the same way",
        description=_wrap(
            "Re-run the failure saved in CHECKPOINT_DIR once (its newest readable checkpoint) and say "
            "whether it still fails the same way. Exit status: 1 if it still fails the same way, 0 if it no longer "
            "does (fixed, or failing differently: the line printed says how), 2 on a usage error."
        ),
        epilog="example:\n  python -m compdebug run compdebug_repro/20250101-120000-ab12cd && echo fixed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("checkpoint", type=pathlib.Path, metavar="CHECKPOINT_DIR", help=_CHECKPOINT_HELP)
    _common_arguments(run)
    run.set_defaults(command=_run)

    bisect = commands.add_parser(
        "bisect",
        help="find which backend, subsystem and op of torch.compile break a saved checkpoint",
        description=_wrap(
            "Bisect the compiler on the failure saved in CHECKPOINT_DIR (its newest readable checkpoint), in this "
            "process: the first backend of eager, aot_eager, aot_eager_decomp_partition, "
            "aot_eager_decomp_partition_crossref, inductor that fails the same way, then the subsystem within it "
            "(decomposition, lowerings, post_grad_passes, a config change, ...) and the application that first "
            "breaks it, named as torch's CompilerBisector names them. Prints the report and records it in the "
            "checkpoint's meta.json under \"bisect\". Exit status: 0 when it answered, 2 on a usage error (a "
            "damaged checkpoint, a graph that no longer fails, a crash or hang, which cannot be bisected in-process)."
        ),
        epilog="example:\n  python -m compdebug bisect compdebug_repro/20250101-120000-ab12cd",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bisect.add_argument("checkpoint", type=pathlib.Path, metavar="CHECKPOINT_DIR", help=_CHECKPOINT_HELP)
    _import_argument(bisect)
    bisect.set_defaults(command=_bisect)
    return parser


def _demo(args: argparse.Namespace) -> int:
    import torch

    import compdebug

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(16, 32)
            self.fc2 = torch.nn.Linear(32, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.tanh(self.fc1(x)) * 2
            x = torch.nn.functional.relu(x.sin() + 1)  # the op our "compiler bug" breaks
            return torch.sigmoid(self.fc2(x)).cos()

    print("compdebug demo: a compiler that cannot compile relu, and a model that uses one.\n")
    out = pathlib.Path(tempfile.mkdtemp(prefix="compdebug_demo_"))
    bug = {"repro_after": "dynamo", "repro_dir": str(out), "inject.ops": {"relu": "compile_error"}}
    events = []
    with compdebug.config.patch(bug), compdebug.compile_callbacks(end=lambda event: events.append(event)):
        model = torch.compile(Block(), backend="eager")
        try:
            model(torch.randn(4, 16))
        except Exception as error:  # Dynamo's wrapper around the original error, re-raised after capture
            root = _root_cause(error)
            print(f"\ncaught {type(error).__name__}, caused by {type(root).__name__}: {root}")
    print(f"compilations seen by an on_compile_end callback: {len(events)}")
    repro = out / "repro.py"
    print(f"\n---- {repro} ----\n{repro.read_text()}---- end ----\n")
    done = subprocess.run([sys.executable, str(repro)], capture_output=True, text=True, cwd=out)
    errors = [line for line in done.stderr.splitlines() if "Error" in line] or ["(no error printed)"]
    print(f"running the repro in a fresh process: exit code {done.returncode}, {errors[-1].strip()}")
    return 0 if done.returncode != 0 and "ReluCompileError" in done.stderr else 1


def _root_cause(error: BaseException) -> BaseException:
    """The innermost error: Dynamo keeps the backend's own as `inner_exception`."""
    while True:
        inner = error.__cause__ or getattr(error, "inner_exception", None)
        if inner is None and not error.__suppress_context__:
            inner = error.__context__
        if inner is None or inner is error:
            return error
        error = inner


_CHECKPOINT_HELP = "a capture folder (it holds checkpoint/ and best/), or one of those two subfolders"


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=min(shutil.get_terminal_size().columns, 100) - 2)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--query-timeout",
        type=_positive(float),
        default=None,
        metavar="S",
        help="a query that runs longer than S seconds counts as a 'timeout' failure",
    )
    _import_argument(parser)


def _import_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (for a backend or predicate it registers or defines); may be repeated",
    )


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive {'int' if kind is int else 'number'}, not {text!r}")
        return value

    return parse


def _import_modules(names: Sequence[str]) -> None:
    from compdebug.errors import BackendError

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise BackendError(
                f"--import {name}: {error}. Give a module importable from here (run from the folder that "
                "holds it, or install its package)."
            ) from error


def _minify(args: argparse.Namespace) -> int:
    from compdebug.capture.resume import minify_checkpoint

    _import_modules(args.imports)
    path = minify_checkpoint(
        args.checkpoint,
        isolate=args.isolate,
        max_queries=args.max_queries,
        offload_to_disk=args.offload_to_disk,
        query_timeout=args.query_timeout,
        flaky=args.flaky,
    )
    print(f"compdebug: repro written to {path}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from compdebug.capture.resume import rerun_checkpoint

    _import_modules(args.imports)
    still_fails, detail = rerun_checkpoint(args.checkpoint, query_timeout=args.query_timeout)
    print(f"compdebug: {'still fails the same way' if still_fails else 'no longer fails the same way'}: {detail}")
    return 1 if still_fails else 0


def _bisect(args: argparse.Namespace) -> int:
    from compdebug.bisect import bisect
    from compdebug.bisect.capture import record_bisect
    from compdebug.capture.resume import capture_root, newest_checkpoint, oracle_for
    from compdebug.errors import BadInputError
    from compdebug.minify.isolate import HARD_STAGES

    _import_modules(args.imports)
    checkpoint = newest_checkpoint(capture_root(args.checkpoint))
    if checkpoint.target.kind in HARD_STAGES:
        raise BadInputError(
            f"the checkpoint in {checkpoint.directory} records a {checkpoint.target.kind} "
            f"({checkpoint.target.error_type}): bisect compiles in this process, which that would take down. "
            "Minify it first (python -m compdebug minify DIR, which isolates crashes), then bisect the repro."
        )
    result = bisect(checkpoint.graph_module, checkpoint.inputs, oracle_for(checkpoint.target))
    record_bisect(checkpoint.directory, result)
    print(f"{result}\n  (graph: {checkpoint.directory}; recorded in its meta.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
