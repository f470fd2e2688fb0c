"""Real models, real compiler bug, both tools as a user runs them (`python -m benchmarks --real`).

For each case (a model of `real_models.MODELS` and a kind of Inductor's relu
bug) three kinds of process run, one after the other, each in a fresh folder:

1. torch's capture: `benchmarks.real_program ... torch` with torch's after-AOT
   repro on; the failing call writes `minifier_launcher.py`;
2. torch's minify: `python minifier_launcher.py minify --no-isolate` (the
   launcher knows from the capture whether it minifies an accuracy failure);
3. compdebug: `benchmarks.real_program ... compdebug` (capture, minify and
   repro.py in the failing call), once per `--workers` value.

Each tool has an Inductor cache of its own (TORCHINDUCTOR_CACHE_DIR and
TRITON_CACHE_DIR in a fresh folder): torch's two steps share theirs, as they
would on a user's machine; compdebug's runs start empty. Afterwards (not
timed) each tool's final repro is run once to see that it still fails.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from benchmarks.child import ROOT, Finished, last_json_line, run_process
from benchmarks.real_models import MODELS
from benchmarks.real_program import BUGS, compdebug_settings, torch_environment

# CPU: the HF models (GPT-2, BERT and ViT with relu as their activation, so the relu bug reaches them);
# CUDA: torchvision's resnet18, where torchvision is installed
CPU_MODELS = ("gpt2_relu", "bert_relu", "resnet", "vit_relu")
CUDA_MODELS = ("resnet18",)
QUICK = ("resnet", "compile_error")  # one model, one bug: the cheapest of the set (about 2 minutes on 2 cores)
TORCH_REPRO_VARIABLES = tuple(torch_environment("compile_error", ""))
CACHE_VARIABLES = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
BUG_IN_OUTPUT = {"compile_error": re.compile(r"compile ?error|compilationerror", re.I),
                 "accuracy": re.compile(r"accuracy", re.I)}


@attrs.frozen
class RealCase:
    model: str
    bug: str

    @property
    def name(self) -> str:
        return f"{self.model}_{self.bug}"


def all_cases() -> list[RealCase]:
    """Every real case, CPU set then CUDA set."""
    return [RealCase(m, b) for m in (*CPU_MODELS, *CUDA_MODELS) for b in BUGS]


def cases(device: str, *, quick: bool = False, names: Sequence[str] = ()) -> list[RealCase]:
    """The cases of `device` whose model can be built here; `quick`: one; `names`: those (any device)."""
    if quick:
        return [RealCase(*QUICK)]
    models = CPU_MODELS if device == "cpu" else CUDA_MODELS
    every = all_cases()
    if names:
        unknown = set(names) - {c.name for c in every}
        if unknown:
            raise SystemExit(f"unknown real case(s) {sorted(unknown)}; known: {[c.name for c in every]}")
        return [c for c in every if c.name in names]
    return [RealCase(m, b) for m in models for b in BUGS if MODELS[m].available]


def fresh_cache(root: pathlib.Path, tool: str, shared: str | None = None) -> dict[str, str]:
    """Empty compile caches for one tool: Inductor's (FX graph, AOT autograd, C++ kernels) and Triton's.

    With `shared`, that folder instead, for every tool and step: warm after
    the first compile (smoke tests; such figures are not cold-cache figures).
    """
    cache = pathlib.Path(shared) if shared is not None else root / f"cache_{tool}"
    cache.mkdir(parents=True, exist_ok=shared is not None)
    return dict(zip(CACHE_VARIABLES, (str(cache / "inductor"), str(cache / "triton"))))


def run_program(case: RealCase, tool: str, device: str, directory: pathlib.Path, limit_s: float,
                env: Mapping[str, str | None], extra: Sequence[str] = ()) -> dict[str, Any]:
    """benchmarks.real_program for `tool`, run in `directory` (torch drops a repro.py into its working folder)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "benchmarks.real_program", case.model, case.bug, tool, "--device", device,
               "--dir", str(directory), *extra]
    done = run_process(command, cwd=str(directory), timeout=limit_s, env=dict(env, PYTHONPATH=path))
    return program_record(done, limit_s)


