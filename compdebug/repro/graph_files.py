"""A graph on disk: graph.py (Python source), inputs.pt and state.pt (tensor files), meta.json.

Checkpoints and isolated minifier queries both use these files. The graph is
Python source, trusted like any script; tensors load with `weights_only=True`.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
from typing import Any

import torch

from compdebug import _torch, symbolic
from compdebug.errors import CheckpointError
from compdebug.repro.module import render_module, state_tensors
from compdebug.repro.tensors import load_tensors, save_tensors, set_module_tensors

FORMAT = 1
GRAPH_FILE, INPUTS_FILE, STATE_FILE, META_FILE = "graph.py", "inputs.pt", "state.pt", "meta.json"


def write_graph(
    directory: str | os.PathLike[str], gm: torch.fx.GraphModule, inputs: list[Any], meta: dict[str, Any] | None = None
) -> tuple[str, ...]:
    """Write `gm` as graph.py, its inputs and state as tensor files, and meta.json (`meta` plus what
    `read_graph` needs) into the existing folder `directory`.

    Returns the problems that keep graph.py from being read back (globals or
    attributes no Python source can recreate); none when it is faithful.
    """
    directory = pathlib.Path(directory)
    source = render_module(gm)
    (directory / GRAPH_FILE).write_text("\n".join(["import torch", *source.imports, "", "", source.text, ""]))
    state = state_tensors(gm)
    save_tensors(directory / INPUTS_FILE, list(inputs))
    save_tensors(directory / STATE_FILE, [tensor for _, tensor in state])
    shapes = symbolic.describe_graph(gm, inputs)
    facts = {
        "format": FORMAT,
        "torch_version": torch.__version__,
        "devices": sorted({str(t.device) for t in [*inputs, *(t for _, t in state)] if isinstance(t, torch.Tensor)}),
        "state_names": [name for name, _ in state],
        "node_names": [node.name for node in gm.graph.nodes],
    }
    if shapes.any:  # which inputs and dims were symbolic, and the values of their symbols
        facts["symbolic"] = {**shapes.to_json(), "meta_key": _meta_key(gm)}
    (directory / META_FILE).write_text(json.dumps({**facts, **(meta or {})}, indent=2, default=repr))
    return source.problems


def read_graph(directory: str | os.PathLike[str]) -> tuple[torch.fx.GraphModule, list[Any], dict[str, Any]]:
    """Read what `write_graph` wrote: (graph module, inputs, meta); a missing or damaged file is a
    `CheckpointError` naming it."""
    directory = pathlib.Path(directory)
    meta = read_meta(directory / META_FILE)
    inputs = _load(directory / INPUTS_FILE)
    state = _load(directory / STATE_FILE)
    gm = _load_graph(directory / GRAPH_FILE, meta.get("state_names", []), state, meta.get("node_names"))
    if "symbolic" in meta:
        _restore_symbolic(gm, inputs, meta["symbolic"], directory / META_FILE)
    return gm, inputs, meta


def _meta_key(gm: torch.fx.GraphModule) -> str:
    """Where `gm`'s placeholders keep their example values ("example_value" after Dynamo, "val" after AOT)."""
    for node in gm.graph.find_nodes(op="placeholder"):
        for key in symbolic.META_KEYS:
            if key in node.meta:
                return key
    return symbolic.META_KEYS[0]


def _restore_symbolic(gm: torch.fx.GraphModule, inputs: list[Any], data: dict[str, Any], path: pathlib.Path) -> None:
    """Give the re-traced graph's placeholders symbolic example values again, as recorded in meta.json."""
    try:
        shapes = symbolic.SymbolicInputs.from_json(data)
        symbolic.restore_metas(gm, shapes, inputs, data.get("meta_key", symbolic.META_KEYS[0]))
    except Exception as error:
        raise CheckpointError(
            f"cannot rebuild the symbolic sizes recorded in {path}: {type(error).__name__}: {_first_line(error)}. "
            "The checkpoint is damaged or was written by another version of compdebug: capture the failure again."
        ) from error


def read_meta(path: pathlib.Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} does not exist: {path.parent} is not a compdebug checkpoint folder (or it was damaged). "
            "Pass the folder a capture wrote, or capture the failure again."
        ) from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read {path}: {error}. The checkpoint is damaged: capture the failure again.") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or any(key not in meta for key in required):
        raise CheckpointError(
            f"{path} is not a compdebug checkpoint of format {FORMAT} (damaged, or written by another version of "
            "compdebug): capture the failure again."
        )
    return meta


def _load(path: pathlib.Path) -> list[Any]:
    try:
        return load_tensors(path)
    except pickle.UnpicklingError as error:
        # torch.load(weights_only=True) refused a pickled object: nothing of it ran
        raise CheckpointError(
            f"refused to load {path}: it holds Python objects other than tensors and plain values, so compdebug "
            f"did not write it as it is now ({_first_line(error)}). Nothing in it was run. Do not load it with "
            "weights_only=False unless you trust where it came from; capture the failure again instead."
        ) from error
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: the checkpoint is damaged; capture the failure again.") from None
    except Exception as error:
        raise CheckpointError(
            f"cannot read {path}: {_first_line(error)}. The checkpoint is damaged: capture the failure again."
        ) from error


def _first_line(error: BaseException) -> str:
    line = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return line.rstrip(".")


def _load_graph(
    path: pathlib.Path, state_names: list[str], state: list[Any], node_names: list[str] | None
) -> torch.fx.GraphModule:
    """Rebuild the GraphModule from graph.py (Python source: trusted like any script)."""
    namespace: dict[str, Any] = {"__name__": "compdebug_checkpoint"}
    try:
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        module = namespace["Repro"]()
        set_module_tensors(module, state_names, state)
        gm = torch.fx.symbolic_trace(module)
        _restore_names(gm, node_names)
    except Exception as error:
        raise CheckpointError(
            f"cannot load the graph in {path}: {type(error).__name__}: {_first_line(error)}. "
            "The checkpoint is damaged: capture the failure again."
        ) from error
    return gm


def _restore_names(gm: torch.fx.GraphModule, names: list[str] | None) -> None:
    """Give re-traced nodes their original names (same statements, same order)."""
    nodes = list(gm.graph.nodes)
    if not names or len(names) != len(nodes):
        return
    for node, name in zip(nodes, names):
        if node.op not in ("placeholder", "output") and node.name != name:
            _torch.rename_node(node, name)
    gm.recompile()
