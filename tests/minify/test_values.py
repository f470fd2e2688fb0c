"""One eager run of the original graph: which values are kept, and what is never turned into an input."""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
from torch.fx.experimental.proxy_tensor import make_fx

from compdebug.minify.effects import Effect, static_effect
from compdebug.minify.tensors import ValueMeta, fresh_copy
from compdebug.minify.values import InMemoryValues, ValueStore, record_values, run_eager


def test_in_memory_store_keeps_every_value_that_may_become_an_input():
    gm = fx.symbolic_trace(lambda x: (torch.sin(x) * 2).cos().sum())
    x = torch.randn(5)
    store = InMemoryValues()
    assert isinstance(store, ValueStore)
    record_values(gm, [x], store)
    torch.testing.assert_close(store.get("sin"), torch.sin(x))
    torch.testing.assert_close(store.get("mul"), torch.sin(x) * 2)
    torch.testing.assert_close(store.get("sum_1"), torch.sin(x).mul(2).cos().sum())
    assert store.bytes_written == 0


def test_values_are_stored_as_made_even_when_written_into_later():
    def program(x):
        a = torch.sin(x)
        v = a.view(2, 3)
        v.add_(1)  # writes into a (and v) after both ran
        b = a * 2
        return b, v.t()

    gm = fx.symbolic_trace(program)
    x = torch.randn(6)
    store = InMemoryValues()
    facts = run_eager(gm, [x], store)
    assert facts.alias_groups["sin"] == {"sin", "view", "add_", "t"}
    assert facts.mutating == {"add_"}
    assert facts.first_write == {"sin": "add_", "view": "add_"}
    assert facts.stored == {"sin", "view", "add_", "mul", "t"}
    torch.testing.assert_close(store.get("sin"), torch.sin(x))  # as made, not sin(x) + 1
    torch.testing.assert_close(store.get("view"), torch.sin(x).view(2, 3))
    torch.testing.assert_close(store.get("add_"), (torch.sin(x) + 1).view(2, 3))
    torch.testing.assert_close(store.get("mul"), (torch.sin(x) + 1) * 2)


class ReturnsItsBuffer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("buf", torch.zeros(3))

    def forward(self, x):
        return self.buf  # module state, not a view of an input: no graph edge shows the sharing


def bump(t):
    """Writes in place, and no schema says so."""
    t.add_(1)


def _writes_into_module_state(writer, *args):
    root = torch.nn.Module()
    root.ret = ReturnsItsBuffer()
    graph = fx.Graph()
    x = graph.placeholder("x")
    state = graph.call_module("ret", (x,))
    buf = graph.get_attr("ret.buf")
    writer(graph, buf)
    graph.output((graph.call_function(operator.mul, (state, 2)),))
    return fx.GraphModule(root, graph)


def test_a_write_no_schema_announces_is_caught_by_the_version_counter():
    gm = _writes_into_module_state(lambda graph, buf: graph.call_function(bump, (buf,)))
    facts = run_eager(gm, [torch.randn(3)], InMemoryValues())
    assert "ret" not in facts.alias_groups  # nothing links the two
    assert "ret" not in facts.stored and "mul" in facts.stored


def test_a_write_the_schema_announces_is_preceded_by_a_copy():
    gm = _writes_into_module_state(lambda graph, buf: graph.call_method("add_", (buf, 1)))
    store = InMemoryValues()
    facts = run_eager(gm, [torch.randn(3)], store)
    assert "ret" in facts.stored
    assert torch.equal(store.get("ret"), torch.zeros(3))  # as ret made it, before add_


def test_tuple_elements_share_memory_only_when_their_producer_makes_views():
    def program(x):
        values, indices = torch.max(x, dim=0)
        first, second = torch.split(x, 2)
        return values, indices, first + second

    gm = fx.symbolic_trace(program)
    facts = run_eager(gm, [torch.randn(4, 3)], InMemoryValues())
    getitems = [n for n in gm.graph.nodes if n.target is operator.getitem]
    max_items = [n.name for n in getitems if n.args[0].target is torch.max]
    split_items = [n.name for n in getitems if n.args[0].target is torch.split]
    assert set(max_items) <= facts.stored and not set(max_items) & facts.aliasing
    assert facts.alias_groups[split_items[0]] >= {"x", *split_items}


def test_static_effects_from_schemas():
    gm = make_fx(lambda x: x.t().relu_().sin().unsqueeze(0))(torch.randn(2, 2))
    effects = {n.name: static_effect(n, gm) for n in gm.graph.nodes if n.op == "call_function"}
    assert effects == {"t": Effect.VIEW, "relu_": Effect.MUTATES, "sin": Effect.PURE, "unsqueeze": Effect.VIEW}
    traced = fx.symbolic_trace(lambda x: torch.nn.functional.relu(torch.add(x, 1, out=x), inplace=True))
    assert [static_effect(n, traced) for n in traced.graph.nodes if n.op == "call_function"] == [Effect.MUTATES] * 2


def test_eager_error_keeps_what_ran():
    def program(x):
        a = torch.sin(x)
        b = a.view(7)  # cannot view 6 elements as 7
        return b.cos()

    gm = fx.symbolic_trace(program)
    facts = run_eager(gm, [torch.randn(6)], InMemoryValues())
    assert facts.failed_at == "view" and "RuntimeError" in facts.error
    assert facts.stored == {"sin"} and "cos" not in facts.metas


def test_fresh_copy_keeps_strides_leafness_and_does_not_share_memory():
    expanded = torch.randn(3, 1).expand(3, 4)  # overlapping strides
    copy = fresh_copy(expanded)
    assert copy.stride() == expanded.stride() and torch.equal(copy, expanded)
    assert copy.untyped_storage().data_ptr() != expanded.untyped_storage().data_ptr()
    nonleaf = torch.randn(2, 3, requires_grad=True) * 2
    copy = fresh_copy(nonleaf)
    assert copy.requires_grad and not copy.is_leaf and torch.equal(copy, nonleaf)
    param = torch.nn.Parameter(torch.randn(2))
    assert isinstance(fresh_copy(param), torch.nn.Parameter)
    random = fresh_copy(torch.zeros(4, 4).t(), random=True)
    assert random.stride() == (1, 4) and random.abs().sum() > 0


def test_value_meta_describes_what_a_compiler_sees():
    meta = ValueMeta.of(torch.zeros(2, 3, dtype=torch.half).t())
    assert (meta.kind, meta.shape, meta.stride, meta.dtype) == ("tensor", (3, 2), (1, 3), torch.half)
    assert ValueMeta.of(7).kind == "int" and ValueMeta.of(7).number == "7"
    assert not ValueMeta.of((1, 2)).can_be_input