def program_record(done: Finished, limit_s: float) -> dict[str, Any]:
    """The JSON line of a real_program run plus its process time, or what went wrong."""
    record = last_json_line(done.stdout) or {}
    record["process_seconds"] = done.seconds
    if done.timed_out:
        record["failed"] = f"ran past {limit_s:.0f} s"
    elif done.returncode != 0 or "seconds" not in record:
        record["failed"] = f"exited {done.returncode}: {done.stderr[-600:]}"
    elif record.get("error") is None:
        record["failed"] = "the bug did not fire: the compiled model ran without error"
    return record


def run_torch(case: RealCase, device: str, root: pathlib.Path, limit_s: float,
              shared_cache: str | None = None) -> dict[str, Any]:
    """torch's capture, then its minifier launcher; one record with both steps."""
    cache = fresh_cache(root, "torch", shared_cache)
    env = dict(cache, **torch_environment(case.bug, str(root / "torch" / "debug")))
    capture = run_program(case, "torch", device, root / "torch", limit_s, env)
    out: dict[str, Any] = {"capture": capture}
    launchers = sorted((root / "torch" / "debug").rglob("minifier_launcher.py"))
    if "failed" in capture or not launchers:
        out["failed"] = capture.get("failed") or "torch wrote no minifier_launcher.py"
        return out
    work = root / "torch" / "work"
    work.mkdir()
    done = run_process([sys.executable, str(launchers[-1]), "minify", "--no-isolate"], cwd=str(work),
                       timeout=limit_s, env=env)
    out["minify"] = parse_torch_minify(done)
    if done.timed_out:
        out["minify"]["failed"] = f"ran past {limit_s:.0f} s"
    elif done.returncode != 0:
        out["minify"]["failed"] = f"exited {done.returncode}: {done.stderr[-600:]}"
    out["repro"] = str(work / "repro.py")
    out["env"] = env
    out["cache_env"] = cache
    return out


def parse_torch_minify(done: Finished) -> dict[str, Any]:
    """What torch's minifier says on stderr: its start size, its query count, the size of each checkpoint."""
    log = done.stderr
    started = re.findall(r"Started off with (\d+) nodes", log)
    made = re.findall(r"Made (\d+) queries", log)
    sizes = [int(n) for n in re.findall(r"Writing checkpoint with (\d+) nodes", log)]
    return {
        "seconds": done.seconds,
        "original_nodes": int(started[-1]) if started else None,
        "queries": int(made[-1]) if made else None,
        "final_nodes": sizes[-1] if sizes and made else None,
        "smallest_so_far": min(sizes) if sizes else None,  # where a run that was stopped had got to
        "granularity_steps": len(re.findall(r"Trying granularity", log)),
    }


def run_compdebug(case: RealCase, device: str, root: pathlib.Path, limit_s: float, *, after: str,
                  workers: int | None, shared_cache: str | None = None) -> dict[str, Any]:
    """compdebug's whole run (capture, minify, repro.py) in a process with an empty cache."""
    label = f"compdebug_w{workers}" if workers is not None else "compdebug"
    directory = root / label
    env: dict[str, str | None] = dict(fresh_cache(root, label, shared_cache))
    env.update(dict.fromkeys(TORCH_REPRO_VARIABLES))  # torch's own repro stays off, whatever the shell says
    extra = ["--after", after] + (["--workers", str(workers)] if workers is not None else [])
    record = run_program(case, "compdebug", device, directory, limit_s, env, extra)
    record["workers"] = workers
    record["settings"] = compdebug_settings(case.bug, str(directory / "repro"), after=after, workers=workers)
    repro = directory / "repro" / "repro.py"
    if repro.exists():
        record["repro"] = str(repro)
        record["repro_sha1"] = hashlib.sha1(repro.read_bytes()).hexdigest()
    elif "failed" not in record:
        record["failed"] = "no repro.py was written"
    record["env"] = env
    record["cache_env"] = {k: env[k] for k in CACHE_VARIABLES}
    return record


def check_repro(path: str | None, bug: str, cache_env: Mapping[str, str], limit_s: float) -> dict[str, Any] | None:
    """Run a final repro once (untimed, torch's repro off): it should exit non-zero, saying the bug's kind."""
    if not path or not os.path.exists(path):
        return None
    env = dict(cache_env, **dict.fromkeys(TORCH_REPRO_VARIABLES))
    done = run_process([sys.executable, path], cwd=os.path.dirname(path), timeout=limit_s, env=env)
    output = done.stdout + done.stderr
    return {
        "fails": done.returncode not in (0, None),
        "says_bug": bool(BUG_IN_OUTPUT[bug].search(output)),
        "returncode": done.returncode,
        "tail": output[-300:] if done.returncode in (0, None) else None,
    }


