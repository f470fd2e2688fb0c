"""The program a user debugs: one real model, compiled with Inductor, with Inductor's relu bug planted.

`python -m benchmarks.real_program MODEL BUG TOOL --device D --dir DIR` builds
`real_models.MODELS[MODEL]`, compiles it with plain `torch.compile` (Inductor)
and calls it once under `torch.no_grad()`, with one of the two tools on:

- `torch`: torch's after-AOT repro, switched on as its docs say, through the
  environment the parent sets (TORCHDYNAMO_REPRO_AFTER=aot, TORCHDYNAMO_REPRO_LEVEL
  2 for compile errors, 4 for accuracy), with TORCH_COMPILE_DEBUG_DIR under DIR.
  The failing call writes `minifier_launcher.py` there; the parent runs it.
- `compdebug`: `compdebug.config.patch(repro_after=..., repro_dir=DIR/repro, ...)`;
  the failing call captures, minifies in this process and writes `repro.py`.

The bug is the same for both: Inductor's own `inject_relu_bug_TESTING_ONLY`
code-generation knobs, with the values compdebug's `inject.stage="codegen"`
sets (`compdebug.backends.spec.inductor_bug_settings`), so both tools see one
real compiler bug. The program prints one JSON line: the seconds from the
first call of the compiled model to the error reaching the program (for
compdebug that includes minifying and writing repro.py), the error, and for
compdebug what its Minifier returned.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

BUGS = ("compile_error", "accuracy")
TOOLS = ("torch", "compdebug")


def torch_environment(bug: str, debug_dir: str) -> dict[str, str]:
    """The environment that switches torch's after-AOT repro on for `bug` (as torch's minifier docs say)."""
    return {
        "TORCHDYNAMO_REPRO_AFTER": "aot",
        "TORCHDYNAMO_REPRO_LEVEL": "4" if bug == "accuracy" else "2",  # 4: also dump on an accuracy failure
        "TORCH_COMPILE_DEBUG_DIR": debug_dir,
    }


def compdebug_settings(bug: str, repro_dir: str, *, after: str = "aot", workers: int | None = None) -> dict[str, Any]:
    """The compdebug.config.patch values of the compdebug run: capture, minify, inductor's relu bug."""
    settings: dict[str, Any] = {
        "repro_after": after,
        "repro_dir": repro_dir,
        "repro_accuracy": bug == "accuracy",
        "inject.ops": {"relu": bug},
        "inject.stage": "codegen",
    }
    if workers is not None:
        settings["minifier.workers"] = workers
    return settings


def has_workers_key() -> bool:
    """Whether this compdebug has the `minifier.workers` key (parallel queries)."""
    import compdebug

    return "minifier.workers" in compdebug.config.keys()


@contextlib.contextmanager
def inductor_relu_bug(bug: str) -> Iterator[None]:
    """Inductor's relu code-generation bug of kind `bug`, set in its global config (torch's run)."""
    # checked on torch 2.13 (CPU): torch._inductor.config.patch takes a dict of dotted keys
    import torch._inductor.config as inductor_config

    from compdebug.backends.spec import inductor_bug_settings

    with inductor_config.patch(inductor_bug_settings({"relu": bug})):
        yield


@contextlib.contextmanager
def recorded_minify_results() -> Iterator[list[Any]]:
    """Every MinifyResult a compdebug Minifier returns while inside (capture keeps its own to itself).

    Observation only: Minifier.minify is wrapped to keep a reference to its
    result, and restored on exit.
    """
    from compdebug.minify.minifier import Minifier

    results: list[Any] = []
    original = Minifier.minify

    def minify(self: Any) -> Any:
        result = original(self)
        results.append(result)
        return result

    Minifier.minify = minify  # type: ignore[method-assign]
    try:
        yield results
    finally:
        Minifier.minify = original  # type: ignore[method-assign]


