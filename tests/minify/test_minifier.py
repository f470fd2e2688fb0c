"""compdebug.Minifier on real graphs: after Dynamo, after make_fx, traced modules; real testing backends."""

from __future__ import annotations

import importlib.util
import logging
import operator
import subprocess
import sys

import pytest
import torch
import torch.fx as fx
from torch.fx.experimental.proxy_tensor import make_fx

import compdebug
from compdebug.errors import BadInputError, CompdebugError, GraphDoesNotFailError
from tests.conftest import requires_gpu
from tests.minify.support import (
    SEED_REPRO,
    Counting,
    after_dynamo,
    contains_all,
    one_minimal_violations,
    random_dag,
    relu_compile_fails,
    relu_of_mul,
    seed_graph,
    sin_relu_cos,
    targets,
)

RELU_COMPILE = "compdebug_relu_compile_error"


# ---------------------------------------------------------------- the seed program


def test_seed_graph_minifies_to_the_relu_alone():
    gm, inputs = seed_graph()
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert result.repro_module() == SEED_REPRO
    assert (result.original_nodes, result.final_nodes) == (43, 3)
    assert result.target.kind == "compile" and result.target.error_type == "ReluCompileError"
    assert result.random_inputs  # a compile error does not depend on the values
    torch.testing.assert_close(result.inputs[0], _sins(inputs[0], 20))  # x_19 holds its eager value
    assert result.stopped_early is None


def _sins(x, n):
    for _ in range(n):
        x = torch.sin(x)
    return x


def test_seed_graph_needs_at_most_half_the_queries_of_torchs_minifier():
    from torch._functorch.fx_minifier import minifier

    gm, inputs = seed_graph()
    ours = Counting(relu_compile_fails)
    result = compdebug.Minifier(gm, inputs, ours, progress=False).minify()
    theirs = Counting(relu_compile_fails)
    minifier(gm, inputs, theirs, dump_state=lambda *_: None)
    assert result.queries == ours.calls
    assert ours.calls * 2 <= theirs.calls, (ours.calls, theirs.calls)
    assert "x_20 = torch.relu(x_19)" in result.graph_module.code and result.final_nodes == 3


def test_repeated_candidates_come_from_the_cache():
    gm, inputs = seed_graph()
    predicate = Counting(relu_compile_fails)
    result = compdebug.Minifier(gm, inputs, predicate).minify()
    assert result.cache_hits > 0
    assert predicate.calls == result.queries  # a cache hit never reaches the predicate


@pytest.mark.parametrize(
    "failure",
    [
        compdebug.RuntimeFailure("compdebug_relu_runtime_error"),
        compdebug.AccuracyFailure("compdebug_relu_accuracy_error"),
    ],
    ids=["runtime", "accuracy"],
)
def test_runtime_and_accuracy_failures_minify_to_the_relu(failure):
    gm, inputs = after_dynamo(sin_relu_cos(10, 10), torch.randn(20, 20))
    result = compdebug.Minifier(gm, inputs, failure).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.kind == failure.kind
    if failure.kind == "runtime":
        assert "ReluRuntimeError" in result.target.error_message


def _log1p_hidden_behind_a_comparison(x):
    b = torch.logical_not(torch.logical_not(torch.log1p(x) > 0))
    y = torch.relu(x)
    return torch.where(b, y, y)


@pytest.mark.parametrize("strict, culprit", [(True, "log1p"), (False, "relu")])
def test_accuracy_failure_the_outputs_show_is_kept_over_one_they_hide(strict, culprit):
    # both ops are wrong; without strict, only relu's error reaches a (float) output, so the repro is relu's
    gm = make_fx(_log1p_hidden_behind_a_comparison)(torch.randn(20))
    with compdebug.config.patch({"inject.ops": {"relu": "accuracy", "log1p": "accuracy"}}):
        failure = compdebug.AccuracyFailure("eager", strict=strict)
    result = compdebug.Minifier(gm, [torch.randn(20)], failure).minify()
    assert targets(result.graph_module) == [culprit]


