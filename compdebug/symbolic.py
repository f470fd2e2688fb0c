"""Symbolic sizes: how a dynamic-shape compile saw a graph's inputs, recorded as data and rebuilt.

`torch.compile(dynamic=True)`, `mark_dynamic` and the automatic dynamic shapes of a
recompile hand the backend SymInt inputs and tensors whose sizes are SymInts.
`SymbolicInputs` records, per graph input, its sizes, strides and storage offset
(or its number) as expressions over symbols, and each symbol's value in the
failing run (its hint). From it come real inputs of the hinted sizes, fake inputs
with the same dims symbolic under a fresh ShapeEnv (to compile after AOT as the
inner compiler saw the graph), and the Dynamo call with its static/dynamic marks
(`DynamoCall`: to compile after Dynamo with the same dims dynamic), the same
lines in-process and in repro.py.

The graph itself carries what is symbolic: its placeholders' example values
(`meta["example_value"]` after Dynamo, `meta["val"]` after AOT) are fake tensors
and SymInts. Candidates built from it copy those, so `describe_graph` of any
candidate tells how its inputs are symbolic; a graph read from disk gets them
back from the recorded data (`restore_metas`).

This module imports only torch and compdebug's room for torch's internals, so
every layer (backends, capture, minify, repro) may use it.
"""

from __future__ import annotations

import ast
import inspect
import keyword
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Union

import attrs
import torch
import torch.fx

from compdebug import _torch

log = logging.getLogger("compdebug.symbolic")

Expr = Union[int, str]  # a plain number, or an expression over symbols ("s77", "4*s27")
# where a graph keeps its placeholders' example values: Dynamo's key first, then AOT Autograd's
META_KEYS = ("example_value", "val")
MIN_DYNAMIC = 2  # Dynamo specialises sizes 0 and 1, so a dim smaller than this cannot stay symbolic


@attrs.frozen
class SymbolicTensor:
    """A tensor input whose sizes, strides or storage offset are symbolic."""

    size: tuple[Expr, ...]
    stride: tuple[Expr, ...]
    offset: Expr = 0

    @property
    def dynamic_dims(self) -> tuple[int, ...]:
        """The dims whose size is symbolic."""
        return tuple(i for i, s in enumerate(self.size) if isinstance(s, str))

    def to_json(self) -> dict[str, Any]:
        return {"size": list(self.size), "stride": list(self.stride), "offset": self.offset}


@attrs.frozen
class SymbolicNumber:
    """An int input that is symbolic (a SymInt): a size of another input, or an int Dynamo kept dynamic."""

    expr: str

    def to_json(self) -> dict[str, Any]:
        return {"int": self.expr}


Symbolic = Union[SymbolicTensor, SymbolicNumber]


