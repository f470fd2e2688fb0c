"""python -m compdebug: the demo, and minifying or re-running a saved checkpoint.

    python -m compdebug demo
    python -m compdebug minify CHECKPOINT_DIR [--isolate] [--max-queries N] [--offload-to-disk]
    python -m compdebug run CHECKPOINT_DIR
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Sequence


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
    parser = argparse.ArgumentParser(prog="python -m compdebug", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what compdebug does")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="minify an injected compiler bug in a small model and print the repro")
    demo.set_defaults(command=_demo)

    minify = commands.add_parser(
        "minify",
        help="minify a saved checkpoint (resumes from its best/ checkpoint)",
        description="Minify the failure saved in CHECKPOINT_DIR (a capture folder or its checkpoint/ "
        "or best/ subfolder). Resumes from the newest best/ checkpoint and writes repro.py beside it.",
    )
    minify.add_argument("checkpoint", type=pathlib.Path, metavar="CHECKPOINT_DIR")
    minify.add_argument("--isolate", action="store_true", help="run each oracle query in a child process")
    minify.add_argument("--max-queries", type=int, default=None, metavar="N", help="stop after N oracle queries")
    minify.add_argument("--offload-to-disk", action="store_true", help="keep intermediate values on disk")
    minify.set_defaults(command=_minify)

    run = commands.add_parser(
        "run",
        help="re-run a saved checkpoint and say whether it still fails the same way",
        description="Re-run the failure saved in CHECKPOINT_DIR once; exit 1 if it still fails the same way, 0 if not.",
    )
    run.add_argument("checkpoint", type=pathlib.Path, metavar="CHECKPOINT_DIR")
    run.set_defaults(command=_run)
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


def _minify(args: argparse.Namespace) -> int:
    from compdebug.capture.resume import minify_checkpoint

    path = minify_checkpoint(
        args.checkpoint, isolate=args.isolate, max_queries=args.max_queries, offload_to_disk=args.offload_to_disk
    )
    print(f"compdebug: repro written to {path}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from compdebug.capture.resume import rerun_checkpoint

    still_fails, detail = rerun_checkpoint(args.checkpoint)
    print(f"compdebug: {'still fails the same way' if still_fails else 'no longer fails the same way'}: {detail}")
    return 1 if still_fails else 0


if __name__ == "__main__":
    sys.exit(main())
