"""python -m compdebug: capture a program's failures, minify or re-run a saved checkpoint, the demo.

    python -m compdebug capture [--after dynamo|aot] [--accuracy] [--bisect] [--dir DIR] [--set KEY=VALUE ...]
                                (SCRIPT | -m MODULE) [ARGS ...]
    python -m compdebug demo
    python -m compdebug minify CHECKPOINT_DIR [--isolate] [--max-queries N] [--offload-to-disk]
                                              [--query-timeout S] [--flaky majority] [--import MODULE]
    python -m compdebug run CHECKPOINT_DIR [--query-timeout S] [--import MODULE]
    python -m compdebug bisect CHECKPOINT_DIR [--import MODULE]
"""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import pathlib
import runpy
import shutil
import subprocess
import sys
import tempfile
import textwrap
import types
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose, program=args.command is _capture)
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
    _add_capture_command(commands)

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


def _configure_logging(verbose: bool, *, program: bool) -> None:
    """Log to stderr; while running the user's program, touch only compdebug's logger
    (a root handler would make the program's own `logging.basicConfig` do nothing)."""
    level = logging.INFO if verbose else logging.WARNING
    if not program:
        logging.basicConfig(level=level, format="%(name)s: %(message)s")
    elif verbose:
        logger = logging.getLogger("compdebug")
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


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


# -- capture: run a program unchanged, with capture in force -------------------------

_CAPTURE_USAGE = (
    "python -m compdebug capture [--after dynamo|aot] [--accuracy] [--bisect] [--dir DIR] "
    "[--set KEY=VALUE ...] (SCRIPT | -m MODULE) [ARGS ...]"
)


def _add_capture_command(commands: Any) -> None:
    capture = commands.add_parser(
        "capture",
        help="run a program unchanged with capture on; print where each repro went",
        usage=_CAPTURE_USAGE,
        description=_wrap(
            "Run SCRIPT (or -m MODULE) with ARGS exactly as `python SCRIPT ARGS` (`python -m MODULE ARGS`) would: "
            "its __main__, sys.argv, sys.path[0] and exit status are the program's own. While it runs, every "
            "failing torch.compile graph is captured, minified and written as repro.py (config repro_after); at the "
            "end one line per capture names its folder and repro.py. Everything after SCRIPT or -m MODULE belongs "
            "to the program. Exit status: the program's (an uncaught exception prints its traceback and gives 1), "
            "or 2 when the options are wrong (an unknown config key, a bad value, no such script or module)."
        ),
        epilog="examples:\n"
        "  python -m compdebug capture train.py --epochs 1\n"
        "  python -m compdebug capture --after aot -m mypkg.train --lr 0.1\n"
        "  python -m compdebug capture --accuracy --dir repros --set minifier.max_seconds=600 train.py\n"
        "  python -m compdebug capture --set \"inject.ops={'relu': 'compile_error'}\" train.py   # try it out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    capture.add_argument(
        "--after",
        choices=("dynamo", "aot"),
        default="dynamo",
        help="capture the graphs Dynamo hands the backend (dynamo, the default: any backend) or the graphs "
        "AOT Autograd hands Inductor's compiler (aot: aten ops, forward and backward)",
    )
    capture.add_argument(
        "--accuracy", action="store_true", help="also capture compiled results that differ from eager (repro_accuracy)"
    )
    capture.add_argument(
        "--bisect", action="store_true", help="bisect each failing graph to the compiler stage that breaks it first"
    )
    capture.add_argument(
        "--dir",
        type=pathlib.Path,
        default=None,
        help="put each capture in a fresh subfolder of DIR (default: under ./compdebug_repro/)",
    )
    capture.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_setting,
        default=[],
        metavar="KEY=VALUE",
        help="set any config key (python -c 'import compdebug; print(compdebug.config.describe())' lists them); "
        "VALUE is a Python literal (3, 1e-2, True, None, {'relu': 'compile_error'}), anything else a string; "
        "applied after the options above; may be repeated",
    )
    capture.add_argument("-m", dest="module", action="store_true", help="run library module MODULE as a script")
    capture.add_argument("program", metavar="SCRIPT | MODULE", help="the script to run (or, with -m, the module)")
    capture.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="the program's own arguments")
    capture.set_defaults(command=_capture)