def test_repro_script_of_the_result_fails_with_the_original_error(tmp_path):
    gm, inputs = after_dynamo(sin_relu_cos(3, 3), torch.randn(4, 4))
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    path = result.save(tmp_path)
    assert path == tmp_path / "repro.py"
    child = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert child.returncode != 0 and "ReluCompileError" in child.stderr, child.stderr[-2000:]


# ---------------------------------------------------------------- 1-minimality


@pytest.mark.parametrize("seed", range(6))
def test_result_is_one_minimal_by_brute_force(seed):
    gm, inputs = random_dag(seed)
    predicate = contains_all("relu", "sigmoid")
    if not predicate(gm, inputs):
        pytest.skip("this random graph has no relu and sigmoid")
    result = compdebug.Minifier(gm, inputs, predicate).minify()
    assert predicate(result.graph_module, result.inputs)
    assert one_minimal_violations(result.graph_module, result.inputs, predicate) == []
    assert sorted(targets(result.graph_module)) == ["relu", "sigmoid"]


def test_minimal_graph_keeps_the_edge_the_failure_needs():
    def program(x, y):
        a = torch.sin(x) * torch.cos(y)
        b = torch.relu(a) + torch.tanh(y)
        c = torch.relu(torch.sin(b) + x)
        return c * 2, torch.cos(b)

    gm = fx.symbolic_trace(program)
    inputs = [torch.randn(5), torch.randn(5)]
    result = compdebug.Minifier(gm, inputs, relu_of_mul).minify()
    assert targets(result.graph_module) == ["mul", "relu"]
    assert one_minimal_violations(result.graph_module, result.inputs, relu_of_mul) == []


def test_multiple_outputs_are_reduced_to_the_one_that_fails():
    def program(x):
        a, b, c = torch.sin(x), torch.relu(torch.cos(x)), torch.tanh(x)
        return a, b, c

    gm = fx.symbolic_trace(program)
    result = compdebug.Minifier(gm, [torch.randn(3)], compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert targets(result.graph_module) == ["relu"]
    assert one_minimal_violations(result.graph_module, result.inputs, relu_compile_fails) == []


# ---------------------------------------------------------------- keeping the signature


def relu_or_tanh_backend(gm, example_inputs):
    """Raises ReluCompileError on a relu; a graph with a tanh and no relu fails differently."""
    found = set(targets(gm))
    if "relu" in found:
        raise compdebug.ReluCompileError("relu is not supported")
    if "tanh" in found:
        raise ValueError("tanh is not supported either")
    return gm.forward


def test_a_candidate_failing_differently_is_not_taken(caplog):
    def program(x):
        return torch.relu(torch.tanh(torch.sin(x))).cos()

    gm, inputs = after_dynamo(program, torch.randn(4))
    with caplog.at_level(logging.DEBUG, logger="compdebug.minify"):
        result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(relu_or_tanh_backend)).minify()
    # cutting after tanh fails too (ValueError), with fewer nodes; it must not be taken
    assert targets(result.graph_module) == ["relu"]
    assert result.target.error_type == "ReluCompileError"
    assert any("fails differently" in r.getMessage() and "ValueError" in r.getMessage() for r in caplog.records)


def test_runtime_failure_does_not_count_compile_errors():
    gm, inputs = after_dynamo(sin_relu_cos(2, 2), torch.randn(4))
    with pytest.raises(GraphDoesNotFailError, match="CompileFailure"):
        compdebug.Minifier(gm, inputs, compdebug.RuntimeFailure(RELU_COMPILE)).minify()


def test_accuracy_failure_does_not_count_exceptions():
    gm, inputs = after_dynamo(sin_relu_cos(2, 2), torch.randn(4))
    with pytest.raises(GraphDoesNotFailError, match="failed differently"):
        compdebug.Minifier(gm, inputs, compdebug.AccuracyFailure("compdebug_relu_runtime_error")).minify()


# ---------------------------------------------------------------- inputs


