"""repro.py: a standalone script that fails the way the original graph failed.

It needs torch, plus compdebug only when the failing backend or injected bug is
compdebug's own; real input values load from a file beside it (weights_only).
"""

from __future__ import annotations

import ast
import inspect
import logging
import os
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import torch

from compdebug import accuracy, symbolic
from compdebug.errors import ReproError
from compdebug.repro import tensors
from compdebug.repro._files import atomic_write
from compdebug.repro.module import ModuleSource, render_module, state_tensors
from compdebug.repro.target import ReproTarget
from compdebug.repro.values import random_tensor_expr, value_expr

log = logging.getLogger("compdebug.repro")

SCRIPT_FILE = "repro.py"
TENSORS_FILE = "repro_inputs.pt"
_NO_FAILURE = {
    "compile": "No failure: the graph compiled and ran without error.",
    "runtime": "No failure: the compiled graph ran without error.",
    "accuracy": "No failure: compiled and eager results agree.",
    "predicate": "No failure: the predicate returned False.",
    "crash": "No failure: the graph compiled and ran without crashing the process.",
    "timeout": "No failure: the graph compiled and ran within the time limit.",
}


def script_text(
    gm: torch.fx.GraphModule,
    inputs: Sequence[Any],
    target: ReproTarget,
    *,
    random_inputs: bool,
    note: str | None = None,
) -> str:
    """A standalone Python file that exits non-zero with the original error while the bug is present.

    With `random_inputs` the inputs are random tensors shaped like `inputs`;
    otherwise the script loads the real values (and the module's parameters,
    buffers and constants) from `repro_inputs.pt` beside it, which `save` writes.
    `note`, if given, is added to the header (what the script was checked to do).
    A graph captured after AOT Autograd (`target.backend.inner`) is compiled by
    the backend's inner compiler, called as AOT Autograd called it.
    """
    _check_target(target)
    source = render_module(gm)
    if source.problems:
        raise ReproError(
            "this graph cannot be written as a standalone script: " + "; ".join(source.problems)
            + ". Replace those values or functions with importable ones (module-level, not __main__)."
        )
    inputs = list(inputs)
    state_names = [] if random_inputs else [name for name, _ in state_tensors(gm)]
    standalone = target.backend is None or not target.backend.needs_compdebug
    helper_imports, helpers = _helpers(target, random_inputs, standalone)
    helpers += _symbolic_helpers(gm, target)
    compile_imports, compile_lines, compiled = _compile_lines(target, gm, inputs)
    imports = _imports(source, target, random_inputs, standalone, [*helper_imports, *compile_imports])
    preamble = [_header(target, note), imports, _setup(target)]
    sections = [
        "\n\n".join(preamble),
        *helpers,
        source.text,
        _inputs(inputs, random_inputs, state_names),
        _run(target, len(inputs), state_names, compile_lines, compiled),
    ]
    return "\n\n\n".join(section for section in sections if section) + "\n"


def save(
    directory: str | os.PathLike[str],
    gm: torch.fx.GraphModule,
    inputs: Sequence[Any],
    target: ReproTarget,
    *,
    random_inputs: bool,
    note: str | None = None,
) -> pathlib.Path:
    """Write `repro.py` (and `repro_inputs.pt` with the real values, unless `random_inputs`) into `directory`.

    Creates the directory if needed (following the umask, as every file here
    does); each file is replaced atomically. Returns the path of `repro.py`.
    """
    directory = pathlib.Path(directory)
    text = script_text(gm, inputs, target, random_inputs=random_inputs, note=note)  # refuse before writing anything
    try:
        directory.mkdir(parents=True, exist_ok=True)
        values_path = directory / TENSORS_FILE
        if random_inputs:
            values_path.unlink(missing_ok=True)  # a stale file from an earlier save would mislead
        else:
            tensors.save_tensors(values_path, [*inputs, *(t for _, t in state_tensors(gm))])
        script_path = directory / SCRIPT_FILE
        atomic_write(script_path, lambda tmp: pathlib.Path(tmp).write_text(text, encoding="utf-8"))
    except OSError as error:
        raise ReproError(f"cannot write the repro into {directory}: {error}. Choose a writable directory.") from error
    log.info("wrote %s", script_path)
    return script_path


def _check_target(target: ReproTarget) -> None:
    if target.kind == "predicate":
        if target.predicate_path is None:
            raise ReproError(
                "a custom predicate must be importable to be written as a script: define it at module level "
                "in an importable module (not a lambda, a local function or __main__), or use CompileFailure, "
                "RuntimeFailure or AccuracyFailure."
            )
    elif target.backend is None:
        raise ReproError(f"a {target.kind!r} repro needs the failing backend; the ReproTarget has none")