def run_case(case: RealCase, device: str, *, limit_s: float, after: str = "aot",
             workers: Sequence[int | None] = (None,), check: bool = True, keep: str | None = None,
             shared_cache: str | None = None) -> dict[str, Any]:
    """Both tools on `case`; the record holds every step's figures and the issue's two ratios.

    `keep`: leave the case's folders under it; `shared_cache`: see `fresh_cache`.
    """
    if keep is not None:
        os.makedirs(keep, exist_ok=True)
    root = pathlib.Path(tempfile.mkdtemp(prefix=f"cdreal_{case.name}_", dir=keep))
    try:
        theirs = run_torch(case, device, root, limit_s, shared_cache)
        ours = [run_compdebug(case, device, root, limit_s, after=after, workers=n, shared_cache=shared_cache)
                for n in workers]
        if check:
            theirs["repro_check"] = check_repro(theirs.get("repro"), case.bug, theirs.get("cache_env", {}), limit_s)
            ours[0]["repro_check"] = check_repro(ours[0].get("repro"), case.bug, ours[0]["cache_env"], limit_s)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    record = {"name": case.name, "model": case.model, "bug": case.bug, "device": device,
              "caches": "one shared folder" if shared_cache else "fresh, one per tool",
              "torch": theirs, "compdebug": ours[0], "compdebug_workers": ours if workers != (None,) else []}
    record.update(figures(theirs, ours[0]))
    return record


# the targets: compdebug's whole run <= torch's capture + half its minify; geomean of
# (compdebug beyond torch's capture) / (torch's minify) <= 0.3
HALF = 0.5
BEYOND_TARGET = 0.3


def figures(theirs: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """The issue's two figures for one case; None where a step has no time (it broke).

    A torch minify stopped at the time limit counts with the limit as its time
    (a lower bound, flagged `torch_minify_stopped`); one that crashed counts not.
    """
    capture = theirs.get("capture", {}).get("seconds")
    minify = theirs.get("minify", {})
    stopped = str(minify.get("failed", "")).startswith("ran past")
    minify_s = minify.get("seconds") if stopped or "failed" not in minify else None
    whole = ours.get("seconds")
    out: dict[str, Any] = {"torch_capture_s": capture, "torch_minify_s": minify_s, "compdebug_s": whole,
                           "torch_minify_stopped": stopped, "budget_s": None, "within_budget": None,
                           "beyond_ratio": None, "final_no_larger": None}
    if capture is None or minify_s is None or whole is None or "failed" in ours or "failed" in theirs:
        return out
    out["budget_s"] = capture + HALF * minify_s
    out["within_budget"] = whole <= out["budget_s"]
    out["beyond_ratio"] = max(whole - capture, 0.0) / minify_s if minify_s > 0 else None
    ours_final, theirs_final = (ours.get("minify") or {}).get("final_nodes"), minify.get("final_nodes")
    if ours_final is not None:
        out["final_no_larger"] = theirs_final is None or ours_final <= theirs_final
    return out


def run_all(selected: Sequence[RealCase], device: str, *, limit_s: float, after: str,
            workers: Sequence[int | None], check: bool, keep: str | None,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    records = []
    for case in selected:
        start = time.perf_counter()
        record = run_case(case, device, limit_s=limit_s, after=after, workers=workers, check=check, keep=keep)
        records.append(record)
        log(one_line(record, time.perf_counter() - start))
    return records


def one_line(record: dict[str, Any], seconds: float) -> str:
    """One progress line per case."""
    theirs, ours = record["torch"], record["compdebug"]
    minify, mine = theirs.get("minify", {}), ours.get("minify") or {}
    parts = [
        f"{record['name']:<26}",
        f"torch {_s(record['torch_capture_s'])} + {_s(record['torch_minify_s'])} s, {minify.get('queries')} q, "
        f"{minify.get('final_nodes')} nodes",
        f"compdebug {_s(record['compdebug_s'])} s, {mine.get('queries')} q, {mine.get('final_nodes')} nodes",
        f"beyond/minify {_s(record['beyond_ratio'], 2)}",
        f"({seconds:.0f} s)",
    ]
    for tool, run in (("torch", theirs), ("torch minify", minify), ("compdebug", ours)):
        if run.get("failed"):
            parts.append(f"[{tool}: {run['failed'][:160]}]")
    return "  ".join(parts)


def _s(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"
