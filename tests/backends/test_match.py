"""compdebug.backends.match: an op is found in every form it takes in a graph."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.nn.functional as F
from torch.fx.experimental.proxy_tensor import make_fx

from compdebug.backends.match import check_op_name, is_inplace, matches
from compdebug.backends.runtime_op import INJECTED_RUNTIME_ERROR
from compdebug.errors import CompdebugError


def dynamo_graph(fn, *inputs) -> torch.fx.GraphModule:
    """The one graph Dynamo captures for fn(*inputs)."""
    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch.compile(fn, backend=record, fullgraph=True)(*inputs)
    return graphs[0]


def matching(gm: torch.fx.GraphModule, op: str) -> list[str]:
    modules = dict(gm.named_modules())
    return [node.name for node in gm.graph.nodes if matches(node, op, modules)]


class Block(torch.nn.Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.act = torch.nn.ReLU(inplace=inplace)
        self.gate = torch.nn.Sigmoid()
        self.gelu = torch.nn.GELU()

    def forward(self, x):
        return self.gelu(self.gate(self.act(x)))


ALL_FORMS = {
    "torch.relu": lambda x: torch.relu(x),
    "F.relu": lambda x: F.relu(x),
    "F.relu(inplace=True)": lambda x: F.relu(x * 1, inplace=True),
    "Tensor.relu": lambda x: x.relu(),
    "Tensor.relu_": lambda x: (x * 1).relu_(),
    "torch.relu_": lambda x: torch.relu_(x * 1),
    "nn.ReLU": lambda x: torch.nn.ReLU()(x),
}


@pytest.mark.parametrize("form", list(ALL_FORMS))
def test_dynamo_forms_of_relu_match(form):
    gm = dynamo_graph(lambda x: ALL_FORMS[form](x.sin()).cos(), torch.randn(4))
    assert len(matching(gm, "relu")) == 1
    assert matching(gm, "sigmoid") == []


def test_call_module_matches_by_lowercased_class_name():
    gm = torch.fx.symbolic_trace(Block())
    assert matching(gm, "relu") == ["act"]
    assert matching(gm, "sigmoid") == ["gate"]
    assert matching(gm, "gelu") == ["gelu"]
    assert matching(gm, "tanh") == []


@pytest.mark.parametrize("inplace", [False, True])
def test_module_inplace_flag_is_seen(inplace):
    gm = torch.fx.symbolic_trace(Block(inplace=inplace))
    modules = dict(gm.named_modules())
    node = next(n for n in gm.graph.nodes if n.name == "act")
    assert is_inplace(node, modules) is inplace


def test_aten_overloads_and_inplace_variants_match():
    def program(x):
        y = torch.relu(x.sin())
        z = x.cos()
        z.relu_()
        return y + z

    gm = make_fx(program)(torch.randn(4))
    modules = dict(gm.named_modules())
    found = [n for n in gm.graph.nodes if matches(n, "relu", modules)]
    assert [n.target for n in found] == [torch.ops.aten.relu.default, torch.ops.aten.relu_.default]
    assert [is_inplace(n, modules) for n in found] == [False, True]
    assert len(matching(gm, "add")) == 1 and matching(gm, "sin") == ["sin"]


def test_operator_forms_match_their_op():
    graph = torch.fx.Graph()
    x, y = graph.placeholder("x"), graph.placeholder("y")
    z = graph.call_function(operator.add, (x, y))
    z = graph.call_function(operator.iadd, (z, y))
    graph.output(graph.call_function(operator.mul, (z, 2)))
    gm = torch.fx.GraphModule({}, graph)
    modules = dict(gm.named_modules())
    adds = [n for n in gm.graph.nodes if matches(n, "add", modules)]
    assert [n.target for n in adds] == [operator.add, operator.iadd]
    assert [is_inplace(n, modules) for n in adds] == [False, True]
    assert matching(gm, "mul") == ["mul"]


def test_names_match_whole_ops_only():
    gm = dynamo_graph(lambda x: F.relu6(torch.sigmoid(x)).log1p(), torch.randn(4))
    assert matching(gm, "relu") == []  # relu6 is another op
    assert matching(gm, "log") == []  # log1p is another op
    assert len(matching(gm, "relu6")) == 1 and len(matching(gm, "log1p")) == 1


def test_compdebug_own_op_never_matches():
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(INJECTED_RUNTIME_ERROR, (x, "relu")))
    gm = torch.fx.GraphModule({}, graph)
    assert matching(gm, "injected_runtime_error") == []


@pytest.mark.parametrize("bad", ["torch.relu", "aten.relu.default", "", "relu(x)"])
def test_op_names_must_be_bare(bad):
    with pytest.raises(CompdebugError, match="bare op names"):
        check_op_name(bad)