@attrs.frozen
class SymbolicInputs:
    """How each input of a graph was symbolic (None: not at all), and each symbol's hint."""

    values: tuple[Symbolic | None, ...]
    hints: Mapping[str, int] = attrs.field(factory=dict, converter=dict)

    @property
    def any(self) -> bool:
        return any(v is not None for v in self.values)

    def dynamic_dims(self) -> dict[int, tuple[int, ...]]:
        """input index -> its symbolic dims, for the tensor inputs that have some."""
        return {
            i: v.dynamic_dims for i, v in enumerate(self.values) if isinstance(v, SymbolicTensor) and v.dynamic_dims
        }

    def to_json(self) -> dict[str, Any]:
        """JSON-safe data (`from_json` reads it back); "dynamic_dims" is there for people reading meta.json."""
        return {
            "inputs": [None if v is None else v.to_json() for v in self.values],
            "hints": dict(sorted(self.hints.items())),
            "dynamic_dims": {str(i): list(dims) for i, dims in self.dynamic_dims().items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SymbolicInputs:
        values: list[Symbolic | None] = []
        for entry in data["inputs"]:
            if entry is None:
                values.append(None)
            elif "int" in entry:
                values.append(SymbolicNumber(entry["int"]))
            else:
                values.append(SymbolicTensor(tuple(entry["size"]), tuple(entry["stride"]), entry.get("offset", 0)))
        return cls(tuple(values), {name: int(v) for name, v in data.get("hints", {}).items()})


# -- recording ------------------------------------------------------------------
def describe(value: Any) -> tuple[Symbolic | None, dict[str, int]]:
    """(how `value` is symbolic or None, the hints of the symbols it uses); `value` is a
    tensor (fake or real) or a number, a SymInt being symbolic."""
    if isinstance(value, torch.SymInt):
        expr = _torch.symbolic_expr(value)
        return (None, {}) if expr is None else (SymbolicNumber(expr), _torch.symbol_values(value))
    if not isinstance(value, torch.Tensor):
        return None, {}
    parts = [*value.size(), *value.stride(), value.storage_offset()]
    if not any(_torch.symbolic_expr(p) is not None for p in parts):
        return None, {}
    hints: dict[str, int] = {}
    for part in parts:
        hints.update(_torch.symbol_values(part))
    return SymbolicTensor(
        tuple(_expr(s) for s in value.size()), tuple(_expr(s) for s in value.stride()), _expr(value.storage_offset())
    ), hints


def _expr(value: Any) -> Expr:
    text = _torch.symbolic_expr(value)
    return int(value) if text is None else text


def example_value(node: torch.fx.Node) -> Any:
    """The example value a compiler recorded for `node` (fake tensor, SymInt, number), or None."""
    for key in META_KEYS:
        if key in node.meta:
            return node.meta[key]
    return None


def describe_graph(gm: torch.fx.GraphModule, inputs: Sequence[Any] | None = None) -> SymbolicInputs:
    """How each input of `gm` is symbolic: by its placeholder's example value, else by the input itself."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    values: list[Symbolic | None] = []
    hints: dict[str, int] = {}
    for i, node in enumerate(placeholders):
        seen = example_value(node)
        if seen is None and inputs is not None and i < len(inputs):
            seen = inputs[i]
        symbolic, used = describe(seen)
        values.append(symbolic)
        hints.update(used)
    return SymbolicInputs(tuple(values), hints)


def is_symbolic(gm: torch.fx.GraphModule) -> bool:
    """Whether some input of `gm` was symbolic when it was traced."""
    return describe_graph(gm).any


def traced_by_dynamo(gm: torch.fx.GraphModule) -> bool:
    """Whether `gm`'s placeholders carry Dynamo's example values (an after-Dynamo graph, not an aten one)."""
    return any("example_value" in node.meta for node in gm.graph.find_nodes(op="placeholder"))


def summary(shapes: SymbolicInputs, inputs: Sequence[Any], names: Sequence[str]) -> str:
    """One line for people: which inputs and dims are symbolic, and the values of the symbols."""
    parts = []
    for name, value in zip(names, shapes.values):
        if isinstance(value, SymbolicTensor) and value.dynamic_dims:
            parts.append(f"{name} dims {list(value.dynamic_dims)} of [{', '.join(map(str, value.size))}]")
        elif isinstance(value, SymbolicNumber):
            parts.append(f"{name} = {value.expr}")
    values = symbol_values(shapes, inputs)
    known = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
    return f"{'; '.join(parts) or 'no dims'} symbolic" + (f" ({known})" if known else "")


# -- real values ------------------------------------------------------------------
def concrete(value: Any) -> Any:
    """A real value for a symbolic or fake one: a SymInt/SymFloat/SymBool as its hint, a fake
    tensor as a real one of its hinted sizes, strides and offset (random values); others as they are."""
    kind = {torch.SymInt: int, torch.SymFloat: float, torch.SymBool: bool}.get(type(value))
    if kind is not None:
        hint = _torch.symbolic_hint(value)
        return kind(value if hint is None else hint)
    if _torch.is_fake_tensor(value) or (isinstance(value, torch.Tensor) and value.device.type == "meta"):
        return _real_like(value)
    return value


def concrete_inputs(values: Sequence[Any]) -> list[Any]:
    """`concrete` of each value."""
    return [concrete(v) for v in values]


def _real_like(fake: torch.Tensor) -> torch.Tensor:
    size = [concrete(s) for s in fake.size()]
    stride = [concrete(s) for s in fake.stride()]
    offset = concrete(fake.storage_offset())
    device = fake.device if fake.device.type != "meta" else torch.device("cpu")
    with _torch.plain_torch():
        span = 1 + sum((s - 1) * st for s, st in zip(size, stride)) if all(size) else 0
        flat = torch.empty(offset + span, dtype=fake.dtype, device=device)
        with torch.no_grad():
            _fill(flat)
        real = flat.as_strided(size, stride, offset)
    return real.requires_grad_(fake.requires_grad) if fake.requires_grad else real


def _fill(flat: torch.Tensor) -> None:
    # a generator of our own: the same values every time, the user's random state untouched
    generator = torch.Generator(device=flat.device).manual_seed(0)
    if flat.dtype == torch.bool:
        flat.random_(0, 2, generator=generator)
    elif flat.dtype.is_floating_point or flat.dtype.is_complex:
        try:
            flat.normal_(generator=generator)
        except (RuntimeError, NotImplementedError):  # float8 and other dtypes without a normal kernel
            flat.copy_(torch.randn(flat.shape, device=flat.device, generator=generator).to(flat.dtype))
    else:
        flat.random_(0, 8, generator=generator)


# -- fake inputs, as the compiler saw them ------------------------------------------
def symbol_values(shapes: SymbolicInputs, inputs: Sequence[Any]) -> dict[str, int]:
    """Each symbol's value in `inputs` (real values: a dim or an int that is exactly that symbol);
    the recorded hint where no input shows it. Inputs shrunk after capture keep their symbols this way."""
    values = dict(shapes.hints)
    for symbolic, value in zip(shapes.values, inputs):
        if isinstance(symbolic, SymbolicNumber) and _is_symbol(symbolic.expr) and isinstance(value, int):
            values[symbolic.expr] = int(value)
        elif isinstance(symbolic, SymbolicTensor) and isinstance(value, torch.Tensor):
            for expr, size in zip(symbolic.size, value.shape):
                if isinstance(expr, str) and _is_symbol(expr):
                    values[expr] = int(size)
    return values


def conflicting_symbols(shapes: SymbolicInputs, inputs: Sequence[Any]) -> dict[str, list[int]]:
    """Symbols that the real `inputs` give different values (a dim or an int that is exactly that
    symbol, in two places that disagree): symbol -> the values seen."""
    seen: dict[str, set[int]] = {}
    for symbolic, value in zip(shapes.values, concrete_inputs(inputs)):
        if isinstance(symbolic, SymbolicNumber) and _is_symbol(symbolic.expr) and type(value) is int:
            seen.setdefault(symbolic.expr, set()).add(value)
        elif isinstance(symbolic, SymbolicTensor) and isinstance(value, torch.Tensor) and len(symbolic.size) == value.dim():
            for expr, size in zip(symbolic.size, value.shape):
                if _is_symbol(expr):
                    seen.setdefault(expr, set()).add(int(size))
    return {name: sorted(values) for name, values in seen.items() if len(values) > 1}


def fake_inputs(shapes: SymbolicInputs, inputs: Sequence[Any]) -> tuple[Any, list[Any]]:
    """(fake mode, fake versions of the real `inputs`) under a fresh ShapeEnv: the dims `shapes`
    records as symbolic get one symbol per recorded symbol (valued as `inputs` show it), the rest
    is static; a symbolic int becomes a SymInt; other values pass through."""
    return _torch.fake_inputs(list(inputs), shapes.to_json()["inputs"], symbol_values(shapes, inputs))


def symbolic_graph(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], shapes: SymbolicInputs | None = None
) -> tuple[torch.fx.GraphModule, list[Any]]:
    """(a copy of `gm`, its example inputs) as a compiler after AOT Autograd saw them: fake tensors
    and SymInts of one fresh ShapeEnv, symbolic where `shapes` (default: `gm`'s placeholders) says,
    sized like the real `inputs`; every node's meta["val"] is propagated anew from them.

    Whoever compiles an after-AOT graph as its inner compiler saw it calls this with the
    saved real inputs; static graphs get static fakes the same way.
    """
    shapes = describe_graph(gm) if shapes is None else shapes
    fake_mode, fakes = fake_inputs(shapes, inputs)
    return _torch.propagate_fakes(gm, fake_mode, fakes), fakes


def script_helpers() -> list[str]:
    """Source of the functions a standalone repro pastes to build what `symbolic_graph` builds."""
    return [inspect.getsource(fn).rstrip() for fn in (_torch.fake_inputs, _torch.propagate_fakes)]


def symbolic_graph_lines(shapes: SymbolicInputs, inputs: Sequence[Any], *, graph: str = "gm", real: str = "inputs") -> str:
    """Script lines (after `script_helpers`) that replace `graph` and define `example_inputs` as
    `symbolic_graph` would, from the real values `real`."""
    recorded = shapes.to_json()["inputs"]
    return "\n".join([
        f"recorded = {recorded!r}  # per input: its symbolic sizes, strides and offset, or its symbolic int",
        f"symbol_values = {symbol_values(shapes, inputs)!r}",
        f"fake_mode, example_inputs = fake_inputs({real}, recorded, symbol_values)",
        f"{graph} = propagate_fakes({graph}, fake_mode, example_inputs)",
    ])


def restore_metas(gm: torch.fx.GraphModule, shapes: SymbolicInputs, inputs: Sequence[Any], key: str) -> None:
    """Give the nodes of `gm` (read back from disk, so without metadata) example values
    (`meta[key]`) that are symbolic as `shapes` records for its inputs, propagated through the
    graph, so `describe_graph` of `gm` and of any candidate made from it (frozen nodes included)
    tells it again."""
    fake_mode, fakes = fake_inputs(shapes, inputs)
    stopped = _torch.propagate_example_values(gm, fake_mode, fakes, key)
    if stopped is not None:
        log.info("node %s does not run on fake values: it and the nodes after it have no symbolic sizes", stopped)


# -- after Dynamo: the same dims dynamic when Dynamo traces the graph again --------------
_INPUT = "__compdebug_input_{}__"  # stands for input i in `DynamoCall.arguments`
_INPUT_NAME = re.compile(r"__compdebug_input_(\d+)__")


@attrs.frozen
class DynamoCall:
    """How to hand a graph to Dynamo so that it traces its inputs symbolic as they were.

    Dynamo compiles with `dynamic=True`: every dim is symbolic, and dims of equal
    size share one symbol (duck sizing), as under `dynamic=True` or the automatic
    dynamic shapes of a recompile, except the dims that were static, which are
    marked static (`mark_static`), and dims of a symbol that is distinct from
    another one of the same size (as `mark_dynamic` makes them), which are marked
    dynamic so that they get a symbol of their own. Marks are made on every call,
    so copies of the inputs (an accuracy check makes some) are marked too. A
    symbolic int input that is a size of a tensor input (or arithmetic of such
    sizes) is read off that tensor, so Dynamo sees the same symbol; another
    symbolic int is passed as it is (Dynamo keeps ints symbolic under
    dynamic=True); an int that was static is written into the call.
    `compiled(*args)` takes the graph's arguments unchanged, so eager and
    compiled code are called alike.
    """

    static: Mapping[int, tuple[int, ...]]  # input index -> dims to mark static
    separate: Mapping[int, tuple[int, ...]]  # input index -> dims to mark dynamic (a symbol of their own)
    arguments: tuple[str | None, ...]  # per input: what the graph gets in its place (None: the argument)

    def source(self, names: Sequence[str], backend: str, *, graph: str = "mod") -> str:
        """Script lines defining `compiled(*args)`: `graph` (taking `names`) compiled by
        `torch.compile(..., backend=<backend>, fullgraph=True, dynamic=True)` with the marks."""
        names = _parameter_names(names, {graph, "torch"})  # what symbolic_mod's body reads
        args = [
            name if text is None else _INPUT_NAME.sub(lambda m: names[int(m.group(1))], text)
            for name, text in zip(names, self.arguments)
        ]
        marks = [
            *(f"    {_torch.MARK_STATIC}(args[{i}], {list(dims)!r})" for i, dims in self.static.items()),
            *(f"    {_torch.MARK_DYNAMIC}(args[{i}], {list(dims)!r})" for i, dims in self.separate.items()),
        ]
        # a function of its own for Dynamo to compile (a module would share nn.Module's call code,
        # and its recompile limit, with every other module compiled in this process)
        lines = [
            f"def symbolic_mod({', '.join(names)}):",
            "    # symbolic int inputs are read off the sizes they are, so they stay tied to them"
            if args != list(names) else "    # what Dynamo compiles: the graph, called with the arguments it is given",
            f"    return {graph}({', '.join(args)})",
            "",
            "",
            f"compiled_mod = torch.compile(symbolic_mod, backend={backend}, fullgraph=True, dynamic=True)",
            "",
            "",
            "def compiled(*args):",
            "    # the dims that were static stay static; marked on whatever inputs it is given",
            *marks,
            "    return compiled_mod(*args)",
        ]
        return "\n".join(lines)

    def function(self, gm: torch.fx.GraphModule, backend: Any) -> Any:
        """`compiled` of `source`, made here: `gm` compiled through Dynamo by the callable `backend`."""
        names = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
        namespace: dict[str, Any] = {"torch": torch, "mod": gm, "backend": backend}
        exec(compile(self.source(names, "backend"), "<compdebug symbolic call>", "exec"), namespace)  # noqa: S102
        compiled = namespace["compiled"]

        def run(*args: Any) -> Any:
            with _torch.outside_compile_session():  # as from plain code, also when called inside a backend
                return compiled(*args)

        return run


def dynamo_call(shapes: SymbolicInputs, inputs: Sequence[Any]) -> DynamoCall:
    """The `DynamoCall` that makes Dynamo trace the real `inputs` symbolic as `shapes` records.

    Dims now smaller than 2 are left to Dynamo, which specialises 0 and 1.
    """
    static: dict[int, tuple[int, ...]] = {}
    separate: dict[int, tuple[int, ...]] = {}
    sizes: dict[str, str] = {}  # symbol -> where Dynamo will find it ("<input i>.size(d)")
    duck: dict[int, str] = {}  # size -> the symbol duck sizing will give it
    for i, (symbolic, value) in enumerate(zip(shapes.values, inputs)):
        if not isinstance(value, torch.Tensor):
            continue
        recorded = symbolic.size if isinstance(symbolic, SymbolicTensor) and len(symbolic.size) == value.dim() else ()
        dynamic = [d for d, expr in enumerate(recorded) if isinstance(expr, str) and value.shape[d] >= MIN_DYNAMIC]
        fixed = tuple(d for d in range(value.dim()) if d not in dynamic and value.shape[d] >= MIN_DYNAMIC)
        if fixed:
            static[i] = fixed
        own = []
        for d in dynamic:
            expr = recorded[d]
            if not (_is_symbol(expr) and duck.setdefault(int(value.shape[d]), expr) == expr):
                own.append(d)  # another symbol of the same size, or an expression: a symbol of its own
            if _is_symbol(expr):
                sizes.setdefault(expr, f"{_INPUT.format(i)}.size({d})")
        if own:
            separate[i] = tuple(own)
    arguments: list[str | None] = []
    for i, (symbolic, value) in enumerate(zip(shapes.values, inputs)):
        argument = None
        if type(value) is int and isinstance(symbolic, SymbolicNumber):
            argument = _from_sizes(symbolic.expr, sizes)
        elif type(value) is int:
            argument = repr(value)  # static: Dynamo would make it symbolic under dynamic=True
        arguments.append(argument)
    return DynamoCall(static, separate, tuple(arguments))


def _from_sizes(expr: str, sizes: Mapping[str, str]) -> str | None:
    """Python text computing `expr` (plain arithmetic over symbols) from the input sizes that are
    those symbols; None if it is not plain arithmetic or a symbol is no input's size."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load, ast.Add, ast.Sub,
               ast.Mult, ast.Pow, ast.USub, ast.FloorDiv)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if not all(isinstance(n, allowed) for n in ast.walk(tree)) or not names <= set(sizes):
        return None

    class Substitute(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            return ast.parse(sizes[node.id], mode="eval").body

    return ast.unparse(Substitute().visit(tree))


def _is_symbol(expr: Any) -> bool:
    return isinstance(expr, str) and expr.isidentifier()


def _parameter_names(names: Sequence[str], taken: set[str]) -> list[str]:
    """`names` as parameter names: identifiers, distinct, none of `taken` (else argN)."""
    out: list[str] = []
    for i, name in enumerate(names):
        if not name.isidentifier() or keyword.iskeyword(name) or name in taken or name in out:
            name = f"arg{i}"
        out.append(name)
    return out
