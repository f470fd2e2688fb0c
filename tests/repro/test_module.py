"""module_text: the Repro class of a graph, character for character as the seeds expect."""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.fx
from functorch.compile import aot_function
from torch.fx.experimental.proxy_tensor import make_fx

from compdebug.repro import module_text
from compdebug.repro.module import render_module, state_tensors
from compdebug.repro.tensors import set_module_tensors
from tests.conftest import requires_gpu
from tests.repro.helpers import CpuCudaModule, cpu_cuda_graph, relu_graph


def build_repro(gm: torch.fx.GraphModule) -> torch.nn.Module:
    """Execute the Repro text (with the imports it asks for) and instantiate it."""
    source = render_module(gm)
    assert source.problems == ()
    namespace: dict = {"torch": torch}
    exec("\n".join(source.imports) + "\n" + source.text, namespace)
    return namespace["Repro"]()


def test_relu_graph_matches_seed_text():
    assert module_text(relu_graph()) == textwrap.dedent(
        """\
        class Repro(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()

            def forward(self, x_19):
                x_20 = torch.relu(x_19);  x_19 = None
                return (x_20,)"""
    )


def test_after_aot_graph_matches_seed_text():
    graphs = []
    aot_function(torch.log1p, fw_compiler=lambda gm, _: graphs.append(gm) or gm)(torch.randn(20))
    assert module_text(graphs[0]) == textwrap.dedent(
        """\
        class Repro(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()

            def forward(self, arg0_1):
                log1p = torch.ops.aten.log1p.default(arg0_1);  arg0_1 = None
                return (log1p,)"""
    )


SEED_CPU_CUDA_TEXT = """\
class Repro(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.G__mod___m_x = Linear(in_features=20, out_features=20, bias=True).to(device)
        self.G__mod___m_y = Linear(in_features=20, out_features=20, bias=True)
        self.register_buffer('G__mod___b_x', torch.randn([20, 20], dtype=torch.float32).to(device))
        self.register_buffer('G__mod___b_y', torch.randn([20, 20], dtype=torch.float32))
        self.G__mod___p_x = torch.nn.Parameter(torch.randn([20, 20], dtype=torch.float32, device=device))
        self.G__mod___p_y = torch.nn.Parameter(torch.randn([20, 20], dtype=torch.float32))

    def forward(self, L_x1_ : torch.Tensor, L_y1_ : torch.Tensor):
        l_x1_ = L_x1_
        l_y1_ = L_y1_
        randn = torch.randn(20, 20)
        x2 = randn.to(device);  randn = None
        y2 = torch.randn(20, 20)
        add = l_x1_ + x2;  l_x1_ = x2 = None
        add_1 = l_y1_ + y2;  l_y1_ = y2 = None
        g__mod___m_x = self.G__mod___m_x(add);  add = None
        g__mod___p_x = self.G__mod___p_x
        add_2 = g__mod___m_x + g__mod___p_x;  g__mod___m_x = g__mod___p_x = None
        g__mod___b_x = self.G__mod___b_x
        x3 = add_2 + g__mod___b_x;  add_2 = g__mod___b_x = None
        g__mod___m_y = self.G__mod___m_y(add_1);  add_1 = None
        g__mod___p_y = self.G__mod___p_y
        add_4 = g__mod___m_y + g__mod___p_y;  g__mod___m_y = g__mod___p_y = None
        g__mod___b_y = self.G__mod___b_y
        y3 = add_4 + g__mod___b_y;  add_4 = g__mod___b_y = None
        cpu = x3.cpu();  x3 = None
        add_6 = cpu + y3;  cpu = y3 = None
        relu = torch.relu(add_6);  add_6 = None
        return (relu,)"""


def test_cpu_module_with_submodules_parameters_and_buffers():
    """Seed test_cpu_cuda_module_after_dynamo with both halves on the CPU: no `.to(...)` anywhere."""
    expected = (
        SEED_CPU_CUDA_TEXT.replace(".to(device))", ")")
        .replace(", device=device))", "))")
        .replace(").to(device)\n", ")\n")
        .replace("randn.to(device)", "randn.to('cpu')")
    )
    gm = cpu_cuda_graph("cpu")
    assert module_text(gm) == expected
    repro = build_repro(gm)
    names, values = zip(*state_tensors(gm))
    set_module_tensors(repro, names, values)
    x, y = torch.randn(20, 20), torch.randn(20, 20)
    torch.manual_seed(1)
    expected_out = gm(x, y)
    torch.manual_seed(1)
    torch.testing.assert_close(repro(x, y), expected_out)


@pytest.mark.gpu
@requires_gpu
def test_cpu_cuda_module_matches_seed_text():
    gm = cpu_cuda_graph("cuda")
    text = module_text(gm)
    assert "'cuda:0'" in text  # a standalone script needs the real device
    assert text.replace("'cuda:0'", "device").replace("'cuda'", "device") == SEED_CPU_CUDA_TEXT
    repro = build_repro(gm)
    assert repro.G__mod___p_x.device.type == "cuda" and repro.G__mod___p_y.device.type == "cpu"
    assert repro.G__mod___m_x.weight.device.type == "cuda" and repro.G__mod___b_y.device.type == "cpu"
    (out,) = repro(torch.randn(20, 20, device="cuda"), torch.randn(20, 20))
    assert out.device.type == "cpu"


