"""The benchmark corpus: every case by name, built from code with seeded randomness.

Synthetic aten graphs (chains, two interacting culprits, wide graphs, a traced
module with parameters and buffers) are judged by a cheap graph-inspection
oracle; real model graphs (captured through Dynamo or AOT Autograd) by a marked
node or by a real compile with a bug injected at a randomly chosen op.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch
import torch.fx as fx
from torch import nn

from benchmarks import models
from benchmarks.markers import CULPRIT, CULPRIT_A, CULPRIT_B, contains, mark_after, runs_and_contains

aten = torch.ops.aten
# Unary elementwise ops that keep values bounded, so long chains stay finite.
UNARY = (aten.sin.default, aten.cos.default, aten.tanh.default, aten.sigmoid.default, aten.neg.default,
         aten.abs.default)
BINARY = (aten.add.Tensor, aten.mul.Tensor, aten.sub.Tensor)

Predicate = Callable[[fx.GraphModule, Sequence[Any]], bool]


@attrs.frozen
class Built:
    """One case, ready to minify: graph, inputs and how failing is judged."""

    gm: fx.GraphModule
    inputs: list[Any]
    predicate: Predicate  # a (gm, inputs) -> bool oracle; both tools get this one unless `failure` is set
    culprit: str  # where the bug is, in words
    failure: Any = None  # a compdebug failure object (real-oracle cases); torch then gets `predicate`


@attrs.frozen
class Case:
    """A named benchmark case; `build(device)` makes it (deterministically: the seed comes from the name)."""

    name: str
    family: str  # chain | two_culprits | wide | params | model
    oracle: str  # "inspect" (cheap) or "<backend> <bug kind>" (real)
    build: Callable[[str], Built] = attrs.field(repr=False)
    quick: bool = False
    size: int | None = None  # nominal node count of chain cases (the growth plot's x axis)

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())


def _rng(name: str) -> random.Random:
    return random.Random(zlib.crc32(name.encode()))


def _module(graph: fx.Graph, root: nn.Module | None = None) -> fx.GraphModule:
    graph.lint()
    return fx.GraphModule(root if root is not None else nn.Module(), graph)


# ---------------------------------------------------------------- synthetic graphs


def chain_graph(n: int, culprits: dict[int, object], rng: random.Random, *, skip_every: int = 7) -> fx.GraphModule:
    """A chain of elementwise aten ops of exactly `n` nodes (1 input, n - 2 ops, the output).

    Op number i (0-based) is `culprits[i]` where given. Every `skip_every`-th op
    is binary and also reads an earlier value, so the chain is a DAG with skips.
    """
    graph = fx.Graph()
    values = [graph.placeholder("x")]
    for i in range(n - 2):
        prev = values[-1]
        if i in culprits:
            node = graph.call_function(culprits[i], (prev,))
        elif skip_every and i % skip_every == skip_every - 1:
            other = values[max(0, len(values) - 1 - rng.randint(1, 6))]
            node = graph.call_function(rng.choice(BINARY), (prev, other))
        else:
            node = graph.call_function(rng.choice(UNARY), (prev,))
        values.append(node)
    graph.output(values[-1])
    return _module(graph)


def _chain_case(n: int, device: str, name: str) -> Built:
    rng = _rng(name)
    position = rng.randrange(n - 2)
    gm = chain_graph(n, {position: CULPRIT}, rng)
    return Built(gm, [torch.randn(8, 8, device=device)], contains(CULPRIT), f"culprit at op {position} of {n - 2}")


def _two_culprits_case(n: int, device: str, name: str) -> Built:
    rng = _rng(name)
    first = rng.randrange(n // 10, n // 4)
    second = rng.randrange(3 * n // 4, n - 2 - n // 10)
    gm = chain_graph(n, {first: CULPRIT_A, second: CULPRIT_B}, rng)
    return Built(gm, [torch.randn(8, 8, device=device)], contains(CULPRIT_A, CULPRIT_B),
                 f"culprit_a at op {first}, culprit_b at op {second} of {n - 2}: fails only with both")


def _wide_outputs_case(branches: int, device: str, name: str) -> Built:
    """One input, `branches` short branches, every branch's end an output; the culprit in one branch."""
    rng = _rng(name)
    graph = fx.Graph()
    x = graph.placeholder("x")
    culprit_branch = rng.randrange(branches)
    outputs = []
    for b in range(branches):
        node = x
        for step in range(rng.randint(1, 2)):
            target = CULPRIT if (b == culprit_branch and step == 0) else rng.choice(UNARY)
            node = graph.call_function(target, (node,))
        outputs.append(node)
    graph.output(tuple(outputs))
    return Built(_module(graph), [torch.randn(8, 8, device=device)], contains(CULPRIT),
                 f"culprit in branch {culprit_branch} of {branches} (each branch an output)")


