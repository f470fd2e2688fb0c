"""Checkpoints: a captured failure on disk, written before anything else happens.

A checkpoint folder holds `graph.py` (the graph as Python source, like any
repro script), `inputs.pt` and `state.pt` (inputs and module state, loaded with
`weights_only=True`) and `meta.json` (how it failed, with what, where). The
graph files themselves are written and read by `compdebug.repro.graph_files`
(`write_graph`/`read_graph`, which isolated queries use too).
"""

from __future__ import annotations

import datetime
import logging
import os
import pathlib
import shutil
import tempfile
import uuid
from typing import Any

import attrs
import torch

from compdebug.backends.aot import InnerCall
from compdebug.backends.spec import BackendSpec, resolve_backend
from compdebug.backends.types import load_by_path
from compdebug.config import config
from compdebug.errors import BackendError, CheckpointError
from compdebug.repro._files import fresh_dir
from compdebug.repro.target import ReproTarget
from compdebug.repro.graph_files import META_FILE, read_graph, read_meta, write_graph

log = logging.getLogger("compdebug.capture")



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
    return fresh_capture_dir(pathlib.Path("compdebug_repro"))


def fresh_capture_dir(parent: pathlib.Path) -> pathlib.Path:
    """A new folder name under `parent`, unique and sortable by time: `20250101-120000-ab12cd`."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return parent / f"{stamp}-{uuid.uuid4().hex[:6]}"


def writable_dir(wanted: pathlib.Path) -> pathlib.Path:
    """`wanted` if it can be written, else a fresh temporary folder (and say so)."""
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        probe = wanted / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
        return wanted
    except OSError as error:
        fallback = fresh_dir(tempfile.gettempdir(), "compdebug_repro_")
        log.warning("cannot write to %s (%s); writing the checkpoint to %s instead", wanted, error, fallback)
        return fallback


def write_checkpoint(
    directory: pathlib.Path,
    gm: torch.fx.GraphModule,
    inputs: list[Any],
    target: ReproTarget,
    stage: str,
    *,
    fallback: bool = False,
) -> pathlib.Path:
    """Write a checkpoint atomically (a temporary folder renamed into place); return its path.

    A SIGKILL at any moment leaves `directory` as it was or complete (see
    `recover_interrupted`). When the folder cannot be written (read-only, disk
    full), `fallback=True` writes the checkpoint under a fresh temporary folder
    instead and says where; otherwise a `CheckpointError` says what failed.
    """
    try:
        _write_checkpoint(directory, gm, inputs, target, stage)
    except OSError as error:
        if not fallback:
            raise CheckpointError(
                f"cannot write the checkpoint {directory}: {error}. Free some space or choose a writable "
                "folder (compdebug.config repro_dir)."
            ) from error
        wanted, directory = directory, fresh_dir(tempfile.gettempdir(), "compdebug_repro_") / directory.name
        try:
            _write_checkpoint(directory, gm, inputs, target, stage)
        except OSError as second:
            shutil.rmtree(directory.parent, ignore_errors=True)
            raise CheckpointError(
                f"cannot write the checkpoint to {wanted} ({error}) nor to {directory.parent} ({second}). "
                "Free some disk space or set compdebug.config repro_dir to a writable folder."
            ) from second
        log.warning("cannot write the checkpoint to %s (%s); wrote it to %s instead", wanted, error, directory)
    if target.backend is not None and not target.backend.nameable:
        log.warning(
            "the checkpoint in %s names no backend: %s cannot be found again by `python -m compdebug run`. "
            "Register it with torch._dynamo.register_backend(name=...) or define it at module level.",
            directory,
            target.backend.label,
        )
    return directory


def _write_checkpoint(
    directory: pathlib.Path, gm: torch.fx.GraphModule, inputs: list[Any], target: ReproTarget, stage: str
) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = fresh_dir(directory.parent, f".{directory.name}-")
    try:
        meta = {
            "stage": stage,
            "target": target_to_dict(target),
            "config": config.to_dict(),
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        problems = write_graph(staging, gm, inputs, meta)
        if problems:
            log.warning(
                "the checkpoint's graph.py cannot be read back (%s): minifying it from disk will fail",
                "; ".join(problems),
            )
        _replace_dir(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_checkpoint(directory: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint folder; a missing or damaged file is a `CheckpointError` naming it."""
    directory = pathlib.Path(directory)
    recover_interrupted(directory)
    meta = read_meta(directory / META_FILE, required=("target", "stage"))
    if meta.get("torch_version") != torch.__version__:
        log.warning(
            "checkpoint %s was written with torch %s; this is torch %s: trying anyway (if it does not load or "
            "no longer fails, capture the failure again with this torch)",
            directory,
            meta.get("torch_version"),
            torch.__version__,
        )
    target = target_from_dict(meta["target"], directory / META_FILE)
    gm, inputs, _ = read_graph(directory)
    return Checkpoint(directory, gm, inputs, target, meta["stage"], meta)