def _header(target: ReproTarget, note: str | None) -> str:
    if target.kind == "predicate":
        what = f"the predicate {target.predicate_path} returns True for this graph."
    else:
        backend = f"torch.compile(backend={target.backend.backend_source()})"
        if target.backend.inner is not None:
            backend = f"the inner compiler of {backend}"
        what = {
            "compile": f"{backend} raises {target.error_type or 'an error'} while compiling this graph.",
            "runtime": f"code compiled by {backend} raises {target.error_type or 'an error'} when it runs.",
            "accuracy": f"code compiled by {backend} computes values too far from eager (AccuracyError).",
            "crash": f"compiling and running this graph with {backend} kills the process ({target.error_type}).",
            "timeout": f"compiling and running this graph with {backend} hangs (no end within {target.timeout_s} s).",
        }[target.kind]
    lines = [f"# Repro: {what}"]
    if target.backend is not None and target.backend.inner is not None:
        lines.append(f"# This is the {target.backend.inner.role} graph after AOT Autograd, compiled as AOT Autograd called it.")
    message = (target.error_text or target.error_message or "").strip()
    if target.error_type and message:
        lines.append(f"# Original error: {target.error_type}: {message.splitlines()[0][:160]}")
    if note:
        lines += [f"# {line}" if line else "#" for line in note.splitlines()]
    lines.append("# Run: python repro.py (exits non-zero while the failure reproduces; prints 'No failure' once fixed)")
    return "\n".join(lines)


def _imports(
    source: ModuleSource, target: ReproTarget, random_inputs: bool, standalone: bool, helper_imports: list[str]
) -> str:
    lines = ["import torch", *helper_imports, *source.imports]
    if not random_inputs:
        lines.append("import pathlib")
    if target.backend is not None:
        lines += target.backend.script_imports()
    if target.kind == "predicate":
        lines.append(f"import {target.predicate_path.split(':')[0]}")
    if target.kind in ("crash", "timeout"):
        lines.append("import faulthandler")
    if not standalone and not random_inputs:
        lines.append("from compdebug.repro.tensors import load_tensors, set_module_tensors")
    if not standalone and target.kind == "accuracy":
        lines += ["from compdebug import AccuracyError", "from compdebug.accuracy import check_accuracy"]
    return "from __future__ import annotations\n\n" + "\n".join(_import_order(lines))


def _import_order(lines: list[str]) -> list[str]:
    """Standard library imports, a blank line, then torch and the rest; `import` before `from`; no repeats."""

    def group(line: str) -> int:
        words = line.split()
        if words[0] not in ("import", "from"):
            return 2  # an assignment such as `NoneType = type(None)`
        return 0 if words[1].split(".")[0] in sys.stdlib_module_names else 1

    ordered = sorted(dict.fromkeys(lines), key=lambda line: (group(line), not line.startswith("import"), line))
    out: list[str] = []
    for line in ordered:
        if out and group(line) != group(out[-1]):
            out.append("")
        out.append(line)
    return out


def _setup(target: ReproTarget) -> str:
    lines = target.backend.script_setup() if target.backend is not None else []
    if target.kind == "crash":  # print where the process died
        lines.append("faulthandler.enable()")
    if target.kind == "timeout":  # print where it hangs, and exit non-zero
        lines.append(f"faulthandler.dump_traceback_later({target.timeout_s!r}, exit=True)")
    return "\n".join([*lines, "torch.manual_seed(0)"])


def _helpers(target: ReproTarget, random_inputs: bool, standalone: bool) -> tuple[list[str], list[str]]:
    """(import lines, source blocks) pasted into scripts that run without compdebug.

    They load the saved values and judge accuracy exactly as compdebug does.
    """
    if not standalone:
        return [], []
    imports: list[str] = []
    blocks = []
    if not random_inputs:
        blocks += [inspect.getsource(fn).rstrip() for fn in (tensors.load_tensors, tensors.set_module_tensors)]
    if target.kind == "accuracy":
        imports, body = _split_module(accuracy)
        blocks.append("# ---- accuracy check: compiled vs eager (float64 reference) ----\n\n" + body)
        blocks.append('class AccuracyError(Exception):\n    """Compiled code computed values too far from eager\'s."""')
    return imports, blocks


