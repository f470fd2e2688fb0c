"""Child processes: one tool on one real-oracle case, with a compile cache of its own.

`python -m benchmarks.child CASE TOOL --device D --limit S` prints the run as
one JSON line. Inductor caches compiled kernels on disk; run in one process one
after the other, the second tool would be served kernels the first one paid
for, so each tool gets a fresh process and a fresh TORCHINDUCTOR_CACHE_DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import attrs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@attrs.frozen
class Finished:
    """How one child process ended."""

    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str
    seconds: float  # wall time from start to exit (or to the kill)

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_process(command: list[str], *, timeout: float, cwd: str = ROOT,
                env: Mapping[str, str | None] | None = None) -> Finished:
    """Run `command` with `env` laid over this environment (None removes a variable); past `timeout`
    seconds kill its whole process group.

    Inductor compiles in worker processes of its own, so killing the child
    alone would leave them running: the child leads a new session and the
    group goes.
    """
    start = time.perf_counter()
    environment = {k: v for k, v in dict(os.environ, **(env or {})).items() if v is not None}
    with subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
            code: int | None = child.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            stdout, stderr = child.communicate()
            code = None
        finally:
            with contextlib.suppress(ProcessLookupError):  # stragglers of a child that exited on its own
                os.killpg(child.pid, signal.SIGKILL)
    return Finished(code, stdout, stderr, time.perf_counter() - start)


def last_json_line(text: str) -> dict[str, Any] | None:
    """The last line of `text` that is a JSON object, or None."""
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_json_child(module: str, args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `python -m MODULE ARGS` from the repository root; its last JSON line, or {"error": why}."""
    done = run_process([sys.executable, "-m", module, *args], timeout=timeout, env=env)
    if done.timed_out:
        return {"error": f"child ran past {timeout:.0f} s"}
    record = last_json_line(done.stdout)
    if done.returncode != 0 or record is None:
        return {"error": f"child exited {done.returncode}: {done.stderr[-800:]}"}
    return record


def run_isolated(case: str, tool: str, device: str, limit_s: float) -> dict[str, Any]:
    """`tool` ("compdebug" or "torch") on `case` in a child process with an empty inductor cache."""
    cache = tempfile.mkdtemp(prefix=f"cdbench_cache_{tool}_")
    try:
        return run_json_child("benchmarks.child", [case, tool, "--device", device, "--limit", str(limit_s)],
                              timeout=limit_s + 300, env={"TORCHINDUCTOR_CACHE_DIR": cache})
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _warm_up_inductor(device: str) -> None:
    """One small compile, so the case does not pay inductor's cold start (imports, compiler checks)."""
    import torch

    torch._dynamo.reset()
    torch.compile(lambda x: torch.relu(x) + 1, backend="inductor")(torch.randn(8, device=device))
    torch._dynamo.reset()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run one tool on one case (a child of python -m benchmarks)")
    parser.add_argument("case")
    parser.add_argument("tool", choices=("compdebug", "torch"))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--limit", type=float, default=120)
    args = parser.parse_args(argv)

    from benchmarks.__main__ import quiet_logs
    from benchmarks.corpus import BY_NAME
    from benchmarks.runners import run_compdebug, run_torch

    quiet_logs()
    case = BY_NAME[args.case]
    if "inductor" in case.oracle:
        _warm_up_inductor(args.device)
    built = case.build(args.device)
    runner = run_compdebug if args.tool == "compdebug" else run_torch
    run = runner(built, limit_s=args.limit).to_dict()
    print(json.dumps(dict(run, culprit=built.culprit)))


if __name__ == "__main__":
    main()
