"""compdebug's testing backends (seeds 000/003, test_minifier.py): eager without a relu, failing with one.

A relu counts in every form: torch.relu, F.relu, Tensor.relu/relu_, nn.ReLU
(inlined by Dynamo, or a call_module in a traced graph) and aten.relu/relu_.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.backends.common import aot_autograd
from torch._dynamo.exc import BackendCompilerFailed
from torch.fx.experimental.proxy_tensor import make_fx

import compdebug
from compdebug.backends.testing import (
    compdebug_relu_accuracy_error,
    compdebug_relu_compile_error,
    compdebug_relu_runtime_error,
)
from compdebug.errors import InjectedRuntimeError
from tests.conftest import requires_gpu

RELU_BACKENDS = {
    "compdebug_relu_compile_error": compdebug_relu_compile_error,
    "compdebug_relu_runtime_error": compdebug_relu_runtime_error,
    "compdebug_relu_accuracy_error": compdebug_relu_accuracy_error,
}
ALL_BACKENDS = [*RELU_BACKENDS, "compdebug_non_leaf_compile_error"]
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, requires_gpu])]


def sin_cos(x):
    for _ in range(10):
        x = torch.sin(x)
    for _ in range(10):
        x = torch.cos(x)
    return x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_backend_passes_without_relu(backend, device):
    # seed _test_after_dynamo_backend_passes; fullgraph: the backend really compiled it
    x = torch.randn(20, 20, device=device)
    torch.testing.assert_close(torch.compile(sin_cos, backend=backend, fullgraph=True)(x), sin_cos(x))


def test_backends_are_registered_by_name():
    import torch._dynamo

    assert set(ALL_BACKENDS) <= set(torch._dynamo.list_backends(exclude_tags=()))


# Every form computes relu(sin(x)) and hands it to cos; relu + 1 gives cos(relu(sin(x)) + 1).
def _inplace_method(y):
    y.relu_()
    return y


RELU_FORMS = {
    "torch.relu": torch.relu,
    "F.relu": F.relu,
    "F.relu_inplace": lambda y: F.relu(y, inplace=True),
    "Tensor.relu": lambda y: y.relu(),
    "Tensor.relu_": _inplace_method,
    "nn.ReLU": torch.nn.ReLU(),
    "nn.ReLU_inplace": torch.nn.ReLU(inplace=True),
}


def program_with(form):
    def program(x):
        return RELU_FORMS[form](torch.sin(x)).cos()

    return program


def relu_plus_one(x):
    return torch.cos(torch.relu(torch.sin(x)) + 1)


def expect_behaviour(backend_name, run, x):
    """`run()` compiles and runs; check it fails (or silently goes wrong) as the backend promises."""
    if backend_name == "compdebug_relu_compile_error":
        with pytest.raises((compdebug.ReluCompileError, BackendCompilerFailed)) as caught:
            run()
        error = getattr(caught.value, "inner_exception", caught.value)
        assert isinstance(error, compdebug.ReluCompileError)
    elif backend_name == "compdebug_relu_runtime_error":
        with pytest.raises(InjectedRuntimeError, match="ReluRuntimeError"):
            run()
    else:
        torch.testing.assert_close(run(), relu_plus_one(x))


@pytest.mark.parametrize("form", list(RELU_FORMS))
@pytest.mark.parametrize("backend", list(RELU_BACKENDS))
def test_relu_in_dynamo_graph(backend, form):
    x = torch.randn(20, 20)
    expect_behaviour(backend, lambda: torch.compile(program_with(form), backend=backend)(x), x)


class TracedRelu(torch.nn.Module):
    """Traced by torch.fx, its nn.ReLU stays a call_module node."""

    def __init__(self, inplace: bool):
        super().__init__()
        self.act = torch.nn.ReLU(inplace=inplace)

    def forward(self, x):
        return self.act(torch.sin(x)).cos()


@pytest.mark.parametrize("inplace", [False, True], ids=["ReLU", "ReLU_inplace"])
@pytest.mark.parametrize("backend", list(RELU_BACKENDS))
def test_relu_as_call_module(backend, inplace):
    gm = torch.fx.symbolic_trace(TracedRelu(inplace))
    assert any(node.op == "call_module" for node in gm.graph.nodes)
    x = torch.randn(8)
    expect_behaviour(backend, lambda: RELU_BACKENDS[backend](gm, [x])(x), x)


@pytest.mark.parametrize("form", ["torch.relu", "Tensor.relu_"], ids=["aten.relu", "aten.relu_"])
@pytest.mark.parametrize("backend", list(RELU_BACKENDS))
def test_relu_as_aten_op(backend, form):
    gm = make_fx(program_with(form))(torch.randn(8))
    assert any(isinstance(node.target, torch._ops.OpOverload) and "relu" in str(node.target) for node in gm.graph.nodes)
    x = torch.randn(8)
    expect_behaviour(backend, lambda: RELU_BACKENDS[backend](gm, [x])(x), x)


@pytest.mark.parametrize("backend", list(RELU_BACKENDS))
def test_relu_after_aot_autograd(backend):
    # the backend as the forward compiler of an aot backend sees aten graphs
    aot_backend = aot_autograd(fw_compiler=RELU_BACKENDS[backend])
    x = torch.randn(8)
    expect_behaviour(backend, lambda: torch.compile(program_with("torch.relu"), backend=aot_backend)(x), x)


def test_non_leaf_compile_error():
    # seed test_after_dynamo_non_leaf_compile_error
    def inner(x):
        return x + 1

    compiled = torch.compile(inner, backend="compdebug_non_leaf_compile_error")
    with pytest.raises(BackendCompilerFailed) as caught:
        compiled(torch.randn(20, 20, requires_grad=True) + 1)
    assert isinstance(caught.value.inner_exception, compdebug.TestingOnlyCompileError)
    assert "TestingOnlyCompileError" in str(caught.value)


def test_non_leaf_backend_passes_leaf_inputs_and_graphs_without_calls():
    def inner(x):
        return x + 1

    x = torch.randn(4, requires_grad=True)
    torch.testing.assert_close(torch.compile(inner, backend="compdebug_non_leaf_compile_error")(x), x + 1)
    # an empty graph never fails: a minifier cannot shrink the failure to nothing
    graph = torch.fx.Graph()
    graph.output((graph.placeholder("x"),))
    compiled = compdebug.backends.testing.compdebug_non_leaf_compile_error(torch.fx.GraphModule({}, graph), [x + 1])
    assert compiled(x)[0] is x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", list(RELU_BACKENDS))
def test_relu_backends_on_device(backend, device):
    # seed test_after_dynamo_{cpu,cuda}_{compile,runtime,accuracy}_error
    x = torch.randn(20, 20, device=device)
    expect_behaviour(backend, lambda: torch.compile(program_with("torch.relu"), backend=backend)(x), x)