def recover_interrupted(directory: pathlib.Path) -> None:
    """Put back the previous `directory` if a replacement was killed between its two renames."""
    if directory.exists():
        return
    previous = sorted(directory.parent.glob(f".{directory.name}-old-*"), key=lambda p: p.stat().st_mtime)
    if previous and (previous[-1] / META_FILE).exists():
        os.replace(previous[-1], directory)
        log.warning("%s was being replaced when its writer stopped; restored the previous one", directory)


def _replace_dir(staging: pathlib.Path, directory: pathlib.Path) -> None:
    """Move `staging` to `directory`, replacing an older one with two renames.

    Killed between the two, `directory` is missing and the older one waits as
    `.NAME-old-*`, which `recover_interrupted` puts back; once the new one is in
    place, leftovers of earlier interrupted writes are removed.
    """
    if directory.exists():
        old = directory.with_name(f".{directory.name}-old-{uuid.uuid4().hex[:6]}")
        os.replace(directory, old)
        os.replace(staging, directory)
    else:
        os.replace(staging, directory)
    for leftover in directory.parent.glob(f".{directory.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def target_to_dict(target: ReproTarget) -> dict[str, Any]:
    """`target` as JSON-safe data (its backend by label, registered name and import path)."""
    values = attrs.asdict(target, recurse=False)
    spec = target.backend
    values["backend"] = None if spec is None else {
        "label": spec.label,
        "name": spec.name,
        "import_path": spec.import_path,
        "inject_ops": dict(spec.inject_ops),
        "inject_stage": spec.inject_stage,
        "inductor_settings": dict(spec.inductor_settings),
        "inner": None if spec.inner is None else spec.inner.to_dict(),
    }
    return values


def target_from_dict(values: dict[str, Any], source: Any = "the checkpoint") -> ReproTarget:
    """The `ReproTarget` that `target_to_dict` wrote (`source` names where it came from, for errors)."""
    values = dict(values)
    backend = values.pop("backend", None)
    try:
        return ReproTarget(backend=None if backend is None else spec_from_dict(backend), **values)
    except TypeError as error:
        raise CheckpointError(f"the failure recorded in {source} is not one this compdebug knows ({error})") from error


def spec_from_dict(values: dict[str, Any]) -> BackendSpec:
    """Find a recorded backend again by its import path or registered name.

    The import path comes first: importing a module is also what registers the
    backends it defines, in a process (a resumed run, a worker) that never did.
    """
    name, path = values.get("name"), values.get("import_path")
    found: BackendSpec | None = None
    if path is not None:
        try:
            found = resolve_backend(load_by_path(path), with_injection=False)
        except (ImportError, AttributeError, ValueError) as error:
            if name is None:
                raise BackendError(
                    f"the checkpoint's backend {values['label']} was recorded as {path!r}, which cannot be imported "
                    f"here ({type(error).__name__}: {error}). Make that module importable (install it, or run "
                    "from the folder that holds it) and try again."
                ) from error
    if found is None and name is not None:
        try:
            found = resolve_backend(name, with_injection=False)
        except BackendError as error:
            raise BackendError(
                f"the checkpoint's backend {name!r} is not registered in this process: {error}. Import the module "
                "that registers it first (python -m compdebug ... --import MODULE), or register it with "
                "torch._dynamo.register_backend and try again."
            ) from error
    if found is None:
        raise BackendError(
            f"the checkpoint's backend {values['label']} was neither registered nor importable, so it cannot be "
            "found again. Register it with torch._dynamo.register_backend(name=...) or define it at module level "
            "in an importable module, then capture the failure again."
        )
    inner = values.get("inner")  # absent in checkpoints of earlier compdebug versions
    return attrs.evolve(
        found,
        inject_ops=values["inject_ops"],
        inject_stage=values["inject_stage"],
        inductor_settings=values["inductor_settings"],
        inner=None if inner is None else InnerCall.from_dict(inner),
    )