def test_callers_inputs_are_never_changed():
    def program(x, y):
        x.add_(1)  # the graph writes into its input
        return torch.relu(x * y).sin()

    x, y = torch.randn(6), torch.randn(6, requires_grad=True)
    gm, inputs = after_dynamo(program, x.clone(), y)
    before = [t.clone() for t in inputs]
    seen = []

    def fails(gm, got):
        seen.append([t.clone() for t in got])
        for t in got:
            with torch.no_grad():
                t.zero_()  # a careless predicate: the next query must not see this
        return "relu" in targets(gm)

    compdebug.Minifier(gm, inputs, fails).minify()
    for got, want in zip(inputs, before):
        assert torch.equal(got, want)
    assert inputs[1].requires_grad and inputs[1].is_leaf
    assert torch.equal(seen[0][0], before[0]) and torch.equal(seen[0][1], before[1])
    assert all(not torch.equal(s[0], torch.zeros_like(s[0])) for s in seen)


def test_every_query_gets_inputs_with_the_original_metadata():
    base = torch.randn(6, 8, requires_grad=True)
    nonleaf = base * 2  # an intermediate of the user's program
    strided = torch.randn(8, 6).t()
    seen = []

    def fails(gm, got):
        seen.append([(t.shape, t.stride(), t.requires_grad, t.is_leaf) for t in got if isinstance(t, torch.Tensor)])
        return "relu" in targets(gm)

    def program(a, b):
        return torch.relu(torch.sin(a) + b).cos()

    gm = fx.symbolic_trace(program)
    compdebug.Minifier(gm, [nonleaf, strided], fails).minify()
    assert seen[0] == [((6, 8), (8, 1), True, False), ((6, 8), (1, 6), False, True)]


def test_non_leaf_input_compile_error_minifies():
    gm, inputs = after_dynamo(lambda x: x + 1, torch.randn(20, 20, requires_grad=True) + 1)
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure("compdebug_non_leaf_compile_error")).minify()
    assert result.target.error_type == "TestingOnlyCompileError"
    assert result.final_nodes <= 3
    assert not result.inputs[0].is_leaf and result.inputs[0].requires_grad


def test_values_that_matter_are_saved_not_randomised():
    # fails only when the input holds large values: random inputs would not reproduce it
    def fails(gm, got):
        return "relu" in targets(gm) and any(t.max() > 50 for t in got if isinstance(t, torch.Tensor))

    gm = fx.symbolic_trace(lambda x: torch.relu(x * 2).sin())
    result = compdebug.Minifier(gm, [torch.full((4,), 100.0)], fails).minify()
    assert not result.random_inputs
    assert result.inputs[0].max() > 50


def test_every_query_starts_from_the_same_random_state_and_the_callers_is_kept():
    seen = []

    def fails(gm, inputs):
        seen.append(torch.rand(1).item())  # as a random op inside the graph would
        return "relu" in targets(gm)

    gm, inputs = seed_graph()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    result = compdebug.Minifier(gm, inputs, fails).minify()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert len(seen) == result.queries and len(set(seen)) == 1


def test_graph_that_does_not_fail_is_refused():
    gm, inputs = after_dynamo(lambda x: torch.sin(x).cos(), torch.randn(4))
    with pytest.raises(GraphDoesNotFailError, match="compiled without error") as info:
        compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert isinstance(info.value, CompdebugError)
    assert "inputs" in str(info.value) and "compdebug.config.inject" in str(info.value)


def test_bad_graph_or_inputs_are_refused():
    gm = fx.symbolic_trace(lambda x, y: torch.relu(x + y))
    with pytest.raises(BadInputError, match="GraphModule"):
        compdebug.Minifier(torch.nn.ReLU(), [torch.randn(2)], relu_compile_fails)
    with pytest.raises(BadInputError, match="takes 2 inputs"):
        compdebug.Minifier(gm, [torch.randn(2)], relu_compile_fails)
    with pytest.raises(BadInputError, match="max_queries"):
        compdebug.Minifier(gm, [torch.randn(2)] * 2, relu_compile_fails, max_queries=0)
    with pytest.raises(BadInputError, match="CompileFailure"):
        compdebug.Minifier(gm, [torch.randn(2)] * 2, "inductor")


# ---------------------------------------------------------------- stopping early


