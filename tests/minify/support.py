"""Graphs, predicates and an independent 1-minimality checker for the minifier tests."""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx as fx

from compdebug.backends.spec import resolve_backend
from compdebug.errors import ReluCompileError

Predicate = Callable[[fx.GraphModule, Sequence[Any]], bool]

SEED_REPRO = """\
class Repro(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, x_19):
        x_20 = torch.relu(x_19);  x_19 = None
        return (x_20,)"""


def after_dynamo(fn: Callable[..., Any], *inputs: Any, **compile_kwargs: Any) -> tuple[fx.GraphModule, list[Any]]:
    """The (first) graph and example inputs Dynamo hands a backend when compiling `fn`."""
    captured: list[tuple[fx.GraphModule, list[Any]]] = []

    def grab(gm: fx.GraphModule, example_inputs: list[Any]) -> Any:
        captured.append((gm, list(example_inputs)))
        return gm.forward

    torch._dynamo.reset()
    torch.compile(fn, backend=grab, **compile_kwargs)(*inputs)
    return captured[0]


def sin_relu_cos(sins: int, coses: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def inner(x: torch.Tensor) -> torch.Tensor:
        for _ in range(sins):
            x = torch.sin(x)
        x = torch.relu(x)
        for _ in range(coses):
            x = torch.cos(x)
        return x

    return inner


def seed_graph() -> tuple[fx.GraphModule, list[Any]]:
    """test_if_graph_minified's graph: 20 sin, a relu, 20 cos, after Dynamo."""
    return after_dynamo(sin_relu_cos(20, 20), torch.randn(20, 20))


class Counting:
    """Wraps a predicate and counts its calls."""

    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate
        self.calls = 0

    def __call__(self, gm: fx.GraphModule, inputs: Sequence[Any]) -> bool:
        self.calls += 1
        return self.predicate(gm, inputs)


def relu_compile_fails(gm: fx.GraphModule, inputs: Sequence[Any]) -> bool:
    """Compiling with compdebug_relu_compile_error raises ReluCompileError."""
    try:
        resolve_backend("compdebug_relu_compile_error").compile(gm, list(inputs))
    except ReluCompileError:
        return True
    return False


def targets(gm: fx.GraphModule) -> list[str]:
    """The op name of every compute node, in order ("relu", "sin", "add", ...)."""
    names = []
    for node in gm.graph.nodes:
        if node.op in ("call_function", "call_method"):
            target = node.target
            names.append(target if isinstance(target, str) else getattr(target, "__name__", str(target)).split(".")[0])
        elif node.op == "call_module":
            names.append(type(gm.get_submodule(node.target)).__name__)
    return names


def contains_all(*ops: str) -> Predicate:
    """Fails when the graph holds every op of `ops` (by name)."""

    def fails(gm: fx.GraphModule, inputs: Sequence[Any]) -> bool:
        present = targets(gm)
        return all(op in present for op in ops)

    return fails


def relu_of_mul(gm: fx.GraphModule, inputs: Sequence[Any]) -> bool:
    """Fails when some relu reads the result of a mul computed in the graph (an edge, not just ops)."""
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is torch.relu:
            arg = node.args[0]
            if isinstance(arg, fx.Node) and arg.op == "call_function" and arg.target is operator.mul:
                return True
    return False


def random_dag(seed: int, size: int = 30) -> tuple[fx.GraphModule, list[torch.Tensor]]:
    """A random graph of elementwise torch ops with skip connections and several outputs."""
    rng = random.Random(seed)
    graph = fx.Graph()
    values = [graph.placeholder("x"), graph.placeholder("y")]
    unary = [torch.sin, torch.cos, torch.relu, torch.tanh, torch.sigmoid]
    binary = [operator.add, operator.mul]
    for _ in range(size):
        if rng.random() < 0.4:
            op, args = rng.choice(binary), (rng.choice(values[-6:]), rng.choice(values))
        else:
            op, args = rng.choice(unary), (rng.choice(values[-4:]),)
        values.append(graph.call_function(op, args))
    unused = [v for v in values[2:] if not v.users]
    graph.output(tuple(unused[-3:]) if unused else (values[-1],))
    graph.eliminate_dead_code()
    graph.lint()
    return fx.GraphModule(torch.nn.Module(), graph), [torch.randn(4, 4), torch.randn(4, 4)]


def one_minimal_violations(gm: fx.GraphModule, inputs: Sequence[Any], fails: Predicate) -> list[str]:
    """Every single-step removal of `gm` that still fails (empty when `gm` is 1-minimal).

    Tries, for each compute node, replacing it by an input holding its eager
    value, and for each output, no longer returning it; dead code and unused
    inputs are removed after each step. A graph left with no nodes at all does
    not count as failing. Written independently of compdebug's passes.
    """
    values = _eager_values(gm, inputs)
    violations = []
    for name in [n.name for n in gm.graph.nodes if n.op in ("call_function", "call_method", "call_module")]:
        if not isinstance(values[name], (torch.Tensor, int, float, bool)):
            continue
        graph, new_inputs = _copy(gm, inputs)
        node = next(n for n in graph.nodes if n.name == name)
        first = next(iter(graph.nodes))
        with graph.inserting_before(first):
            holder = graph.placeholder(f"{name}_value")
        node.replace_all_uses_with(holder)
        graph.erase_node(node)
        # placeholders must come first, in the order of the inputs
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        new_inputs = new_inputs + [values[name]]
        order = [*placeholders[1:], placeholders[0]]
        if _still_fails(gm, graph, order, new_inputs, fails):
            violations.append(f"turning {name} into an input")
    output_count = len(_outputs(gm.graph))
    for index in range(output_count):
        graph, new_inputs = _copy(gm, inputs)
        output = next(n for n in graph.nodes if n.op == "output")
        kept = [v for i, v in enumerate(_outputs(graph)) if i != index]
        output.args = (tuple(kept),)
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        if _still_fails(gm, graph, placeholders, new_inputs, fails):
            violations.append(f"dropping output {index}")
    return violations


def _eager_values(gm: fx.GraphModule, inputs: Sequence[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}

    class Keep(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            result = super().run_node(n)
            values[n.name] = result.detach().clone() if isinstance(result, torch.Tensor) else result
            return result

    Keep(gm, garbage_collect_values=False).run(*[x.clone() if isinstance(x, torch.Tensor) else x for x in inputs])
    return values


def _copy(gm: fx.GraphModule, inputs: Sequence[Any]) -> tuple[fx.Graph, list[Any]]:
    graph = fx.Graph()
    out = graph.graph_copy(gm.graph, {})
    graph.output(out)
    return graph, list(inputs)


def _outputs(graph: fx.Graph) -> list[Any]:
    output = next(n for n in graph.nodes if n.op == "output")
    arg = output.args[0]
    return list(arg) if isinstance(arg, (tuple, list)) else [arg]


def _still_fails(
    gm: fx.GraphModule, graph: fx.Graph, order: list[fx.Node], inputs: list[Any], fails: Predicate
) -> bool:
    """Clean `graph` up (dead code, unused inputs), then ask `fails`."""
    module = fx.GraphModule(gm, graph)  # dead-code elimination asks the owning module about submodules
    graph = module.graph
    by_name = {node.name: value for node, value in zip(order, inputs)}
    graph.eliminate_dead_code()
    kept_inputs = []
    for node in [n for n in graph.nodes if n.op == "placeholder"]:
        if node.users:
            kept_inputs.append(by_name[node.name])
        else:
            graph.erase_node(node)
    if len(graph.nodes) == 1 and not _outputs(graph):
        return False
    graph.lint()
    module.recompile()
    return fails(module, kept_inputs)
