"""Importable pieces that repro scripts under test refer to by name.

Imports torch only (never compdebug): scripts that must run without compdebug
import this module too.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

MARK = 1234.5
LINEAR_OUTPUT = 4 * 0.5 + 0.25  # Linear(4, 1) with weights 0.5 and bias 0.25 on a row of ones


def relu_graph() -> torch.fx.GraphModule:
    """The minified graph of seed test_if_graph_minified: x_20 = relu(x_19)."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x_19")
    relu = graph.call_function(torch.relu, (x,))
    relu.name = "x_20"
    graph.output((relu,))
    return torch.fx.GraphModule(torch.nn.Module(), graph)


class CpuCudaModule(torch.nn.Module):
    """The module of seed test_cpu_cuda_module_after_dynamo, with `device` for its GPU half."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.m_x = torch.nn.Linear(20, 20).to(device)
        self.m_y = torch.nn.Linear(20, 20)
        self.p_x = torch.nn.Parameter(torch.randn(20, 20).to(device))
        self.p_y = torch.nn.Parameter(torch.randn(20, 20))
        self.b_x = torch.nn.Buffer(torch.ones(20, 20).to(device))
        self.b_y = torch.nn.Buffer(torch.ones(20, 20))


def cpu_cuda_graph(device: str) -> torch.fx.GraphModule:
    """The graph Dynamo made of the seed's program when it did not inline nn.Modules.

    (Torch 2.13 always inlines them, lifting parameters to inputs, so the graph
    with submodules, parameters and buffers is built by hand, node for node.)
    """
    mod = CpuCudaModule(device)
    root = torch.nn.Module()
    for name in ("m_x", "m_y"):
        setattr(root, f"G__mod___{name}", getattr(mod, name))
    root.register_buffer("G__mod___b_x", mod.b_x)
    root.register_buffer("G__mod___b_y", mod.b_y)
    root.G__mod___p_x = mod.p_x
    root.G__mod___p_y = mod.p_y

    g = torch.fx.Graph()
    x1 = g.create_node("placeholder", "L_x1_", name="l_x1_", type_expr=torch.Tensor)
    y1 = g.create_node("placeholder", "L_y1_", name="l_y1_", type_expr=torch.Tensor)

    def node(op: str, target, args, name: str) -> torch.fx.Node:
        return g.create_node(op, target, args, name=name)

    randn = node("call_function", torch.randn, (20, 20), "randn")
    x2 = node("call_method", "to", (randn, device), "x2")
    y2 = node("call_function", torch.randn, (20, 20), "y2")
    add = node("call_function", operator.add, (x1, x2), "add")
    add_1 = node("call_function", operator.add, (y1, y2), "add_1")
    out = []
    for side, inp, names in (
        ("x", add, ("g__mod___m_x", "g__mod___p_x", "add_2", "g__mod___b_x", "x3")),
        ("y", add_1, ("g__mod___m_y", "g__mod___p_y", "add_4", "g__mod___b_y", "y3")),
    ):
        lin = node("call_module", f"G__mod___m_{side}", (inp,), names[0])
        p = node("get_attr", f"G__mod___p_{side}", (), names[1])
        s = node("call_function", operator.add, (lin, p), names[2])
        b = node("get_attr", f"G__mod___b_{side}", (), names[3])
        out.append(node("call_function", operator.add, (s, b), names[4]))
    cpu = node("call_method", "cpu", (out[0],), "cpu")
    add_6 = node("call_function", operator.add, (cpu, out[1]), "add_6")
    relu = node("call_function", torch.relu, (add_6,), "relu")
    g.output((relu,))
    return torch.fx.GraphModule(root, g)


def _relu_plus_one(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x) + 1


def relu_off_by_one(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    """A backend that silently computes relu + 1: an accuracy bug outside compdebug."""
    for node in gm.graph.nodes:
        if node.target in (torch.relu, torch.ops.aten.relu.default):
            node.target = _relu_plus_one
    gm.recompile()
    return gm.forward


def first_value_is_marked(gm: torch.fx.GraphModule, inputs: list[Any]) -> bool:
    """A user predicate that only the real input values satisfy."""
    return float(inputs[0].flatten()[0]) == MARK


def linear_output_is_known(gm: torch.fx.GraphModule, inputs: list[Any]) -> bool:
    """A user predicate that only the real parameter values satisfy."""
    out = gm(*inputs)[0]
    return bool(torch.allclose(out, torch.full_like(out, LINEAR_OUTPUT)))
