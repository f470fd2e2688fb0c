"""The `class Repro(torch.nn.Module)` source of a GraphModule.

`__init__` recreates submodules (from their repr), parameters, buffers and
tensor constants with their devices; `forward` is the graph exactly as FX prints it.
"""

from __future__ import annotations

import importlib
import keyword
import re
import types
from collections.abc import Iterator
from typing import Any

import attrs
import torch
import torch.fx

from compdebug import _torch
from compdebug.errors import ReproError
from compdebug.repro.values import constant_tensor_expr, random_tensor_expr

INDENT = "    "


@attrs.frozen
class ModuleSource:
    """The text of `class Repro`, and what a script needs to run it."""

    text: str
    imports: tuple[str, ...]  # lines the text needs besides `import torch`
    problems: tuple[str, ...]  # globals or attributes no script line can recreate


def module_text(gm: torch.fx.GraphModule) -> str:
    """`class Repro(torch.nn.Module): ...` recreating `gm` (see the module docstring)."""
    return render_module(gm).text


def render_module(gm: torch.fx.GraphModule) -> ModuleSource:
    """The Repro class text of `gm` with the imports it needs and anything it cannot express."""
    if not isinstance(gm, torch.fx.GraphModule):
        raise ReproError(f"a repro is written from a torch.fx.GraphModule; got {type(gm).__name__}")
    renderer = _Renderer()
    lines = renderer.class_lines(prepare(gm), "Repro")
    return ModuleSource("\n".join(lines), tuple(sorted(renderer.imports)), tuple(renderer.problems))


def state_tensors(gm: torch.fx.GraphModule) -> list[tuple[str, torch.Tensor]]:
    """(dotted name, tensor) of every parameter, buffer and tensor constant of the Repro of `gm`.

    Names are those `module_text` gives the same tensors, so a script can put
    the real values back (`set_module_tensors`).
    """
    root = prepare(gm)
    state = [*root.named_parameters(remove_duplicate=False), *root.named_buffers(remove_duplicate=False)]
    for prefix, module in root.named_modules(remove_duplicate=False):
        state += [(f"{prefix}.{name}" if prefix else name, t) for name, t in _constants(module)]
    return state


