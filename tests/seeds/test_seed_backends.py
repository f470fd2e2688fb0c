"""Ports of torch's test/dynamo/test_backends.py (seed 002).

Checks of torch itself guard that importing compdebug breaks no backend; the
explain check runs against compdebug.ExplainWithBackend. tests/conftest.py
resets Dynamo around every test.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.testing import same

import compdebug
from tests.conftest import requires_gpu


class Seq(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(10, 10),
            torch.nn.ReLU(),
            torch.nn.Linear(10, 10),
            torch.nn.Sigmoid(),
        )

    def forward(self, x):
        return self.layers(x)


def division(a, bc, d):
    b, c = bc
    return a / d - b / c


def division_inputs():
    return torch.empty(2).fill_(1), (torch.empty(2).fill_(2), torch.empty(2).fill_(3)), 4


def test_example_inputs():
    r1 = None

    def compiler_fn(graph, example_inputs):
        nonlocal r1
        r1 = graph(*example_inputs)[0]
        return graph.forward

    a, bc, d = division_inputs()
    r2 = division(a, bc, d)
    r3 = torch._dynamo.optimize_assert(compiler_fn)(division)(a, bc, d)

    assert r1 is not None
    for other in (r2, r3):
        assert r1.size() == other.size()
        assert r1.stride() == other.stride()
        assert r1.dtype == other.dtype


def test_example_inputs_runtime_use():
    r1 = None

    def compiler_fn(graph, example_inputs):
        def fwd(*args):
            nonlocal r1
            r = graph.forward(*args)
            r1 = r[0]
            return r

        return fwd

    a, bc, d = division_inputs()
    r2 = division(a, bc, d)
    r3 = torch._dynamo.optimize_assert(compiler_fn)(division)(a, bc, d)

    assert r1 is not None
    assert same(r1, r2)
    assert same(r1, r3)


def check_backend_works(backend, options=None):
    model = Seq().eval()
    x = torch.randn(2, 10)
    r1 = model(x)
    r2 = torch.compile(model, backend=backend, options=options)(x)
    assert same(r1, r2.float(), tol=0.01)


def registered(name: str) -> bool:
    return name in torch._dynamo.list_backends(exclude_tags=())


def skip_unless_registered(name: str):
    return pytest.mark.skipif(not registered(name), reason=f"torch {torch.__version__} has no {name!r} backend")


def has_onnxruntime() -> bool:
    try:  # torch 2.13 keeps only a placeholder module: no has_onnxruntime, no "onnxrt"
        from torch._dynamo.backends.onnxrt import has_onnxruntime as torch_has_onnxruntime
    except ImportError:
        return False
    return registered("onnxrt") and torch_has_onnxruntime()


def has_tvm() -> bool:
    try:
        from torch._dynamo.backends.tvm import has_tvm as torch_has_tvm
    except ImportError:
        return False
    return torch_has_tvm()


def without_lazy_graph_module():
    """torch's `_force_skip_lazy_graph_module()` (TorchScript cannot script lazy graph modules)."""
    from torch.fx._lazy_graph_module import _force_skip_lazy_graph_module

    return _force_skip_lazy_graph_module()


@pytest.mark.parametrize("backend", ["eager", "eager_noexcept", "aot_eager", "aot_eager_decomp_partition"])
def test_backend_works(backend):
    check_backend_works(backend)


@skip_unless_registered("ts")
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_torchscript():
    with without_lazy_graph_module():
        check_backend_works("ts")


@skip_unless_registered("aot_ts")
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_aot_ts():
    with without_lazy_graph_module():
        check_backend_works("aot_ts")


@pytest.mark.gpu
@requires_gpu
def test_aot_cudagraphs():
    check_backend_works("cudagraphs")


@pytest.mark.skipif(not has_onnxruntime(), reason="needs onnxruntime and torch's onnxrt backend")
def test_onnxrt():
    check_backend_works("onnxrt")


@pytest.mark.skipif(not has_tvm(), reason="needs tvm")
def test_tvm():
    check_backend_works("tvm")
    check_backend_works("tvm", options={"scheduler": None})
    check_backend_works("tvm", options={"opt_level": 0})