def _setting(text: str) -> tuple[str, Any]:
    """KEY=VALUE -> (KEY, VALUE as a Python literal, or the text itself when it is not one)."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE, e.g. minifier.max_queries=100")
    try:
        return key.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return key.strip(), value


def _capture(args: argparse.Namespace) -> int:
    from compdebug.capture.checkpoint import fresh_capture_dir
    from compdebug.capture.report import recording_captures
    from compdebug.config import config
    from compdebug.errors import ProgramError

    patch = config.patch(_capture_settings(args))  # a bad key or value is refused here, before the program runs
    folder = None if args.dir is None else (lambda: fresh_capture_dir(args.dir))
    with patch, recording_captures(folder) as records:
        try:
            status = run_program(args.program, args.args, module=args.module)
        except ProgramError:  # the program never started: nothing to list
            raise
        except BaseException:  # Ctrl-C: still say what was captured so far
            _print_captures(records)
            raise
        _print_captures(records)
        return status


def _print_captures(records: Sequence[Any]) -> None:
    for line in capture_lines(records):
        print(f"compdebug: {line}", file=sys.stderr)


def _capture_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {"repro_after": args.after}
    if args.accuracy:
        settings["repro_accuracy"] = True
    if args.bisect:
        settings["bisect"] = True
    settings.update(args.settings)
    return settings


def capture_lines(records: Sequence[Any]) -> list[str]:
    """One line per capture: its folder and its repro.py (or how to finish a checkpoint-only one).

    A folder removed since (the pytest plugin removes those of passing tests) is not listed.
    """
    kept = [r for r in records if r.folder.is_dir()]
    if not kept:
        return ["nothing captured (no compiled graph failed)" if not records else "no capture left (their folders were removed)"]
    return [
        f"captured in {r.folder}: "
        + (str(r.repro) if r.repro is not None else f"checkpoint only, finish with: python -m compdebug minify {r.folder}")
        for r in kept
    ]


def run_program(program: str, args: Sequence[str], *, module: bool = False) -> int:
    """Run `python PROGRAM ARGS` (or `python -m PROGRAM ARGS`) in this process; return its exit status.

    The program gets its own `__main__` module, `sys.argv` and `sys.path[0]`, as
    Python sets them; an uncaught exception prints its traceback (through
    `sys.excepthook`) and gives 1, `SystemExit` gives its code. sys.argv, sys.path
    and sys.modules["__main__"] are put back afterwards.
    """
    from compdebug.errors import ProgramError

    if not module and not os.path.isfile(program):
        reason = "no such file" if not os.path.exists(program) else "it is not a file"
        raise ProgramError(f"can't open file {os.path.abspath(program)!r}: {reason}. Give a Python script, or -m MODULE.")
    saved_argv, saved_path, saved_main = sys.argv, sys.path[:], sys.modules["__main__"]
    try:
        if module:
            if not getattr(sys.flags, "safe_path", False):  # python -P (3.11+): no sys.path[0]
                sys.path[0] = os.getcwd()
            _find_module(program)
            sys.argv = [program, *args]  # run_module makes argv[0] the module's file, as python -m does
            runpy.run_module(program, run_name="__main__", alter_sys=True)
        else:
            sys.argv = [program, *args]
            if not getattr(sys.flags, "safe_path", False):  # python -P (3.11+): no sys.path[0]
                sys.path[0] = os.path.dirname(os.path.realpath(program))
            _run_script(program)
    except SystemExit as done:
        return _exit_status(done.code)
    except ProgramError:
        raise
    except Exception as error:
        _print_uncaught(error)
        return 1
    finally:
        sys.argv, sys.modules["__main__"] = saved_argv, saved_main
        sys.path[:] = saved_path
    return 0


def _find_module(name: str) -> None:
    from compdebug.errors import ProgramError

    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError as error:
        raise ProgramError(f"-m {name}: {error}. Run from the folder that holds it, or install its package.") from error
    except (ImportError, ValueError) as error:
        raise ProgramError(f"-m {name}: cannot find it ({type(error).__name__}: {error})") from error
    if not found:
        raise ProgramError(f"-m {name}: no module named {name!r}. Run from the folder that holds it, or install its package.")


def _run_script(path: str) -> None:
    """Execute the script at `path` as the `__main__` module, as `python path` does."""
    filename = os.path.abspath(path)
    with open(filename, "rb") as file:
        source = file.read()
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=filename,
        __builtins__=builtins,
        __loader__=importlib.machinery.SourceFileLoader("__main__", filename),
        __spec__=None,
        __package__=None,
        __cached__=None,
    )
    sys.modules["__main__"] = main
    exec(compile(source, filename, "exec", dont_inherit=True), main.__dict__)


def _exit_status(code: object) -> int:
    """The exit status Python gives `raise SystemExit(code)`: None is 0, an int itself, else printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


# frames of the runner itself, left out of the program's traceback
_RUNNER_FILES = frozenset({_run_script.__code__.co_filename, runpy.run_module.__code__.co_filename})


def _print_uncaught(error: BaseException) -> None:
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_frame.f_code.co_filename in _RUNNER_FILES:
        traceback = traceback.tb_next
    sys.excepthook(type(error), error.with_traceback(traceback), traceback)


if __name__ == "__main__":
    sys.exit(main())