def prepare(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`gm`, or a copy whose called modules that no repr can rebuild are traced into GraphModules."""
    to_trace = [path for path in _called(gm) if _needs_tracing(gm.get_submodule(path))]
    if not to_trace:
        return gm
    copy = torch.fx.GraphModule(gm, _plain_graph(gm.graph))
    for path in to_trace:
        parent, _, name = path.rpartition(".")
        setattr(copy.get_submodule(parent), name, prepare(_trace(gm.get_submodule(path), path)))
    return copy


class _Renderer:
    """Writes class text, collecting the imports and the problems it meets on the way."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.problems: list[str] = []

    def class_lines(self, gm: torch.fx.GraphModule, name: str) -> list[str]:
        nested: list[str] = []
        init: list[str] = []
        self._contents("self", gm, _called(gm), "", nested, init)
        self._check_attributes(gm)
        body = [
            *nested,
            "def __init__(self) -> None:",
            INDENT + "super().__init__()",
            *(INDENT + line for line in init),
            "",
            *self._forward_lines(gm),
        ]
        return [f"class {name}(torch.nn.Module):", *(INDENT + line if line else "" for line in body)]

    def _contents(
        self, owner: str, module: torch.nn.Module, called: set[str], prefix: str, nested: list[str], init: list[str]
    ) -> None:
        """Lines recreating the children, then the tensors, of `module` (written as `owner`)."""
        for child_name, child in module.named_children():
            path = prefix + child_name
            target = _attr(owner, child_name)
            if isinstance(child, torch.fx.GraphModule):
                class_name = _class_name(path)
                nested += [*self.class_lines(child, class_name), ""]
                init.append(_set(owner, child_name, f"self.{class_name}()"))
                continue
            constructor = _constructor(child)
            if constructor is not None and not any(c.startswith(path + ".") for c in called):
                expr, import_line = constructor
                self.imports.add(import_line)
                init.append(_set(owner, child_name, expr))
            else:  # a plain container of what the graph reads or calls
                if path in called:  # only in nested graphs: `prepare` traced the top level's
                    self.problems.append(f"submodule {path!r} ({type(child).__qualname__}) has no constructor repr")
                init.append(_set(owner, child_name, "torch.nn.Module()"))
                self._contents(target, child, called, path + ".", nested, init)
        init += _tensor_lines(owner, module)

    def _check_attributes(self, gm: torch.fx.GraphModule) -> None:
        for node in gm.graph.nodes:
            if node.op != "get_attr":
                continue
            value = _resolve(gm, node.target)
            if not isinstance(value, (torch.Tensor, torch.nn.Module)):
                self.problems.append(f"attribute {node.target!r} of type {type(value).__name__} (not a tensor)")

    def _forward_lines(self, gm: torch.fx.GraphModule) -> list[str]:
        code = _plain_graph(gm.graph).python_code(root_module="self")
        lines = [line.rstrip() for line in code.src.strip("\n").splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        for name, value in code.globals.items():
            if name == "torch" or not re.search(rf"(?<![\w.]){re.escape(name)}\b", code.src):
                continue
            line = _import_line(name, value)
            if line is None:
                self.problems.append(f"global {name!r} ({value!r}) used by forward cannot be imported by a script")
            else:
                self.imports.add(line)
        return lines


def _tensor_lines(owner: str, module: torch.nn.Module) -> list[str]:
    """Buffers, then parameters, then tensor constants held directly by `module`."""
    lines = []
    for name, buffer, persistent in _torch.own_buffers(module):
        flag = "" if persistent else ", persistent=False"
        lines.append(f"{owner}.register_buffer({name!r}, {constant_tensor_expr(buffer)}{flag})")
    for name, param in module.named_parameters(recurse=False):
        grad = "" if param.requires_grad else ", requires_grad=False"
        lines.append(_set(owner, name, f"torch.nn.Parameter({random_tensor_expr(param, with_grad=False)}{grad})"))
    for name, value in _constants(module):
        lines.append(_set(owner, name, constant_tensor_expr(value)))
    return lines


def _constants(module: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Tensors held as plain attributes (not parameters or buffers): the graph's tensor constants."""
    for name, value in vars(module).items():
        if isinstance(value, torch.Tensor):
            yield name, value


def _constructor(module: torch.nn.Module) -> tuple[str, str] | None:
    """(source that rebuilds `module`, its import line), if its repr is a faithful constructor call.

    Only torch.nn's own classes qualify, and only when evaluating the repr (on
    the meta device, so nothing is allocated) gives the same class with the same
    parameter and buffer names and shapes.
    """
    cls = type(module)
    text = repr(module)
    if not cls.__module__.startswith("torch.nn.") or "\n" in text:
        return None
    try:
        with torch.device("meta"):
            rebuilt = eval(text, {"__builtins__": {}, cls.__name__: cls})  # noqa: S307 - a torch.nn class's repr
    except Exception:
        return None
    if type(rebuilt) is not cls or _shapes(rebuilt) != _shapes(module):
        return None
    suffix = _conversion_suffix(module, rebuilt)
    if suffix is None:
        return None
    home = "torch.nn" if getattr(torch.nn, cls.__name__, None) is cls else cls.__module__
    return text + suffix, f"from {home} import {cls.__name__}"


def _shapes(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(t.shape)) for name, t in _tensors(module)]


def _tensors(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [*module.named_parameters(), *module.named_buffers()]


def _conversion_suffix(module: torch.nn.Module, rebuilt: torch.nn.Module) -> str | None:
    """`.to(torch.float16).to('cuda:0').eval()`-like calls turning `rebuilt` into `module`, or None."""
    tensors = [t for _, t in _tensors(module)]
    suffix = ""
    floating = {t.dtype for t in tensors if t.is_floating_point()}
    default = {t.dtype for _, t in _tensors(rebuilt) if t.is_floating_point()}
    if len(floating) > 1:
        return None
    if floating and floating != default:
        suffix += f".to({next(iter(floating))})"
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        return None
    if devices and (device := next(iter(devices))).type != "cpu":
        suffix += f".to({str(device)!r})"
    grads = {p.requires_grad for p in module.parameters()}
    if len(grads) > 1:
        return None
    if grads == {False}:
        suffix += ".requires_grad_(False)"
    if not module.training:
        suffix += ".eval()"
    return suffix


def _called(gm: torch.fx.GraphModule) -> set[str]:
    return {node.target for node in gm.graph.nodes if node.op == "call_module"}


def _needs_tracing(module: torch.nn.Module) -> bool:
    return not isinstance(module, torch.fx.GraphModule) and _constructor(module) is None


def _trace(module: torch.nn.Module, path: str) -> torch.fx.GraphModule:
    try:
        return torch.fx.symbolic_trace(module)
    except Exception as error:
        raise ReproError(
            f"the graph calls submodule {path!r} ({type(module).__qualname__}), which a repro can neither rebuild "
            f"from its repr nor trace with torch.fx ({type(error).__name__}: {error}). Capture the graph after "
            "Dynamo (it inlines modules) or make the module traceable."
        ) from error


def _plain_graph(graph: torch.fx.Graph) -> torch.fx.Graph:
    """A copy of `graph` with FX's default code generation: flat inputs, no pytree boilerplate."""
    copy = torch.fx.Graph()
    output = next(node for node in reversed(graph.nodes) if node.op == "output")
    copy.output(copy.graph_copy(graph, {}), type_expr=output.type)
    return copy


def _resolve(module: torch.nn.Module, target: str) -> Any:
    for part in target.split("."):
        module = getattr(module, part)
    return module


def _import_line(name: str, value: Any) -> str | None:
    """The statement that binds `name` to `value` in a script, if there is one."""
    if isinstance(value, types.ModuleType):
        return f"import {value.__name__}" + ("" if value.__name__ == name else f" as {name}")
    if value is type(None):
        return f"{name} = type(None)"
    if isinstance(value, float) and name in ("inf", "nan"):
        return f"from math import {name}"
    if isinstance(value, (str, int, float, bool)):  # e.g. a string type annotation
        return f"{name} = {value!r}"
    home = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not home or not isinstance(qualname, str) or home == "__main__" or "." in qualname or "<" in qualname:
        return None
    try:
        found = getattr(importlib.import_module(home), qualname)
    except (ImportError, AttributeError):
        return None
    if found is not value:
        return None
    return f"from {home} import {qualname}" + ("" if qualname == name else f" as {name}")


def _attr(owner: str, name: str) -> str:
    return f"{owner}.{name}" if _identifier(name) else f"getattr({owner}, {name!r})"


def _set(owner: str, name: str, expr: str) -> str:
    """The statement setting attribute `name` of `owner` to `expr`."""
    return f"{owner}.{name} = {expr}" if _identifier(name) else f"setattr({owner}, {name!r}, {expr})"


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _class_name(path: str) -> str:
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", path) if part)
    return name if name[:1].isalpha() else "Sub" + name