def test_list_backends():
    assert "inductor" in torch._dynamo.list_backends()
    assert "inductor" in torch._dynamo.list_backends(exclude_tags=None)
    assert "eager" not in torch._dynamo.list_backends()
    assert "eager" not in torch._dynamo.list_backends(exclude_tags=["debug"])
    assert "eager" in torch._dynamo.list_backends(exclude_tags=[])


def test_inplace_normalize():
    def fn(a, b):
        x = torch.cos(a)
        x += b
        return torch.sin(x)

    a = torch.randn(10)
    b = torch.randn(10).to(torch.float64)
    ref = fn(a, b)
    res = torch._dynamo.optimize("aot_eager")(fn)(a, b)
    assert same(ref, res)


@pytest.mark.skipif(not torch.backends.mps.is_available(), reason="needs mps")
def test_mps_not_supported():
    model = Seq().to("mps")
    example_input = torch.randn(1, 10).to("mps")
    with pytest.raises(RuntimeError):
        torch.compile(model, backend="inductor")(example_input)


def fn3(x):
    x = torch.sin(x)
    torch._dynamo.graph_break()
    x = torch.sin(x)
    return x


def fn2(x):
    x = torch.cos(x)
    x = fn3(x)
    x = torch.cos(x)
    return x


def fn1(x):
    x = torch.tan(x)
    x = fn2(x)
    x = torch.tan(x)
    return x


def fn(x):
    x = torch.sigmoid(x)
    x = fn1(x)
    x = torch.sigmoid(x)
    return x


@pytest.mark.parametrize("inner", ["eager", "inductor"])
def test_explain_with_backend(inner):
    eb = compdebug.ExplainWithBackend(inner)
    optimized_fn = torch.compile(fn, backend=eb)
    input_tensor = torch.randn(5)
    result = optimized_fn(input_tensor)

    assert torch.allclose(result, fn(input_tensor))

    explain_output = eb.output()
    explain_str = str(explain_output)
    for section in ["Graph Count", "Graph Break Count", "Op Count", "Break Reasons"]:
        assert section in explain_str
    assert explain_output.graph_count == 8
    assert explain_output.graph_break_count == 7
    assert explain_output.op_count == 8


def test_register_backend_api():
    from torch._dynamo import register_backend

    backend_run = False

    def my_custom_backend(gm, example_inputs):
        nonlocal backend_run
        backend_run = True
        return gm.forward

    # the seed decorates a function of this name; a second registration of one
    # name raises in torch, so the name is made unique to this process's run
    name = f"compdebug_seed_custom_backend_{id(my_custom_backend)}"
    register_backend(my_custom_backend, name=name)

    def f(x):
        return torch.relu(x)

    torch.compile(f, backend=name)(torch.randn(3, 3))
    assert backend_run


def test_aot_autograd_api():
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    backend_run = False

    def my_compiler(gm, example_inputs):
        nonlocal backend_run
        backend_run = True
        return make_boxed_func(gm.forward)

    my_backend = aot_autograd(fw_compiler=my_compiler)

    def f(x):
        return torch.relu(x)

    torch.compile(f, backend=my_backend)(torch.randn(3, 3))
    assert backend_run


def test_lookup_backend():
    from torch._dynamo import list_backends, lookup_backend
    from torch._dynamo.exc import InvalidBackend

    assert "inductor" in list_backends()
    used = []

    def my_compiler(gm, example_inputs):
        # the seed tries TensorRT first and falls back to inductor; a backend that is
        # looked up and fails must fail the test, so only "not registered" falls through
        for name in ("tensorrt", "inductor"):
            try:
                backend = lookup_backend(name)
            except InvalidBackend:
                continue
            used.append(name)
            return backend(gm, example_inputs)
        raise AssertionError("lookup_backend found no backend")

    def f(x):
        return torch.relu(x) * 2

    compiled = torch.compile(f, backend=my_compiler)
    for _ in range(2):  # compiles, then runs the compiled code
        x = torch.randn(3, 3)
        torch.testing.assert_close(compiled(x), torch.relu(x) * 2)
    assert used == [used[0]] and used[0] in ("tensorrt", "inductor")
