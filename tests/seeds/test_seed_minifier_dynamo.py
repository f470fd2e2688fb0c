"""Ports of torch's test/dynamo/test_minifier.py (seeds 000 and 003) to compdebug."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import requires_gpu
from tests.seeds.minifier_harness import run_full_test

AFTER_DYNAMO_PROGRAM = """\
@torch.compile(backend={backend!r})
def inner(x):
    for _ in range(10):
        x = torch.sin(x)
    x = torch.relu(x)
    for _ in range(10):
        x = torch.cos(x)
    return x

inner(torch.randn(20, 20).to({device!r}))
"""

CASES = [
    ("compdebug_relu_compile_error", "ReluCompileError"),
    ("compdebug_relu_runtime_error", "ReluRuntimeError"),
    ("compdebug_relu_accuracy_error", "AccuracyError"),
]


@pytest.mark.parametrize("backend, expected", CASES, ids=[c[1] for c in CASES])
def test_after_dynamo_cpu(backend, expected, tmp_path):
    res = run_full_test(AFTER_DYNAMO_PROGRAM.format(backend=backend, device="cpu"), "dynamo", expected, tmp_path)
    assert "torch.relu" in res.repro_module() and "torch.sin" not in res.repro_module()


@requires_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("backend, expected", CASES, ids=[c[1] for c in CASES])
def test_after_dynamo_cuda(backend, expected, tmp_path):
    res = run_full_test(AFTER_DYNAMO_PROGRAM.format(backend=backend, device="cuda"), "dynamo", expected, tmp_path)
    assert "torch.relu" in res.repro_module()


def test_after_dynamo_non_leaf_compile_error(tmp_path):
    program = """\
@torch.compile(backend="compdebug_non_leaf_compile_error")
def inner(x):
    return x + 1

inner(torch.randn(20, 20, requires_grad=True) + 1)
"""
    run_full_test(program, "dynamo", "TestingOnlyCompileError", tmp_path)


def _backend_passes(device, backend):
    @torch.compile(backend=backend)
    def inner(x):
        for _ in range(10):
            x = torch.sin(x)
        for _ in range(10):
            x = torch.cos(x)
        return x

    x = torch.randn(20, 20).to(device)
    torch.testing.assert_close(inner(x), _eager_sin_cos(x))


def _eager_sin_cos(x):
    for _ in range(10):
        x = torch.sin(x)
    for _ in range(10):
        x = torch.cos(x)
    return x


@pytest.mark.parametrize("backend", [c[0] for c in CASES])
def test_after_dynamo_cpu_backend_passes(backend):
    _backend_passes("cpu", backend)


@requires_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("backend", [c[0] for c in CASES])
def test_after_dynamo_cuda_backend_passes(backend):
    _backend_passes("cuda", backend)


def test_if_graph_minified(tmp_path):
    program = """\
@torch.compile(backend="compdebug_relu_compile_error")
def inner(x):
    for _ in range(20):
        x = torch.sin(x)
    x = torch.relu(x)
    for _ in range(20):
        x = torch.cos(x)
    return x

inner(torch.randn(20, 20))
"""
    res = run_full_test(program, "dynamo", "ReluCompileError", tmp_path)
    assert res.repro_module() == """\
class Repro(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, x_19):
        x_20 = torch.relu(x_19);  x_19 = None
        return (x_20,)"""


CPU_CUDA_PROGRAM = """\
device = {device!r}

class CpuCudaModule(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.m_x = torch.nn.Linear(20, 20).to(device)
        self.m_y = torch.nn.Linear(20, 20)
        self.p_x = torch.nn.Parameter(torch.randn(20, 20).to(device))
        self.p_y = torch.nn.Parameter(torch.randn(20, 20))
        self.b_x = torch.nn.Buffer(torch.ones(20, 20).to(device))
        self.b_y = torch.nn.Buffer(torch.ones(20, 20))

    def forward(self, x, y):
        return self.m_x(x) + self.p_x + self.b_x, self.m_y(y) + self.p_y + self.b_y

mod = CpuCudaModule()

@torch.compile(backend="compdebug_relu_compile_error")
def inner(x1, y1):
    x2 = torch.randn(20, 20).to(device)
    y2 = torch.randn(20, 20)
    x3, y3 = mod(x1 + x2, y1 + y2)
    return torch.relu(x3.cpu() + y3)

inner(torch.randn(20, 20).to(device), torch.randn(20, 20))
"""


def test_module_with_parameters_and_buffers_after_dynamo(tmp_path):
    """The CPU half of test_cpu_cuda_module_after_dynamo: parameters, buffers, submodules."""
    res = run_full_test(CPU_CUDA_PROGRAM.format(device="cpu"), "dynamo", "ReluCompileError", tmp_path)
    assert "torch.relu" in res.repro_module()


@requires_gpu
@pytest.mark.gpu
def test_cpu_cuda_module_after_dynamo(tmp_path):
    res = run_full_test(CPU_CUDA_PROGRAM.format(device="cuda"), "dynamo", "ReluCompileError", tmp_path)
    assert "torch.relu" in res.repro_module()
