"""compdebug.ExplainWithBackend: graphs, breaks, ops, compile times and the break summary."""

from __future__ import annotations

import json

import pytest
import torch

import compdebug
from compdebug.errors import BackendError


def inner(x):
    x = torch.sin(x)
    torch._dynamo.graph_break()
    return torch.sin(x)


def outer(x):
    """Breaks once (in `inner`); Dynamo splits it into four graphs."""
    x = torch.cos(x)
    x = inner(x)
    return torch.cos(x)


def explain(fn, backend="eager"):
    eb = compdebug.ExplainWithBackend(backend)
    compiled = torch.compile(fn, backend=eb)
    return eb, compiled


def test_counts_graphs_breaks_ops_and_times_each_compile():
    eb, compiled = explain(outer)
    x = torch.randn(6)
    assert torch.allclose(compiled(x), outer(x))
    out = eb.output()

    assert out.graph_count == len(out.graphs) == 4
    assert out.graph_break_count == 3
    assert out.op_count == 4
    assert out.ops_per_graph == [["torch.cos"], ["torch.sin"], ["torch.sin"], ["torch.cos"]]
    assert len(out.compile_times) == out.graph_count
    assert all(t >= 0 for t in out.compile_times)
    assert all(isinstance(gm, torch.fx.GraphModule) for gm in out.graphs)


def test_break_reasons_carry_reason_text_and_user_stack():
    eb, compiled = explain(outer)
    compiled(torch.randn(3))
    reasons = eb.output().break_reasons

    assert len(reasons) == 2  # the break ends a graph in `outer` and one in `inner`
    assert all("graph_break" in r.reason for r in reasons)
    assert [f.name for f in reasons[0].user_stack] == ["outer", "inner"]
    assert [f.name for f in reasons[1].user_stack] == ["inner"]
    assert [r.graph_index for r in reasons] == [0, 1]


def test_summary_counts_the_same_break_at_the_same_place_once():
    def two_kinds(x):
        x = torch.sin(x)
        print("side effect")  # a second, different break
        return outer(x)

    eb, compiled = explain(two_kinds)
    compiled(torch.randn(3))
    out = eb.output()

    assert len(out.break_reasons) == 3
    counts = {s.location.rsplit(" in ", 1)[1]: s.count for s in out.break_summary}
    assert counts == {"two_kinds": 1, "inner": 2}
    inner_summary = next(s for s in out.break_summary if s.location.endswith("in inner"))
    assert "graph_break" in inner_summary.reason
    text = str(out)
    assert "Break Reason Summary" in text and "2x at" in text


def test_str_has_every_section():
    eb, compiled = explain(outer)
    compiled(torch.randn(3))
    text = str(eb.output())
    for section in ["Graph Count: 4", "Graph Break Count: 3", "Op Count: 4", "Break Reasons:", "Ops per Graph:", "Compile Times:"]:
        assert section in text


def test_to_dict_survives_a_json_round_trip():
    eb, compiled = explain(outer)
    compiled(torch.randn(3))
    out = eb.output()
    as_dict = out.to_dict()

    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["graph_count"] == 4 and as_dict["graph_break_count"] == 3 and as_dict["op_count"] == 4
    assert as_dict["break_summary"][0]["count"] == 2
    assert as_dict["break_reasons"][0]["user_stack"][-1]["name"] == "inner"
    assert "torch.cos" in as_dict["graphs"][0]
    assert len(as_dict["compile_times"]) == 4


def test_a_callable_backend_compiles_every_graph():
    compiled_graphs = []

    def my_compiler(gm, example_inputs):
        compiled_graphs.append(gm)
        return gm.forward

    eb, compiled = explain(outer, my_compiler)
    x = torch.randn(4)
    assert torch.allclose(compiled(x), outer(x))
    assert compiled_graphs == eb.output().graphs
    assert len(compiled_graphs) == 4


def test_separate_functions_and_recompiles_are_not_counted_as_breaks():
    eb = compdebug.ExplainWithBackend("eager")
    first = torch.compile(lambda x: x.sin() + 1, backend=eb, dynamic=False)
    second = torch.compile(lambda x: x.cos() * 2, backend=eb)
    first(torch.randn(3))
    second(torch.randn(3))
    first(torch.randn(5))  # a recompile for the new shape

    out = eb.output()
    assert out.graph_count == 3
    assert out.graph_break_count == 0
    assert out.ops_per_graph[0] == ["method:sin", "operator.add"]


def test_a_break_before_any_graph_still_counts():
    def prints_first(x):
        print("side effect")
        return x.sin()

    eb, compiled = explain(prints_first)
    compiled(torch.randn(2))
    out = eb.output()
    assert out.graph_count == 1
    assert out.graph_break_count == 1


def test_a_failing_inner_backend_keeps_graphs_and_times_aligned():
    def broken(gm, example_inputs):
        raise RuntimeError("backend bug")

    eb, compiled = explain(lambda x: x + 1, broken)
    with pytest.raises(Exception, match="backend bug"):
        compiled(torch.randn(2))
    out = eb.output()
    assert out.graph_count == len(out.compile_times) == 1


def test_reset_forgets_the_record():
    eb, compiled = explain(outer)
    compiled(torch.randn(3))
    eb.reset()
    out = eb.output()
    assert (out.graph_count, out.graph_break_count, out.op_count, out.break_reasons) == (0, 0, 0, [])


def test_an_unknown_backend_name_is_a_usage_error():
    with pytest.raises(BackendError, match="unknown backend 'eagre'.*'eager'"):
        compdebug.ExplainWithBackend("eagre")