def test_dynamo_graph_forward_is_fx_code():
    """With nn.Modules inlined (torch 2.13), parameters and buffers are inputs; forward is FX's text."""
    mod = CpuCudaModule("cpu")
    graphs = []

    @torch.compile(backend=lambda gm, inputs: graphs.append((gm, inputs)) or gm, fullgraph=True)
    def inner(x1, y1):
        x3, y3 = (mod.m_x(x1) + mod.p_x + mod.b_x, mod.m_y(y1) + mod.p_y + mod.b_y)
        return torch.relu(x3.cpu() + y3)

    inner(torch.randn(20, 20), torch.randn(20, 20))
    gm, inputs = graphs[0]
    forward = textwrap.indent(gm.code.strip("\n").rstrip(), "    ")
    header = "class Repro(torch.nn.Module):\n    def __init__(self) -> None:\n        super().__init__()\n\n"
    assert module_text(gm) == header + "\n".join(line.rstrip() for line in forward.splitlines())
    assert "L_x1_ : torch.Tensor" in module_text(gm)
    torch.testing.assert_close(build_repro(gm)(*inputs), gm(*inputs))


def test_tensor_constant_is_written_out_and_runs():
    """Seed test_constant_in_graph: torch.tensor(2) + relu(x) after AOT keeps the constant's value."""
    graphs = []
    aot_function(lambda x: torch.tensor(2) + torch.relu(x), fw_compiler=lambda gm, _: graphs.append(gm) or gm)(
        torch.randn(2)
    )
    gm = graphs[0]
    text = module_text(gm)
    assert "self.register_buffer('_tensor_constant0', torch.tensor(2, dtype=torch.int64))" in text
    x = torch.randn(2)
    torch.testing.assert_close(build_repro(gm)(x), gm(x))


def test_pytree_inputs_become_flat_arguments():
    gm = make_fx(lambda xs: [torch.log1p(xs[0]) + xs[1]])([torch.randn(3), torch.randn(3)])
    text = module_text(gm)
    assert "pytree" not in text and "def forward(self, xs_1, xs_2):" in text
    a, b = torch.rand(3), torch.rand(3)  # log1p is finite for a > -1
    torch.testing.assert_close(build_repro(gm)(a, b), [torch.log1p(a) + b])


class Indexer(torch.nn.Module):
    """A user module with no constructor repr: the repro traces it."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4))
        self.register_buffer("idx", torch.tensor([0, 2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.idx] * self.w[:2]


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4).double().eval()
        self.bn = torch.nn.BatchNorm1d(4)
        self.frozen = torch.nn.Linear(4, 4)
        self.frozen.weight.requires_grad_(False)
        self.custom = Indexer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.custom(self.frozen(self.bn(self.lin(x.double()).float())))


class KeepIndexer(torch.fx.Tracer):
    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        return isinstance(m, Indexer) or super().is_leaf_module(m, qualname)


def test_submodules_parameters_and_buffers_rebuild_a_working_module():
    model = Model()
    gm = torch.fx.GraphModule(model, KeepIndexer().trace(model))
    text = module_text(gm)
    assert "self.lin = Linear(in_features=4, out_features=4, bias=True).to(torch.float64).eval()" in text
    assert "self.bn = BatchNorm1d(4," in text
    # a Linear with one frozen parameter has no faithful repr; a user module has none at all
    assert "self.frozen = self.Frozen()" in text and "self.custom = self.Custom()" in text
    assert "requires_grad=False" in text
    repro = build_repro(gm)
    assert not repro.lin.training and repro.lin.weight.dtype == torch.float64
    assert not repro.frozen.weight.requires_grad
    x = torch.randn(3, 4)
    assert repro(x).shape == (3, 2)  # runs with its own random values
    names, values = zip(*state_tensors(gm))
    set_module_tensors(repro, names, values)
    assert isinstance(repro.custom.w, torch.nn.Parameter)
    torch.testing.assert_close(repro(x), gm(x))


def test_cond_subgraphs_become_nested_classes():
    graphs = []

    @torch.compile(backend=lambda gm, inputs: graphs.append((gm, inputs)) or gm, fullgraph=True)
    def f(x, p):
        return torch.cond(p, lambda x: x.sin(), lambda x: x.cos(), (x,))

    f(torch.randn(3), torch.tensor(False))
    gm, inputs = graphs[0]
    text = module_text(gm)
    assert text.startswith("class Repro(torch.nn.Module):\n    class CondTrue0(torch.nn.Module):")
    assert "self.cond_true_0 = self.CondTrue0()" in text
    torch.testing.assert_close(build_repro(gm)(*inputs), gm(*inputs))


def test_unimportable_global_is_reported():
    def local_helper(x):
        return x + 1

    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(local_helper, (x,)))
    source = render_module(torch.fx.GraphModule(torch.nn.Module(), graph))
    assert len(source.problems) == 1 and "local_helper" in source.problems[0]


def test_math_globals_are_imported():
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(torch.clamp, (x, -float("inf"), float("inf"))))
    source = render_module(torch.fx.GraphModule(torch.nn.Module(), graph))
    assert "from math import inf" in source.imports and source.problems == ()
