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


def test_a_break_before_any_graph_makes_no_second_graph():
    def prints_first(x):
        print("side effect")
        return x.sin()

    eb, compiled = explain(prints_first)
    compiled(torch.randn(2))
    out = eb.output()
    assert out.graph_count == 1
    assert out.graph_break_count == 0  # as torch counts: one graph, nothing split


def test_a_failing_inner_backend_keeps_graphs_and_times_aligned():
    def broken(gm, example_inputs):
        raise RuntimeError("backend bug")

    eb, compiled = explain(lambda x: x + 1, broken)
    with pytest.raises(Exception, match="backend bug"):
        compiled(torch.randn(2))
    out = eb.output()
    assert out.graph_count == len(out.compile_times) == 1


def test_clear_forgets_the_record():
    eb, compiled = explain(outer)
    compiled(torch.randn(3))
    eb.clear()
    out = eb.output()
    assert (out.graph_count, out.graph_break_count, out.op_count, out.break_reasons) == (0, 0, 0, [])
    compiled(torch.randn(5))  # a recompile for the new shape, counted afresh
    assert (eb.output().graph_count, eb.output().graph_break_count) == (4, 3)


class ResettableCompiler:
    """A backend with state of its own, which torch._dynamo.reset() resets (as cudagraphs has)."""

    def __init__(self):
        self.resets = 0

    def __call__(self, gm, example_inputs):
        return gm.forward

    def reset(self):
        self.resets += 1


def test_torch_dynamo_reset_keeps_the_record_and_resets_the_wrapped_backend():
    inner_backend = ResettableCompiler()
    eb, compiled = explain(outer, inner_backend)
    compiled(torch.randn(3))
    before = eb.output().to_dict()

    torch._dynamo.reset()  # torch calls reset() on every backend it cached: eb
    assert eb.output().to_dict() == before
    assert inner_backend.resets == 1

    compiled(torch.randn(3))  # compiled again from scratch: a new call, four more graphs
    out = eb.output()
    assert (out.graph_count, out.graph_break_count) == (8, 6)
    assert [gm.code for gm in out.graphs[:4]] == before["graphs"]


def test_an_unknown_backend_name_is_a_usage_error():
    with pytest.raises(BackendError, match="unknown backend 'eagre'.*'eager'"):
        compdebug.ExplainWithBackend("eagre")


# -- the same counts as torch's ExplainWithBackend ------------------------------


def prints(x):
    x = torch.sin(x)
    print("side effect")
    return torch.cos(x)


def calls_a_breaking_function_first(x):
    """The first graph starts in `prints`, a frame nested in this one."""
    return prints(x) + 1


def computes_then_calls_it(x):
    return prints(x * 2) + 1


def prints_at_once(x):
    print("side effect")
    return x.sin()


def breaks_twice_deep(x):
    return outer(calls_a_breaking_function_first(x)).tan()


def breaks_in_a_loop(x):
    for _ in range(3):
        x = prints(x)
    return x


class Hooked(torch.nn.Module):
    """A module whose submodule hook prints: the break sits in a frame Dynamo was inlining."""

    def __init__(self):
        super().__init__()
        self.first = torch.nn.Linear(4, 4)
        self.second = torch.nn.Linear(4, 4)
        self.first.register_forward_pre_hook(lambda module, args: print("hook"))

    def forward(self, x):
        return self.second(self.first(x).relu())


def vector():
    return (torch.randn(4),)


# name -> (a function that builds the program, one that builds its inputs)
PROGRAMS = {
    "outer": (lambda: outer, vector),
    "nested_first_graph": (lambda: calls_a_breaking_function_first, vector),
    "graph_then_nested": (lambda: computes_then_calls_it, vector),
    "break_before_any_graph": (lambda: prints_at_once, vector),
    "two_levels": (lambda: breaks_twice_deep, vector),
    "loop": (lambda: breaks_in_a_loop, vector),
    "module_hook": (Hooked, lambda: (torch.randn(2, 4),)),
}


def counts_of(out):
    return {
        "graph_count": out.graph_count,
        "graph_break_count": out.graph_break_count,
        "op_count": out.op_count,
        "break_reasons": len(out.break_reasons),
    }


def counts_side_by_side(make_program, make_inputs):
    """(torch's counts, compdebug's counts) for one call of a fresh program, Dynamo reset before each."""
    from torch._dynamo.backends.debugging import ExplainWithBackend as TorchExplain

    results = []
    for explainer in (TorchExplain, compdebug.ExplainWithBackend):
        torch._dynamo.reset()
        torch.manual_seed(0)
        program = make_program()
        eb = explainer("eager")
        torch.compile(program, backend=eb)(*make_inputs())
        results.append(counts_of(eb.output()))
    return results


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_counts_equal_torchs_explain_with_backend(name, capsys):
    theirs, ours = counts_side_by_side(*PROGRAMS[name])
    assert ours == theirs


def test_nested_first_graph_has_one_break_less_than_graphs():
    # issue 9: compdebug said 3 graphs / 3 breaks here, torch 3 / 2
    eb, compiled = explain(calls_a_breaking_function_first)
    compiled(torch.randn(4))
    out = eb.output()
    assert (out.graph_count, out.graph_break_count) == (3, 2)


@pytest.mark.realmodel
def test_counts_equal_torchs_on_gpt2_with_prints(capsys):
    pytest.importorskip("transformers")
    from benchmarks.real_models import MODELS

    def gpt2_with_prints():
        model, _ = MODELS["gpt2"].build()
        for block in model.model.transformer.h:  # breaks in frames Dynamo inlines, the first one nested
            block.attn.register_forward_hook(lambda module, args, output: print("attention"))
            block.mlp.register_forward_pre_hook(lambda module, args: print("mlp"))
        return model

    theirs, ours = counts_side_by_side(gpt2_with_prints, lambda: MODELS["gpt2"].make_inputs(2))
    assert ours == theirs
    assert ours["graph_count"] > 2  # the prints did break the model up
