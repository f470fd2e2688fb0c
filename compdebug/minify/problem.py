"""Candidates: sub-graphs of the original graph, and how they become GraphModules.

A `Candidate` names what it returns, which dead-end nodes it keeps, and which
compute nodes became inputs (holding their eager values). Everything else
follows from the original graph, so node names never change and the normal
form (`Layout`: only the nodes the candidate needs, inputs first) costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import torch
import torch.fx

from compdebug.minify.tensors import ValueMeta, dressed
from compdebug.minify.values import COMPUTE_OPS, EagerFacts, ValueStore

# node meta a placeholder inherits from the node it replaces (what compilers read of it)
_VALUE_META_KEYS = ("example_value", "val", "tensor_meta")


@attrs.frozen
class Candidate:
    """A sub-graph of the original, by node names."""

    outputs: tuple[str, ...]  # returned, in this order
    kept: frozenset[str] = frozenset()  # nodes kept although nothing uses them (dead code, unused inputs)
    frozen: frozenset[str] = frozenset()  # compute nodes replaced by inputs holding their eager values


@attrs.frozen
class Layout:
    """A candidate in normal form: exactly the nodes it runs, in the original order."""

    candidate: Candidate  # with `kept` and `frozen` cut down to live nodes
    inputs: tuple[str, ...]  # placeholders: original ones first, then frozen nodes
    body: tuple[str, ...]  # get_attr and compute nodes
    compute: tuple[str, ...]  # the compute nodes of `body`

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.candidate.outputs

    @property
    def cost(self) -> tuple[int, int, int]:
        """What shrinking means: fewer compute nodes, then fewer outputs, then fewer inputs."""
        return len(self.compute), len(self.outputs), len(self.inputs)

    @property
    def node_count(self) -> int:
        """`len(graph.nodes)` of the GraphModule this layout builds (the output node included)."""
        return len(self.inputs) + len(self.body) + 1

    @property
    def empty(self) -> bool:
        return not self.inputs and not self.body and not self.outputs


class Problem:
    """The original graph, its inputs and eager values, indexed for building candidates."""

    def __init__(self, gm: torch.fx.GraphModule, root: torch.nn.Module, inputs: Sequence[Any]) -> None:
        self.gm = gm
        self.root = root
        nodes = [n for n in gm.graph.nodes if n.op != "output"]
        self.nodes = {n.name: n for n in nodes}
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self.deps = {n.name: tuple(a.name for a in n.all_input_nodes) for n in nodes}
        self.users = {n.name: tuple(u.name for u in n.users if u.op != "output") for n in nodes}
        placeholders = [n.name for n in nodes if n.op == "placeholder"]
        self.input_values = dict(zip(placeholders, inputs))
        self.metas = {name: ValueMeta.of(v) for name, v in self.input_values.items()}
        output = next(n for n in gm.graph.nodes if n.op == "output")
        self.output_arg = output.args[0] if output.args else None
        self.original = Candidate(
            outputs=_unique(n.name for n in _nodes_in(self.output_arg)),
            kept=frozenset(n.name for n in nodes if not n.users),
        )
        self.facts = EagerFacts(metas={}, stored=frozenset())
        self.store: ValueStore | None = None

    def attach_values(self, facts: EagerFacts, store: ValueStore) -> None:
        """Learn the eager run: from now on, nodes whose values `store` holds may become inputs."""
        self.facts = facts
        self.store = store
        self.metas = {**facts.metas, **self.metas}

    # -- what a node is ----------------------------------------------------
    def op(self, name: str) -> str:
        return self.nodes[name].op

    def is_compute(self, name: str) -> bool:
        return self.nodes[name].op in COMPUTE_OPS

    def can_freeze(self, name: str) -> bool:
        """Whether `name` may become an input: a compute node whose eager value is stored."""
        return name in self.facts.stored

    # -- normal form ------------------------------------------------------
    def layout(self, candidate: Candidate) -> Layout:
        """The nodes `candidate` runs: everything its outputs and kept nodes need, up to inputs."""
        frozen = frozenset(n for n in candidate.frozen if self.is_compute(n))
        live: set[str] = set()
        stack = [*candidate.outputs, *candidate.kept]
        while stack:
            name = stack.pop()
            if name in live:
                continue
            live.add(name)
            if name not in frozen:
                stack.extend(self.deps[name])
        ordered = sorted(live, key=self.index.__getitem__)
        inputs = tuple(n for n in ordered if n in frozen or self.op(n) == "placeholder")
        body = tuple(n for n in ordered if n not in frozen and self.op(n) != "placeholder")
        outputs = candidate.outputs
        if outputs != self.original.outputs:  # a new output list: in graph order, each once
            outputs = tuple(sorted(set(outputs), key=self.index.__getitem__))
        canonical = Candidate(outputs, frozenset(candidate.kept) & live, frozen & live)
        return Layout(canonical, inputs, body, tuple(n for n in body if self.is_compute(n)))

    def faithful(self, layout: Layout) -> bool:
        """Whether every input of `layout` stands for its node exactly as that node's users saw it.

        Not so when a node sharing the input's memory (a view and its base, a
        tensor and its in-place writer) stays in the graph, where the original
        program had one memory seen through two names; or when a live user (or
        the output) read the node's memory after an in-place write the stored
        value predates.
        """
        live = {*layout.inputs, *layout.body}
        returned = set(layout.outputs)
        for name in layout.candidate.frozen:
            if any(other != name and other in live for other in self.facts.alias_groups.get(name, ())):
                return False
            writer = self.facts.first_write.get(name)
            if writer is not None:
                after = self.index[writer]
                if name in returned or any(u in live and self.index[u] > after for u in self.users[name]):
                    return False
        return True

    # -- building ----------------------------------------------------------
    def graph_module(self, layout: Layout) -> torch.fx.GraphModule:
        """A new GraphModule running `layout` (sharing the root module's parameters and submodules)."""
        graph = torch.fx.Graph()
        env: dict[str, torch.fx.Node] = {}
        for name in layout.inputs:
            node = self.nodes[name]
            if node.op == "placeholder":
                env[name] = graph.node_copy(node)
            else:
                env[name] = graph.placeholder(name)
                env[name].meta.update({k: node.meta[k] for k in _VALUE_META_KEYS if k in node.meta})
        for name in layout.body:
            env[name] = graph.node_copy(self.nodes[name], lambda n: env[n.name])
        if layout.outputs == self.original.outputs:
            graph.output(torch.fx.node.map_arg(self.output_arg, lambda n: env[n.name]))
        else:
            graph.output(tuple(env[name] for name in layout.outputs))
        graph.lint()
        return torch.fx.GraphModule(self.root, graph)

    def inputs(self, layout: Layout) -> list[Any]:
        """The input values of `layout`: templates for `fresh_inputs`, never to be written into."""
        return [self.input_values[n] if n in self.input_values else self._stored(n) for n in layout.inputs]

    def _stored(self, name: str) -> Any:
        assert self.store is not None, "attach_values first"
        return dressed(self.store.get(name), self.metas[name])

    def structure_key(self, layout: Layout, *, value_sensitive: bool) -> tuple[Any, ...]:
        """The cache key of `layout`: its code with nodes numbered by position, plus input metadata.

        Without `value_sensitive`, candidates that differ only in which nodes'
        values feed inputs of the same shapes and dtypes share one key.
        """
        position = {name: i for i, name in enumerate((*layout.inputs, *layout.body))}

        def arg_key(arg: Any) -> Any:
            if isinstance(arg, torch.fx.Node):
                return ("%", position[arg.name])
            if isinstance(arg, (tuple, list)):
                return (type(arg).__name__, *map(arg_key, arg))
            if isinstance(arg, dict):
                return ("dict", *((k, arg_key(v)) for k, v in arg.items()))
            if isinstance(arg, slice):
                return ("slice", arg_key(arg.start), arg_key(arg.stop), arg_key(arg.step))
            if arg is None or isinstance(arg, (bool, int, float, complex, str)):
                return (type(arg).__name__, repr(arg))
            if isinstance(arg, (torch.dtype, torch.device, torch.memory_format, torch.layout)):
                return repr(arg)
            return ("object", id(arg))

        inputs = tuple(attrs.astuple(self.metas[n]) for n in layout.inputs)
        body = tuple(
            (node.op, _target_key(node.target), arg_key(node.args), arg_key(node.kwargs))
            for node in (self.nodes[n] for n in layout.body)
        )
        if layout.outputs == self.original.outputs:
            returned = self.output_arg
        else:
            returned = tuple(self.nodes[n] for n in layout.outputs)
        sources = layout.inputs if value_sensitive else ()
        return inputs, body, arg_key(returned), sources


def _target_key(target: Any) -> Any:
    # a call's target is a name (method, submodule, attribute) or a callable the original graph keeps alive
    return target if isinstance(target, str) else id(target)


def _nodes_in(arg: Any) -> list[torch.fx.Node]:
    found: list[torch.fx.Node] = []
    torch.fx.node.map_arg(arg, found.append)
    return found


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