def _split_module(module: Any) -> tuple[list[str], str]:
    """A module's top-level import lines, and the rest of its source without docstring and imports."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    imports, drop = [], set()
    for node in ast.parse(source).body:
        docstring = isinstance(node, ast.Expr) and isinstance(getattr(node.value, "value", None), str)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__":
            imports.append(ast.unparse(node))
        if docstring or isinstance(node, (ast.Import, ast.ImportFrom)):
            drop.update(range(node.lineno - 1, node.end_lineno))
    body = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip()
    return imports, body


def _inputs(inputs: list[Any], random_inputs: bool, state_names: list[str]) -> str:
    if random_inputs:
        items = [random_tensor_expr(x) if isinstance(x, torch.Tensor) else value_expr(x) for x in inputs]
        return "inputs = [\n" + "".join(f"    {item},\n" for item in items) + "]" if items else "inputs = []"
    load = f'load_tensors(pathlib.Path(__file__).parent / "{TENSORS_FILE}")'
    if not state_names:
        return f"inputs = {load}"
    return f"values = {load}\ninputs = values[:{len(inputs)}]"


def _compile_lines(target: ReproTarget, gm: torch.fx.GraphModule, inputs: list[Any]) -> tuple[list[str], list[str], str]:
    """(imports, statements, name): the statements compile `mod` and bind `name`, called as `name(*inputs)`."""
    if target.backend is None:
        return [], [], ""
    if target.backend.inner is not None:
        from compdebug.backends.aot import inner_compile_source

        imports, statements = inner_compile_source(target.backend, gm, _symbolic_example_inputs(gm, inputs))
        return imports, statements, "run"
    dynamic = _dynamic_compile(gm, inputs, target)
    if dynamic is not None:
        return [], [dynamic], "compiled"
    return [], [f"compiled = torch.compile(mod, backend={target.backend.backend_source()}, fullgraph=True)"], "compiled"


def _run(target: ReproTarget, n_inputs: int, state_names: list[str], compile_lines: list[str], compiled: str) -> str:
    lines = ["mod = Repro()"]
    if state_names:
        lines.append(f"set_module_tensors(mod, {_list_source(state_names)}, values[{n_inputs}:])")
    if target.kind == "predicate":
        module, qualname = target.predicate_path.split(":")
        lines += [
            "gm = torch.fx.symbolic_trace(mod)",
            f"if {module}.{qualname}(gm, inputs):",
            f"    raise SystemExit({f'{target.predicate_path} returns True for this graph: the failure reproduces'!r})",
        ]
    else:
        lines += compile_lines
        if target.kind == "accuracy":
            lines += [
                "ok, detail = check_accuracy(",
                f"    mod, {compiled}, inputs, fp64_reference={target.fp64_reference!r}, strict={target.strict!r}, "
                f"tolerance={target.tolerance!r}",
                ")",
                "if not ok:",
                "    raise AccuracyError(detail)",
            ]
        else:
            lines.append(f"{compiled}(*inputs)")
    lines.append(f"print({_NO_FAILURE[target.kind]!r})")
    return "\n".join(lines)


def _list_source(items: list[str]) -> str:
    one_line = repr(items)
    if len(one_line) <= 80:
        return one_line
    return "[\n" + "".join(f"    {item!r},\n" for item in items) + "]"


# -- dynamic shapes (compdebug.symbolic) ------------------------------------------
def _dynamic_compile(gm: torch.fx.GraphModule, inputs: list[Any], target: ReproTarget) -> str | None:
    """The lines that define `compiled` for a Dynamo graph traced with symbolic inputs: Dynamo
    traces it again with the same dims dynamic (what the minifier checked, `compdebug.backends.dynamic`);
    None for a graph with static inputs, an after-AOT graph or a predicate."""
    if target.kind == "predicate" or target.backend is None or not symbolic.traced_by_dynamo(gm):
        return None
    shapes = symbolic.describe_graph(gm, inputs)
    if not shapes.any:
        return None
    names = [node.name for node in gm.graph.find_nodes(op="placeholder")]
    call = symbolic.dynamo_call(shapes, inputs)
    summary = f"# dynamic shapes: {symbolic.summary(shapes, inputs, names)}"
    return f"\n\n{summary}\n{call.source(names, target.backend.backend_source())}\n\n"


def _symbolic_helpers(gm: torch.fx.GraphModule, target: ReproTarget) -> list[str]:
    """The functions an after-AOT repro of a graph with symbolic sizes pastes to make its fake inputs."""
    if target.backend is None or target.backend.inner is None or not symbolic.is_symbolic(gm):
        return []
    return ["# ---- symbolic sizes: the inner compiler's fake inputs, as AOT Autograd made them ----",
            *symbolic.script_helpers()]


def _symbolic_example_inputs(gm: torch.fx.GraphModule, inputs: list[Any]) -> list[str]:
    """Statements (after `_symbolic_helpers`) giving an after-AOT graph with symbolic sizes the fake
    inputs, and metadata, the inner compiler saw (`compdebug.symbolic.symbolic_graph`); none for static sizes."""
    shapes = symbolic.describe_graph(gm, inputs)
    if not shapes.any:
        return []
    names = [node.name for node in gm.graph.find_nodes(op="placeholder")]
    return [f"# dynamic shapes: {symbolic.summary(shapes, inputs, names)}", symbolic.symbolic_graph_lines(shapes, inputs)]