def test_max_queries_returns_the_best_graph_so_far(caplog):
    gm, inputs = seed_graph()
    with caplog.at_level(logging.WARNING, logger="compdebug.minify"):
        result = compdebug.Minifier(gm, inputs, relu_compile_fails, max_queries=8).minify()
    assert result.queries == 8
    assert result.stopped_early == "max_queries=8 reached"
    assert 3 < result.final_nodes < result.original_nodes
    assert relu_compile_fails(result.graph_module, result.inputs)
    assert not result.random_inputs  # no query was left to check random inputs
    assert any("stopped early" in r.getMessage() for r in caplog.records)


def test_max_queries_from_config():
    gm, inputs = seed_graph()
    with compdebug.config.patch("minifier.max_queries", 2):
        result = compdebug.Minifier(gm, inputs, relu_compile_fails).minify()
    assert result.queries == 2 and result.stopped_early


def test_max_seconds_returns_the_best_graph_so_far():
    import time

    def slow(gm, inputs):
        time.sleep(0.05)
        return relu_compile_fails(gm, inputs)

    gm, inputs = seed_graph()
    result = compdebug.Minifier(gm, inputs, slow, max_seconds=0.3).minify()
    assert result.stopped_early == "max_seconds=0.3 reached"
    assert result.queries < 14
    assert relu_compile_fails(result.graph_module, result.inputs)


def test_ctrl_c_during_a_query_keeps_the_best_graph_so_far():
    calls = 0

    def interrupted(gm, inputs):
        nonlocal calls
        calls += 1
        if calls == 9:
            raise KeyboardInterrupt
        return relu_compile_fails(gm, inputs)

    gm, inputs = seed_graph()
    result = compdebug.Minifier(gm, inputs, interrupted).minify()
    assert result.stopped_early == "interrupted (Ctrl-C)"
    assert result.final_nodes < result.original_nodes
    assert relu_compile_fails(result.graph_module, result.inputs)


def test_ctrl_c_on_the_original_graph_propagates():
    def interrupted(gm, inputs):
        raise KeyboardInterrupt

    gm = fx.symbolic_trace(lambda x: torch.relu(x))
    with pytest.raises(KeyboardInterrupt):
        compdebug.Minifier(gm, [torch.randn(2)], interrupted).minify()


# ---------------------------------------------------------------- progress


def test_on_progress_sees_each_better_graph_and_each_fails():
    gm, inputs = seed_graph()
    sizes = []

    def checkpoint(best_gm, best_inputs):
        assert relu_compile_fails(best_gm, best_inputs)
        sizes.append(len(best_gm.graph.nodes))

    result = compdebug.Minifier(gm, inputs, relu_compile_fails, on_progress=checkpoint).minify()
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert sizes[-1] == result.final_nodes