def _wide_inputs_case(count: int, device: str, name: str) -> Built:
    """`count` inputs, each through one op, summed by a balanced tree of adds; the culprit on one input."""
    rng = _rng(name)
    graph = fx.Graph()
    culprit_input = rng.randrange(count)
    placeholders = [graph.placeholder(f"x{i}") for i in range(count)]  # all first, as Dynamo and AOT make them
    level = [graph.call_function(CULPRIT if i == culprit_input else rng.choice(UNARY), (p,))
             for i, p in enumerate(placeholders)]
    while len(level) > 1:
        paired = [graph.call_function(aten.add.Tensor, (a, b)) for a, b in zip(level[::2], level[1::2])]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    graph.output(level[0])
    inputs = [torch.randn(8, 8, device=device) for _ in range(count)]
    return Built(_module(graph), inputs, contains(CULPRIT), f"culprit on input {culprit_input} of {count}")


class ParamsAndBuffers(nn.Module):
    """Linear layers written with explicit parameters, each scaled by a buffer (get_attr nodes when traced)."""

    def __init__(self, width: int = 16, depth: int = 24) -> None:
        super().__init__()
        self.depth = depth
        for i in range(depth):
            self.register_parameter(f"w{i}", nn.Parameter(torch.randn(width, width) / width**0.5))
            self.register_parameter(f"b{i}", nn.Parameter(torch.zeros(width)))
            self.register_buffer(f"scale{i}", torch.full((width,), 0.9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.depth):
            x = torch.tanh(nn.functional.linear(x, getattr(self, f"w{i}"), getattr(self, f"b{i}")))
            x = x * getattr(self, f"scale{i}")
        return x


def _params_case(device: str, name: str) -> Built:
    rng = _rng(name)
    torch.manual_seed(zlib.crc32(name.encode()))
    gm = fx.symbolic_trace(ParamsAndBuffers().to(device))
    calls = [n for n in gm.graph.nodes if n.op in ("call_function", "call_method")]
    victim = rng.choice(calls)
    mark_after(gm, victim)
    return Built(gm, [torch.randn(4, 16, device=device)], contains(CULPRIT), f"culprit after {victim.name}")


# ---------------------------------------------------------------- real model graphs


def _captured(model: str, capture: str, device: str, name: str) -> tuple[fx.GraphModule, list[Any]]:
    module, x = models.make_model(model, device, zlib.crc32(name.encode()))
    grab = models.capture_dynamo if capture == "dynamo" else models.capture_aot
    return grab(module, x)


def _tensor_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    """Compute nodes whose value is one tensor (where a marker can go)."""
    found = []
    for node in gm.graph.nodes:
        if node.op not in ("call_function", "call_method", "call_module"):
            continue
        value = node.meta.get("val", node.meta.get("example_value"))
        if isinstance(value, torch.Tensor):
            found.append(node)
    return found


def _marked_model_case(model: str, capture: str, device: str, name: str) -> Built:
    """A captured model graph with the culprit marker inserted after one random compute node."""
    gm, inputs = _captured(model, capture, device, name)
    victim = _rng(name).choice(_tensor_nodes(gm))
    mark_after(gm, victim)
    return Built(gm, inputs, contains(CULPRIT), f"culprit after {victim.name} ({victim.target})")


def op_names(gm: fx.GraphModule) -> list[str]:
    """The bare op names of `gm`'s compute nodes, as bug injection names them, in graph order, once each."""
    modules = dict(gm.named_modules())
    names: list[str] = []
    for node in gm.graph.nodes:
        if node.op == "call_module":
            name = type(modules[str(node.target)]).__name__.lower()
        elif node.op == "call_method":
            name = str(node.target).rstrip("_")
        elif node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
            name = node.target.overloadpacket.__name__.rstrip("_")
        elif node.op == "call_function":
            name = getattr(node.target, "__name__", "").rstrip("_")
        else:
            continue
        if name.isidentifier() and not name.startswith("_") and name not in names and name != "getitem":
            names.append(name)
    return names


KIND_FAILURE = {"compile_error": "CompileFailure", "runtime_error": "RuntimeFailure", "accuracy": "AccuracyFailure"}


def _injected_model_case(model: str, capture: str, kind: str, backend: str, device: str, name: str) -> Built:
    """A captured model graph that fails `backend` through a bug of `kind` injected at a random op name.

    Ops are tried in a seeded random order until the injected bug makes the
    whole graph fail (an accuracy bug before a softmax or a norm can vanish).
    """
    from benchmarks.oracles import SameFailure, real_failure  # imports compdebug

    gm, inputs = _captured(model, capture, device, name)
    candidates = op_names(gm)
    _rng(name).shuffle(candidates)
    for op in candidates:
        failure = real_failure(kind, backend, op, capture)
        predicate = SameFailure(failure, gm, inputs)
        if predicate.expected is not None:
            return Built(gm, inputs, predicate, f"{kind} injected at every {op!r} ({capture} stage)", failure)
    raise RuntimeError(f"{name}: no op of {candidates} makes the graph fail with an injected {kind}")


# ---------------------------------------------------------------- the list


CHAIN_SIZES = (50, 200, 1000, 5000)


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, family: str, oracle: str, build: Callable[..., Built], *args: Any, quick: bool = False,
            size: int | None = None) -> None:
        cases.append(Case(name, family, oracle, lambda device, _a=args, _n=name: build(*_a, device, _n), quick, size))

    for n in CHAIN_SIZES:
        add(f"chain_{n}", "chain", "inspect", _chain_case, n, quick=n == 50, size=n)
    add("two_culprits_50", "two_culprits", "inspect", _two_culprits_case, 50, quick=True, size=50)
    add("two_culprits_200", "two_culprits", "inspect", _two_culprits_case, 200, size=200)
    add("wide_outputs_200", "wide", "inspect", _wide_outputs_case, 200, quick=True)
    add("wide_inputs_256", "wide", "inspect", _wide_inputs_case, 256)
    add("params_buffers", "params", "inspect", _params_case, quick=True)
    for model in models.MODELS:
        for capture in ("dynamo", "aot"):
            add(f"{model}_{capture}_marked", "model", "inspect", _marked_model_case, model, capture,
                quick=(model, capture) == ("mlp", "aot"))
    # real oracles: each model, each capture path, each bug kind at least once; few, because
    # every query is a real compile (~1 s warm with inductor on CPU)
    for model, capture, kind in (("mlp", "dynamo", "compile_error"), ("cnn", "aot", "runtime_error"),
                                 ("transformer", "dynamo", "accuracy")):
        add(f"{model}_{capture}_{kind}", "model", f"inductor {kind}", _injected_model_case, model, capture, kind,
            "inductor")
    add("mlp_dynamo_compile_error_eager", "model", "eager compile_error", _injected_model_case, "mlp", "dynamo",
        "compile_error", "eager", quick=True)
    return cases


