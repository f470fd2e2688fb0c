"""Checkpoints: a captured failure on disk, written before anything else happens.

A checkpoint folder holds `graph.py` (the graph as Python source, like any
repro script), `tensors.pt` (inputs and module state, loaded with
`weights_only=True`) and `meta.json` (how it failed, with what, where).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import pathlib
import shutil
import tempfile
import uuid
from typing import Any

import attrs
import torch

from compdebug.backends.spec import BackendSpec, resolve_backend
from compdebug.config import config
from compdebug.errors import BackendError, CheckpointError
from compdebug.repro.module import render_module, state_tensors
from compdebug.repro.target import ReproTarget
from compdebug.repro.tensors import load_tensors, save_tensors, set_module_tensors

log = logging.getLogger("compdebug.capture")

FORMAT = 1
GRAPH_FILE, INPUTS_FILE, STATE_FILE, META_FILE = "graph.py", "inputs.pt", "state.pt", "meta.json"


@attrs.frozen
class Checkpoint:
    """A captured failure read back from disk."""

    directory: pathlib.Path
    graph_module: torch.fx.GraphModule
    inputs: list[Any]
    target: ReproTarget
    stage: str
    meta: dict[str, Any]


def new_repro_dir() -> pathlib.Path:
    """The folder for one capture: `config.repro_dir`, or a fresh one under ./compdebug_repro/."""
    if config.repro_dir is not None:
        return pathlib.Path(config.repro_dir)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("compdebug_repro") / f"{stamp}-{uuid.uuid4().hex[:6]}"


def writable_dir(wanted: pathlib.Path) -> pathlib.Path:
    """`wanted` if it can be written, else a fresh temporary folder (and say so)."""
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        probe = wanted / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
        return wanted
    except OSError as error:
        fallback = pathlib.Path(tempfile.mkdtemp(prefix="compdebug_repro_"))
        log.warning("cannot write to %s (%s); writing the checkpoint to %s instead", wanted, error, fallback)
        return fallback


def write_checkpoint(
    directory: pathlib.Path, gm: torch.fx.GraphModule, inputs: list[Any], target: ReproTarget, stage: str
) -> pathlib.Path:
    """Write a checkpoint atomically (a temporary folder renamed into place); return its path."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        source = render_module(gm)
        (staging / GRAPH_FILE).write_text("\n".join(["import torch", *source.imports, "", "", source.text, ""]))
        state = state_tensors(gm)
        save_tensors(staging / INPUTS_FILE, list(inputs))
        save_tensors(staging / STATE_FILE, [tensor for _, tensor in state])
        meta = {
            "format": FORMAT,
            "stage": stage,
            "torch_version": torch.__version__,
            "devices": sorted({str(t.device) for t in [*inputs, *(t for _, t in state)] if isinstance(t, torch.Tensor)}),
            "state_names": [name for name, _ in state],
            "node_names": [node.name for node in gm.graph.nodes],
            "target": _target_to_dict(target),
            "config": config.to_dict(),
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, default=repr))
        _replace_dir(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.backend is not None and not target.backend.nameable:
        log.warning(
            "the checkpoint in %s names no backend: %s cannot be found again by `python -m compdebug run`. "
            "Register it with torch._dynamo.register_backend(name=...) or define it at module level.",
            directory,
            target.backend.label,
        )
    return directory


def read_checkpoint(directory: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint folder; a missing or damaged file is a `CheckpointError` naming it."""
    directory = pathlib.Path(directory)
    meta = _read_meta(directory / META_FILE)
    if meta.get("torch_version") != torch.__version__:
        log.warning(
            "checkpoint %s was written with torch %s; this is torch %s: trying anyway",
            directory,
            meta.get("torch_version"),
            torch.__version__,
        )
    inputs = _load(directory / INPUTS_FILE)
    gm = _load_graph(directory / GRAPH_FILE, meta.get("state_names", []), _load(directory / STATE_FILE), meta.get("node_names"))
    return Checkpoint(directory, gm, inputs, _target_from_dict(meta["target"]), meta["stage"], meta)


def _read_meta(path: pathlib.Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist: {path.parent} is not a compdebug checkpoint folder.") from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read {path}: {error}. The checkpoint is damaged.") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "target" not in meta:
        raise CheckpointError(f"{path} is not a compdebug checkpoint of format {FORMAT}.")
    return meta


def _load(path: pathlib.Path) -> list[Any]:
    try:
        return load_tensors(path)
    except Exception as error:
        raise CheckpointError(f"cannot read {path}: {error}. The checkpoint is damaged.") from error


def _load_graph(
    path: pathlib.Path, state_names: list[str], state: list[Any], node_names: list[str] | None
) -> torch.fx.GraphModule:
    """Rebuild the GraphModule from graph.py (Python source: trusted like any script)."""
    namespace: dict[str, Any] = {"__name__": "compdebug_checkpoint"}
    try:
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        module = namespace["Repro"]()
        set_module_tensors(module, state_names, state)
    except Exception as error:
        raise CheckpointError(f"cannot load the graph in {path}: {error}. The checkpoint is damaged.") from error
    gm = torch.fx.symbolic_trace(module)
    _restore_names(gm, node_names)
    return gm


def _restore_names(gm: torch.fx.GraphModule, names: list[str] | None) -> None:
    """Give re-traced nodes their original names (same statements, same order)."""
    nodes = list(gm.graph.nodes)
    if not names or len(names) != len(nodes):
        return
    for node, name in zip(nodes, names):
        if node.op not in ("placeholder", "output") and node.name != name:
            node._rename(name)  # FX's own renaming (keeps the graph's namespace right); torch 2.11-2.13
    gm.recompile()


def _replace_dir(staging: pathlib.Path, directory: pathlib.Path) -> None:
    """Move `staging` to `directory`, replacing an older one with one rename in place."""
    if directory.exists():
        old = directory.with_name(f".{directory.name}-old-{uuid.uuid4().hex[:6]}")
        os.replace(directory, old)
        os.replace(staging, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, directory)


def _target_to_dict(target: ReproTarget) -> dict[str, Any]:
    values = attrs.asdict(target, recurse=False)
    spec = target.backend
    values["backend"] = None if spec is None else {
        "label": spec.label,
        "name": spec.name,
        "import_path": spec.import_path,
        "inject_ops": dict(spec.inject_ops),
        "inject_stage": spec.inject_stage,
        "inductor_settings": dict(spec.inductor_settings),
    }
    return values


def _target_from_dict(values: dict[str, Any]) -> ReproTarget:
    values = dict(values)
    backend = values.pop("backend")
    return ReproTarget(backend=None if backend is None else spec_from_dict(backend), **values)


def spec_from_dict(values: dict[str, Any]) -> BackendSpec:
    """Find a recorded backend again by its registered name or import path."""
    if values["name"] is not None:
        found = resolve_backend(values["name"], with_injection=False)
    elif values["import_path"] is not None:
        module, qualname = values["import_path"].split(":")
        target: Any = __import__(module, fromlist=["_"])
        for part in qualname.split("."):
            target = getattr(target, part)
        found = resolve_backend(target, with_injection=False)
    else:
        raise BackendError(
            f"the checkpoint's backend {values['label']} was neither registered nor importable, so it cannot be "
            "found again. Register it with torch._dynamo.register_backend(name=...) or define it at module level "
            "in an importable module, then capture the failure again."
        )
    return attrs.evolve(
        found,
        inject_ops=values["inject_ops"],
        inject_stage=values["inject_stage"],
        inductor_settings=values["inductor_settings"],
    )