def records(value: Any) -> list[dict[str, Any]] | None:
    """A profile or pass table (a sequence of records, or an object holding one) as JSON-safe dicts."""
    if value is None:
        return None
    for name in ("records", "queries", "entries", "passes"):
        inner = getattr(value, name, None)
        if isinstance(inner, (list, tuple)):
            value = inner
            break
    if isinstance(value, dict):
        value = [{"name": k, **as_dict(v)} if not isinstance(v, (int, float)) else {"name": k, "value": v}
                 for k, v in value.items()]
    try:
        return [as_dict(item) for item in value]
    except TypeError:
        return None


def as_dict(item: Any) -> dict[str, Any]:
    """One record as a dict of plain values (attrs, dataclass, namedtuple, dict or any object's vars)."""
    import dataclasses

    import attrs

    if attrs.has(type(item)):
        raw = attrs.asdict(item, recurse=False)
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        raw = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    elif hasattr(item, "_asdict"):
        raw = item._asdict()
    elif isinstance(item, dict):
        raw = item
    else:
        raw = vars(item)
    return {str(k): v if isinstance(v, (int, float, str, bool, type(None))) else str(v) for k, v in raw.items()}


def minify_record(result: Any) -> dict[str, Any]:
    """What the report keeps of a MinifyResult (profile and per-pass statistics when this compdebug has them)."""
    return {
        "queries": result.queries,
        "cache_hits": result.cache_hits,
        "seconds": result.seconds,
        "original_nodes": result.original_nodes,
        "final_nodes": result.final_nodes,
        "stopped_early": result.stopped_early,
        "graph_sha1": graph_digest(result.graph_module, result.inputs),
        "profile": records(getattr(result, "profile", None)),
        "passes": records(getattr(result, "passes", None)),
    }


def graph_digest(gm: Any, inputs: Any) -> str:
    """A digest of a final graph's code and its inputs' shapes and dtypes: equal results, equal digests."""
    import hashlib

    shapes = [(tuple(x.shape), str(x.dtype)) if hasattr(x, "shape") else repr(x) for x in inputs]
    return hashlib.sha1((gm.code + repr(shapes)).encode()).hexdigest()


def run(model_name: str, bug: str, tool: str, device: str, directory: str, *, after: str = "aot",
        workers: int | None = None) -> dict[str, Any]:
    """Compile and call the model once with `tool` on; the record of what happened."""
    import torch

    import compdebug
    from benchmarks.real_models import MODELS

    model, inputs = MODELS[model_name].build(device)
    compiled = torch.compile(model)
    out: dict[str, Any] = {"model": model_name, "bug": bug, "tool": tool, "device": device}
    if tool == "compdebug":
        out["after"] = after
        tool_on: Any = compdebug.config.patch(compdebug_settings(bug, os.path.join(directory, "repro"),
                                                                 after=after, workers=workers))
    else:
        tool_on = inductor_relu_bug(bug)
    with recorded_minify_results() as results, tool_on, torch.no_grad():
        start = time.perf_counter()
        try:
            compiled(*inputs)
        except Exception as error:  # noqa: BLE001 - the failure is what this program is for
            out["seconds"] = time.perf_counter() - start
            out["error"] = f"{type(error).__name__}: {error}"[:300]
        else:
            out["seconds"] = time.perf_counter() - start
            out["error"] = None  # the bug did not fire: the parent reports it
    if results:
        out["minify"] = minify_record(results[-1])
        out["minify_runs"] = len(results)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one real model, one tool, Inductor's relu bug (see module doc)")
    parser.add_argument("model")
    parser.add_argument("bug", choices=BUGS)
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dir", required=True, help="where the tool writes (repro folder, debug folder)")
    parser.add_argument("--after", default="aot", choices=("aot", "dynamo"), help="compdebug's repro_after")
    parser.add_argument("--workers", type=int, default=None, help="compdebug's minifier.workers")
    args = parser.parse_args(argv)

    from benchmarks.__main__ import quiet_logs

    quiet_logs()
    record = run(args.model, args.bug, args.tool, args.device, args.dir, after=args.after, workers=args.workers)
    sys.stdout.flush()
    print(json.dumps(record, default=str), flush=True)


if __name__ == "__main__":
    main()