CASES: tuple[Case, ...] = tuple(_cases())
BY_NAME: dict[str, Case] = {case.name: case for case in CASES}


def select(*, quick: bool = False, names: Sequence[str] = ()) -> list[Case]:
    """The cases to run: those named (in corpus order), else the quick subset, else all."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; known: {sorted(BY_NAME)}")
    if names:
        return [c for c in CASES if c.name in names]
    return [c for c in CASES if c.quick or not quick]


def offload_chain(ops: int, side: int, device: str) -> tuple[fx.GraphModule, list[torch.Tensor], Predicate]:
    """The offload benchmark's graph: `ops` unary ops on one side x side float32 input, culprit near the end.

    Every intermediate is a fresh side*side*4-byte tensor; the oracle runs the
    candidate eagerly (values matter) and then looks for the culprit.
    """
    rng = random.Random(ops * 10007 + side)
    graph = fx.Graph()
    node = graph.placeholder("x")
    culprit_at = ops - 1 - max(1, ops // 12)
    for i in range(ops):
        node = graph.call_function(CULPRIT if i == culprit_at else rng.choice(UNARY), (node,))
    graph.output(node)
    torch.manual_seed(0)
    return _module(graph), [torch.randn(side, side, device=device)], runs_and_contains(CULPRIT)