def test_progress_shows_and_can_be_silenced(caplog, capfd):
    has_tqdm = importlib.util.find_spec("tqdm") is not None
    gm, inputs = seed_graph()
    with caplog.at_level(logging.INFO, logger="compdebug.minify"):
        compdebug.Minifier(gm, inputs, relu_compile_fails).minify()
    if has_tqdm:
        assert "compdebug minify" in capfd.readouterr().err  # a tqdm bar
    else:
        assert any("43 -> 3 nodes after" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compdebug.minify"):
        compdebug.Minifier(gm, inputs, relu_compile_fails, progress=False).minify()
    assert not any("nodes after" in r.getMessage() for r in caplog.records)
    assert "compdebug minify" not in capfd.readouterr().err


# ---------------------------------------------------------------- kinds of graphs


class WithState(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)
        self.register_buffer("shift", torch.ones(8))
        self.scale = torch.full((8,), 0.5)  # a plain tensor attribute: a constant

    def forward(self, x):
        y = self.linear(x) + self.shift
        y = torch.relu(y * self.scale)
        return torch.sin(y).sum()


def test_module_with_parameters_after_dynamo():
    module = WithState()
    gm, inputs = after_dynamo(module, torch.randn(4, 8))
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert targets(result.graph_module) == ["relu"]
    assert relu_compile_fails(result.graph_module, result.inputs)


def test_traced_module_with_submodules_buffers_and_constants():
    module = WithState()
    gm = fx.symbolic_trace(module)
    assert {n.op for n in gm.graph.nodes} >= {"call_module", "get_attr"}

    def relu_after_linear(gm, inputs):
        return contains_all("Linear", "relu")(gm, inputs) and relu_compile_fails(gm, inputs)

    result = compdebug.Minifier(gm, [torch.randn(4, 8)], relu_after_linear).minify()
    assert targets(result.graph_module) == ["Linear", "relu"]
    assert relu_after_linear(result.graph_module, result.inputs)
    assert one_minimal_violations(result.graph_module, result.inputs, relu_after_linear) == []
    text = result.repro_module()
    assert "Linear(in_features=8, out_features=8" in text


def test_buffers_written_in_place_are_restored_between_queries():
    class Counter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("count", torch.zeros(1))

        def forward(self, x):
            return torch.relu(x + self.count).cos()

    module = Counter()
    gm = fx.symbolic_trace(module)
    add_node = next(n for n in gm.graph.nodes if n.op == "get_attr")
    with gm.graph.inserting_after(add_node):
        bump = gm.graph.call_method("add_", (add_node, 1))  # the graph bumps its buffer in place
    gm.recompile()
    counts = []

    def fails(g, inputs):
        buffers = dict(g.named_buffers())
        counts.append(float(buffers["count"]) if "count" in buffers else None)
        g(*inputs)
        return "relu" in targets(g) and bump.name in [n.name for n in g.graph.nodes]

    compdebug.Minifier(gm, [torch.randn(3)], fails).minify()
    assert float(gm.count) == 0  # the user's buffer never changed
    assert set(c for c in counts if c is not None) == {0.0}  # no query saw an earlier query's write


def test_aten_graph_from_make_fx():
    def program(x, w):
        y = torch.mm(x, w.t()).view(-1)
        return torch.relu(torch.sin(y) + 1).cos()

    gm = make_fx(program)(torch.randn(4, 4), torch.randn(4, 4))
    inputs = [torch.randn(4, 4), torch.randn(4, 4)]
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert result.graph_module.code.strip() == (
        "def forward(self, add):\n    relu = torch.ops.aten.relu.default(add);  add = None\n    return (relu,)"
    )


def test_a_view_becomes_an_input_once_nothing_sharing_its_memory_is_left():
    def program(x, w):
        y = torch.mm(x, w.t()).view(4, 4, 1)
        return torch.relu(y.transpose(0, 1)).cos()

    gm = make_fx(program)(torch.randn(4, 4), torch.randn(4, 4))
    inputs = [torch.randn(4, 4), torch.randn(4, 4)]
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert result.graph_module.code.strip() == (
        "def forward(self, transpose):\n    relu = torch.ops.aten.relu.default(transpose);  transpose = None\n"
        "    return (relu,)"
    )
    expected = (inputs[0] @ inputs[1].t()).view(4, 4, 1).transpose(0, 1)
    assert result.inputs[0].stride() == expected.stride()  # the view's strides, as the compiler saw them
    torch.testing.assert_close(result.inputs[0], expected)


def test_a_view_stays_computed_while_its_base_is_in_the_graph():
    def program(x):
        a = torch.sin(x)
        return torch.relu(a.t()) + a

    gm = fx.symbolic_trace(program)
    fails = contains_all("sin", "relu")
    result = compdebug.Minifier(gm, [torch.randn(3, 3)], fails).minify()
    assert targets(result.graph_module) == ["sin", "t", "relu"]
    assert [n.name for n in result.graph_module.graph.nodes if n.op == "placeholder"] == ["x"]


def test_an_in_place_result_becomes_an_input_holding_the_value_its_users_read():
    linear = torch.nn.Linear(4, 4)

    def program(x, r):
        y = linear(x)
        y += r  # Dynamo records operator.iadd; later code reads its result
        return torch.relu(y).sin()

    x, r = torch.randn(2, 4), torch.randn(2, 4)
    gm, inputs = after_dynamo(program, x, r)
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert targets(result.graph_module) == ["relu"]
    torch.testing.assert_close(result.inputs[0], linear(x) + r)


def test_a_value_read_after_an_in_place_write_is_not_replaced_by_the_value_before_it():
    def program(x):
        z = torch.sin(x)
        z.mul_(2)  # z's memory changes; cos reads the new values through the name z
        return z.cos()

    gm = fx.symbolic_trace(program)
    x = torch.randn(5)
    expected = (torch.sin(x) * 2).cos()

    def computes_the_original_cos(g, inputs):
        out = g(*inputs)
        return "cos" in targets(g) and torch.allclose(out[0] if isinstance(out, tuple) else out, expected)

    result = compdebug.Minifier(gm, [x], computes_the_original_cos).minify()
    assert targets(result.graph_module) == ["sin", "mul_", "cos"]


def test_dynamic_shapes_graph_with_symbolic_int_inputs():
    def program(x):
        return torch.relu(x.sin()).reshape(x.shape[0], -1).cos()

    gm, inputs = after_dynamo(program, torch.randn(5, 8), dynamic=True)
    assert any(isinstance(x, torch.SymInt) for x in inputs)
    result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert targets(result.graph_module) == ["relu"]
    assert not any(isinstance(x, torch.SymInt) for x in result.inputs)


def test_offload_to_disk_gives_the_same_result_and_leaves_nothing(tmp_path):
    gm, inputs = seed_graph()
    failure = compdebug.CompileFailure(RELU_COMPILE)
    result = compdebug.Minifier(gm, inputs, failure, offload_to_disk=True, save_dir=tmp_path).minify()
    assert result.repro_module() == SEED_REPRO
    torch.testing.assert_close(result.inputs[0], _sins(inputs[0], 20))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_inductor_codegen_bug_minifies_to_the_relu():
    gm, inputs = after_dynamo(lambda x: torch.relu(torch.sin(x) + 1).cos(), torch.randn(8))
    with compdebug.config.patch({"inject.stage": "codegen", "inject.ops": {"relu": "compile_error"}}):
        failure = compdebug.CompileFailure("inductor")
    result = compdebug.Minifier(gm, inputs, failure).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.error_type is not None and result.queries <= 8


def test_unused_operator_nodes_are_tried_as_dead_code():
    graph = fx.Graph()
    x = graph.placeholder("x")
    unused = graph.placeholder("unused")
    dead = graph.call_function(torch.relu, (x,))  # nothing uses it: a compiler still sees it
    live = graph.call_function(operator.mul, (x, 2))
    graph.output((live,))
    gm = fx.GraphModule(torch.nn.Module(), graph)
    result = compdebug.Minifier(gm, [torch.randn(2), torch.randn(2)], compdebug.CompileFailure(RELU_COMPILE)).minify()
    assert targets(result.graph_module) == ["relu"]
    assert [n.name for n in result.graph_module.graph.nodes if n.op == "placeholder"] == ["x"]
    assert dead.name in [n.name for n in result.graph_module.graph.nodes]
    del unused


# ---------------------------------------------------------------- on a GPU


@pytest.mark.gpu
@requires_gpu
@pytest.mark.parametrize(
    "failure",
    [
        compdebug.CompileFailure(RELU_COMPILE),
        compdebug.RuntimeFailure("compdebug_relu_runtime_error"),
        compdebug.AccuracyFailure("compdebug_relu_accuracy_error"),
    ],
    ids=["compile", "runtime", "accuracy"],
)
@pytest.mark.parametrize("offload", [False, True], ids=["memory", "disk"])
def test_cuda_graph_minifies_to_the_relu(failure, offload, tmp_path):
    gm, inputs = after_dynamo(sin_relu_cos(10, 10), torch.randn(20, 20, device="cuda"))
    result = compdebug.Minifier(gm, inputs, failure, offload_to_disk=offload, save_dir=tmp_path).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.inputs[0].device.type == "cuda"
    torch.testing.assert_close(result.inputs[0], _sins(inputs[0], 10))


@pytest.mark.gpu
@requires_gpu
def test_cuda_inductor_triton_bug_minifies_to_the_relu():
    gm, inputs = after_dynamo(lambda x: torch.relu(torch.sin(x) + 1).cos(), torch.randn(64, device="cuda"))
    with compdebug.config.patch({"inject.stage": "codegen", "inject.ops": {"relu": "accuracy"}}):
        failure = compdebug.AccuracyFailure("inductor")
    result = compdebug.Minifier(gm, inputs, failure).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.random_inputs
