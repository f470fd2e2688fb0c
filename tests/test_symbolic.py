"""compdebug.symbolic: what was symbolic, recorded as data, rebuilt as fakes or as a Dynamo call."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch

import compdebug
from compdebug import symbolic
from compdebug.backends.dynamic import needs_dynamo
from compdebug.errors import BadInputError
from compdebug.repro.tensors import load_tensors, save_tensors
from tests.capture.dynamic_backends import DynamicOnlyError, view_relu_error_when_dynamic
from tests.minify.support import after_dynamo

REPO = pathlib.Path(__file__).resolve().parents[1]


def sized(x, y):
    z = x.view(x.size(0) * x.size(1)).cos()  # size arithmetic: a SymInt node of the graph
    return torch.relu(z[: y.size(0)] + y)


def placeholder_values(gm):
    return [n.meta.get("example_value") for n in gm.graph.find_nodes(op="placeholder")]


def recording():
    """A backend that records the example values of the graphs Dynamo hands it."""
    seen = []

    def backend(gm, example_inputs):
        seen.append(placeholder_values(gm))
        return gm.forward

    return backend, seen


def test_a_dynamic_true_graph_is_described_with_its_symbols_and_reads_back_from_json():
    gm, example_inputs = after_dynamo(sized, torch.randn(8, 4), torch.randn(8), dynamic=True)
    shapes = symbolic.describe_graph(gm)
    s0, s1, x, y = shapes.values  # Dynamo: both sizes of x as SymInt inputs, then x and y (duck-sized: y is [s0])
    assert isinstance(s0, symbolic.SymbolicNumber) and isinstance(s1, symbolic.SymbolicNumber)
    assert x.size == (s0.expr, s1.expr) and x.stride == (s1.expr, 1) and y.size == (s0.expr,)
    assert shapes.hints == {s0.expr: 8, s1.expr: 4}
    assert shapes.dynamic_dims() == {2: (0, 1), 3: (0,)}
    data = json.loads(json.dumps(shapes.to_json()))
    assert symbolic.SymbolicInputs.from_json(data) == shapes
    assert symbolic.concrete_inputs(example_inputs)[:2] == [8, 4]


def test_mark_dynamic_makes_only_the_marked_dim_symbolic():
    x = torch.randn(8, 4)
    torch._dynamo.mark_dynamic(x, 1)
    gm, _ = after_dynamo(lambda t: t.sin(), x)
    assert symbolic.describe_graph(gm).dynamic_dims() == {1: (1,)}
    static_gm, _ = after_dynamo(lambda t: t.sin(), torch.randn(8, 4))
    assert not symbolic.describe_graph(static_gm).any


def test_concrete_turns_fakes_and_symints_into_real_values_of_their_hinted_sizes():
    shapes = symbolic.SymbolicInputs(
        (symbolic.SymbolicTensor(("s0", 3), (1, "s0"), "s0"), symbolic.SymbolicNumber("2*s0")), {"s0": 5}
    )
    real = torch.empty(40).as_strided((5, 3), (1, 5), 5)
    _, (fake, number) = symbolic.fake_inputs(shapes, [real, 10])
    assert isinstance(fake.shape[0], torch.SymInt) and isinstance(number, torch.SymInt)
    made = symbolic.concrete(fake)
    assert type(made) is torch.Tensor and made.shape == (5, 3) and made.stride() == (1, 5)
    assert made.storage_offset() == 5
    assert symbolic.concrete(number) == 10 and type(symbolic.concrete(number)) is int


def test_fake_inputs_keep_shared_symbols_tied_and_follow_shrunk_sizes():
    gm, _ = after_dynamo(sized, torch.randn(8, 4), torch.randn(8), dynamic=True)
    shapes = symbolic.describe_graph(gm)
    shrunk = [3, 2, torch.randn(3, 2), torch.randn(3)]  # every s0 is now 3: they must stay one symbol
    _, (s0, s1, x, y) = symbolic.fake_inputs(shapes, shrunk)
    assert x.shape[0] is not None and str(x.shape[0]) == str(s0) == str(y.shape[0]) != str(s1)
    assert symbolic.concrete(s0) == 3 and symbolic.concrete(x.shape[1]) == 2
    assert symbolic.conflicting_symbols(shapes, [3, 2, torch.randn(3, 2), torch.randn(4)]) == {str(shapes.values[0].expr): [3, 4]}


def test_symbolic_graph_propagates_fresh_metadata_through_an_aten_graph():
    graph = torch.fx.Graph()
    n, x = graph.placeholder("n"), graph.placeholder("x")
    flat = graph.call_function(torch.ops.aten.view.default, (x, [-1]))
    graph.output((graph.call_function(torch.ops.aten.mul.Tensor, (flat, n)),))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    shapes = symbolic.SymbolicInputs(
        (symbolic.SymbolicNumber("s0"), symbolic.SymbolicTensor(("s0", 4), (4, 1))), {"s0": 6}
    )
    copy, (n_fake, x_fake) = symbolic.symbolic_graph(gm, [6, torch.randn(6, 4)], shapes)
    out = next(node for node in copy.graph.nodes if node.target is torch.ops.aten.mul.Tensor).meta["val"]
    assert str(out.shape[0]) == f"4*{n_fake}"  # one symbol, propagated through the view
    assert x_fake.shape[0] is not None and str(x_fake.shape[0]) == str(n_fake)
    assert "val" not in gm.graph.find_nodes(op="placeholder")[0].meta  # the original is left alone


def test_pasted_script_helpers_build_the_same_fakes_with_torch_alone():
    shapes = symbolic.SymbolicInputs(
        (symbolic.SymbolicNumber("s0"), symbolic.SymbolicTensor(("s0", 4), (4, 1))), {"s0": 6}
    )
    graph = torch.fx.Graph()
    n, x = graph.placeholder("n"), graph.placeholder("x")
    graph.output((graph.call_function(torch.ops.aten.mul.Tensor, (x, n)),))
    source = "\n\n".join(
        ["from __future__ import annotations", "import torch", *symbolic.script_helpers(),
         symbolic.symbolic_graph_lines(shapes, [6, torch.randn(6, 4)])]
    )
    namespace = {"gm": torch.fx.GraphModule(torch.nn.Module(), graph), "inputs": [6, torch.randn(6, 4)]}
    exec(compile(source, "<pasted>", "exec"), namespace)
    n_fake, x_fake = namespace["example_inputs"]
    assert isinstance(n_fake, torch.SymInt) and str(x_fake.shape[0]) == str(n_fake) and x_fake.shape[1] == 4
    assert "val" in next(iter(namespace["gm"].graph.nodes)).meta


def test_dynamo_call_gives_dynamo_the_same_symbols_as_the_captured_compile():
    """Shared symbols stay shared (duck sizing), distinct symbols of equal size stay distinct
    (mark_dynamic), static dims stay static, size ints are read off the sizes."""
    x, y = torch.randn(8, 4), torch.randn(8)
    torch._dynamo.mark_dynamic(x, 0)
    torch._dynamo.mark_dynamic(y, 0)  # its own symbol, though its size equals x's

    def shifted(x, y, n):
        return sized(x, y) * n

    gm, example_inputs = after_dynamo(shifted, x, y, 3)
    shapes = symbolic.describe_graph(gm)
    inputs = symbolic.concrete_inputs(example_inputs)
    call = symbolic.dynamo_call(shapes, inputs)
    backend, seen = recording()
    torch._dynamo.reset()
    call.function(gm, backend)(*inputs)
    assert structure(seen[0]) == structure(placeholder_values(gm))
    assert structure(placeholder_values(gm)) == ["#0", ["#0", 4], "#1", ["#1"]]  # two symbols, both 8


def structure(values):
    """Example values with each symbol named by the order it first appears in: ["#0", ["#0", 4]]."""
    order: dict[str, str] = {}

    def name(v):
        if isinstance(v, torch.SymInt):
            return order.setdefault(str(v), f"#{len(order)}")
        return v

    return [name(v) if not isinstance(v, torch.Tensor) else [name(s) for s in v.shape] for v in values]


def test_needs_dynamo_only_for_a_symbolic_dynamo_graph_given_real_inputs():
    gm, example_inputs = after_dynamo(sized, torch.randn(8, 4), torch.randn(8), dynamic=True)
    assert needs_dynamo(gm, symbolic.concrete_inputs(example_inputs))
    assert not needs_dynamo(gm, example_inputs)  # SymInts: already inside a symbolic compile
    static_gm, static_inputs = after_dynamo(sized, torch.randn(8, 4), torch.randn(8))
    assert not needs_dynamo(static_gm, static_inputs)


def test_save_tensors_writes_symints_as_their_values_and_refuses_fakes(tmp_path):
    _, example_inputs = after_dynamo(sized, torch.randn(8, 4), torch.randn(8), dynamic=True)
    save_tensors(tmp_path / "inputs.pt", example_inputs)
    loaded = load_tensors(tmp_path / "inputs.pt")
    assert loaded[:2] == [8, 4] and torch.equal(loaded[2], example_inputs[2])
    shapes = symbolic.SymbolicInputs((symbolic.SymbolicTensor(("s0",), (1,)),), {"s0": 3})
    _, (fake,) = symbolic.fake_inputs(shapes, [torch.randn(3)])
    with pytest.raises(BadInputError, match="fake tensor"):
        save_tensors(tmp_path / "fake.pt", [fake])


def test_minifier_refuses_inputs_that_disagree_on_a_symbol():
    gm, example_inputs = after_dynamo(sized, torch.randn(8, 4), torch.randn(8), dynamic=True)
    inputs = symbolic.concrete_inputs(example_inputs)
    inputs[3] = torch.randn(5)  # y was [s0] with x [s0, s1]
    with pytest.raises(BadInputError, match="disagree on the graph's symbolic sizes"):
        compdebug.Minifier(gm, inputs, compdebug.CompileFailure(view_relu_error_when_dynamic))


def test_minifier_freezes_size_arithmetic_into_an_int_input_tied_to_its_sizes(tmp_path):
    """The failure needs the view and the relu: the view's size argument (a SymInt node) becomes
    an input, which the repro computes from the sizes of x so that Dynamo traces it symbolic."""
    gm, example_inputs = after_dynamo(sized, torch.randn(8, 4), torch.randn(8), dynamic=True)
    result = compdebug.Minifier(
        gm, example_inputs, compdebug.CompileFailure(view_relu_error_when_dynamic), progress=False
    ).minify()
    placeholders = [n.name for n in result.graph_module.graph.find_nodes(op="placeholder")]
    assert "mul" in placeholders and "cos" not in result.graph_module.code
    assert all(type(x) in (int, torch.Tensor) for x in result.inputs)
    script = result.save(tmp_path)
    text = script.read_text()
    assert ".size(0)" in text and "dynamic=True" in text
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode != 0 and DynamicOnlyError.__name__ in child.stderr, child.stderr[-3000:]
