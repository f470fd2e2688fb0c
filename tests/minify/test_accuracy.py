"""compdebug.accuracy: how compiled results are judged against eager and float64 ones."""

from __future__ import annotations

import ast
import inspect
import sys

import pytest
import torch

import compdebug.accuracy as accuracy
from compdebug.accuracy import check_accuracy, fp64_copy
from tests.conftest import requires_gpu


def dynamo_graph(fn, *inputs) -> torch.fx.GraphModule:
    """The graph Dynamo captures for fn(*inputs) (one graph, no breaks)."""
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch.compile(fn, backend=capture, fullgraph=True)(*inputs)
    return graphs[0]


def relu_cos(x):
    return torch.cos(torch.relu(x)) * 2, torch.sin(x).sum()


def test_eager_backend_is_accurate():
    x = torch.randn(64, 64)
    gm = dynamo_graph(relu_cos, x)
    compiled = torch.compile(gm, backend="eager")
    for fp64 in (True, False):
        ok, detail = check_accuracy(gm, compiled, [x], fp64_reference=fp64)
        assert ok, detail
    assert "float64 reference" in check_accuracy(gm, compiled, [x])[1]


def test_relu_plus_one_is_an_accuracy_failure():
    x = torch.randn(20, 20)
    gm = dynamo_graph(relu_cos, x)

    def wrong(x):
        return torch.cos(torch.relu(x) + 1) * 2, torch.sin(x).sum()

    ok, detail = check_accuracy(gm, torch.compile(wrong, backend="eager"), [x])
    assert not ok
    assert "output[0]" in detail and "RMSE(compiled, fp64)" in detail
    assert "output[1]" not in detail  # the sum is still right
    ok, detail = check_accuracy(gm, wrong, [x], fp64_reference=False)
    assert not ok and "atol=rtol=0.001" in detail


def fp16_cancellation(x):
    return x - torch.tensor(655, dtype=torch.half) * 100


def fp32_compute(x):
    """What a compiler that upcasts fp16 arithmetic computes for fp16_cancellation."""
    return ((x.float() - torch.tensor(655, dtype=torch.half).float() * 100).half(),)


def test_rmse_improves_over_atol():
    # 655 * 100 rounds to 65504 in fp16, so eager gives 0; in fp32 and fp64 it is 4
    x = torch.tensor(655 * 100, dtype=torch.half)
    gm = dynamo_graph(fp16_cancellation, x)
    assert gm(x)[0].item() == 0 and fp32_compute(x)[0].item() == 4
    ok, detail = check_accuracy(gm, fp32_compute, [x], fp64_reference=True)
    assert ok, detail
    ok, detail = check_accuracy(gm, fp32_compute, [x], fp64_reference=False, strict=True)
    assert not ok and "max abs diff 4" in detail


def fp16_cancellation_on(device):
    def cancellation(x):
        return x - torch.tensor(655, dtype=torch.half, device=device) * 100

    return cancellation


@pytest.mark.slow
@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, requires_gpu])]
)
def test_rmse_improves_over_atol_with_inductor(device):
    import torch._inductor.config as inductor_config

    x = torch.tensor(655 * 100, dtype=torch.half, device=device)
    fn = fp16_cancellation_on(device)
    gm = dynamo_graph(fn, x)
    with inductor_config.patch(joint_graph_constant_folding=False):
        inductor_fn = torch.compile(fn, backend="inductor")
        assert inductor_fn(x).item() == 4  # inductor computes fp16 arithmetic in fp32

    def compiled(x):
        return (inductor_fn(x),)

    assert check_accuracy(gm, compiled, [x])[0]
    assert not check_accuracy(gm, compiled, [x], fp64_reference=False, strict=True)[0]


def narrowing(x):
    y = x.to(torch.float16) * 3
    z = x.half().sum(dtype=torch.float32)
    w = torch.zeros(3, dtype=torch.bfloat16) + x[:3].bfloat16()
    return y.float() + z, w, x.type(torch.float16)


def test_fp64_copy_computes_in_float64():
    x = torch.randn(8) * 100
    gm = dynamo_graph(narrowing, x)
    wide = fp64_copy(gm)
    out = wide(x.double())
    assert [o.dtype for o in out] == [torch.float64] * 3
    exact = x.double()
    torch.testing.assert_close(out[0], exact * 3 + exact.sum(), rtol=0, atol=0)
    torch.testing.assert_close(out[1], exact[:3], rtol=0, atol=0)
    assert gm(x)[0].dtype == torch.float32, "the original graph is left alone"


def test_fp64_copy_of_aten_graph():
    from torch.fx.experimental.proxy_tensor import make_fx

    def f(x):
        return (x.to(torch.float16) * 3).sum(dtype=torch.float32) + torch.full((2,), 0.1, dtype=torch.float16)

    gm = make_fx(f)(torch.randn(4))
    assert "torch.float16" in gm.code
    out = fp64_copy(gm)(torch.ones(4, dtype=torch.float64))
    assert out.dtype == torch.float64 and out[0].item() == 12.1


def test_fp64_copy_widens_parameters_buffers_and_constants():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).eval()
    x = torch.randn(5, 4)
    gm = torch.fx.symbolic_trace(model)  # parameters and buffers live in submodules (call_module)
    wide = fp64_copy(gm)
    assert all(p.dtype == torch.float64 for p in wide.parameters())
    assert all(b.dtype == torch.float64 for b in wide.buffers() if b.is_floating_point())
    assert all(isinstance(p, torch.nn.Parameter) for p in wide.parameters())
    assert wide(x.double()).dtype == torch.float64
    assert gm.get_submodule("0").weight.dtype == torch.float32, "the original module is left alone"
    ok, detail = check_accuracy(gm, torch.compile(gm, backend="eager"), [x])
    assert ok and "against float64 reference" in detail

    traced = torch.fx.symbolic_trace(lambda x: x + torch.tensor([0.5, 0.25], dtype=torch.float16))
    assert fp64_copy(traced)(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64


@torch.fx.wrap
def float32_only(x):
    if x.dtype != torch.float32:
        raise TypeError("float32_only needs float32")
    return x * 2


def test_failed_fp64_reference_falls_back_to_eager():
    gm = torch.fx.symbolic_trace(lambda x: float32_only(x) + 1)
    x = torch.randn(10)
    ok, detail = check_accuracy(gm, gm, [x])
    assert ok and "float64 reference failed (TypeError: float32_only needs float32)" in detail
    ok, detail = check_accuracy(gm, lambda x: gm(x) + 0.1, [x])
    assert not ok and "judged against eager" in detail and "atol=rtol" in detail


def test_reference_with_other_shape_is_not_used():
    # a bit view depends on the dtype: in float64 the int32 view has twice the elements
    gm = dynamo_graph(lambda x: (x.view(torch.int32).float(), x * 2), torch.randn(4))
    x = torch.randn(4)
    ok, detail = check_accuracy(gm, gm, [x])
    assert ok and "where usable, else eager" in detail


def test_nan_in_the_same_positions_is_fine():
    x = torch.tensor([-1.0, 0.0, 1.0, 4.0])
    gm = dynamo_graph(lambda x: torch.log(x) * 2, x)  # nan, -inf, 0, ...
    for fp64 in (True, False):
        assert check_accuracy(gm, torch.compile(gm, backend="eager"), [x], fp64_reference=fp64)[0]


def test_new_nan_is_a_failure():
    x = torch.tensor([-1.0, 0.5, 1.0, 4.0])
    gm = dynamo_graph(lambda x: torch.log(x.abs()), x)
    for fp64 in (True, False):
        ok, detail = check_accuracy(gm, lambda x: (torch.log(x),), [x], fp64_reference=fp64)
        assert not ok and "1 NaN/inf value(s) where eager has finite values" in detail


def test_nan_repaired_by_compiled_needs_the_fp64_reference():
    # eager fp16 overflows: x*2 is inf and inf - inf is NaN; fp64 (and fp32) give 0
    x = torch.tensor([60000.0, 1.0], dtype=torch.half)
    gm = dynamo_graph(lambda x: x * 2 - x * 2, x)
    assert gm(x)[0][0].isnan()

    def fp32(x):
        return ((x.float() * 2 - x.float() * 2).half(),)

    ok, detail = check_accuracy(gm, fp32, [x], fp64_reference=True)
    assert ok, detail
    ok, detail = check_accuracy(gm, fp32, [x], fp64_reference=False)
    assert not ok and "finite value(s) where eager has NaN/inf" in detail


def test_wrong_infinity_is_a_failure():
    x = torch.tensor([1.0, 2.0])
    gm = dynamo_graph(lambda x: x / 0, x)  # +inf, +inf
    ok, detail = check_accuracy(gm, lambda x: (-x / 0,), [x])
    assert not ok and "2 NaN/inf value(s)" in detail


def sign_and_mask(x):
    y = x * 3
    return y, y > 0, (y > 0).sum()


def test_bool_and_int_outputs_only_count_when_strict():
    x = torch.tensor([0.0, 1.0, -2.0, 3.0])
    gm = dynamo_graph(sign_and_mask, x)

    def noisy(x):  # a 1e-7 error flips the mask where y is exactly 0
        y = x * 3 + 1e-7
        return y, y > 0, (y > 0).sum()

    ok, detail = check_accuracy(gm, noisy, [x])
    assert ok, detail
    ok, detail = check_accuracy(gm, noisy, [x], strict=True)
    assert not ok and "output[1]: 1 of 4 values differ (strict)" in detail and "output[2]" in detail


def test_tolerance_sets_the_bound():
    x = torch.randn(1000)
    gm = dynamo_graph(lambda x: x * 2, x)

    def off_by_half_percent(x):
        return (x * 2 * 1.005,)

    for fp64 in (True, False):
        assert not check_accuracy(gm, off_by_half_percent, [x], fp64_reference=fp64, tolerance=1e-3)[0]
        assert check_accuracy(gm, off_by_half_percent, [x], fp64_reference=fp64, tolerance=1e-2)[0]


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-3), (torch.float16, 1e-3), (torch.bfloat16, 1e-2)])
def test_anything_allclose_to_eager_passes_the_rmse_rule(dtype, tol):
    # the documented property: within allclose(atol=rtol=tolerance) of eager => passes
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(500, generator=gen) * 10).to(dtype)
    gm = dynamo_graph(lambda x: torch.exp(x / 10) * x, x)
    eager = gm(x)[0]
    for trial in range(5):
        u = torch.rand(eager.shape, generator=gen) * 2 - 1
        near = (eager.double() + tol * (1 + eager.double().abs()) * u).to(dtype)
        near = torch.where(torch.isclose(near, eager, atol=tol, rtol=tol), near, eager)  # undo rounding past the bound
        assert (near != eager).sum() > 50
        ok, detail = check_accuracy(gm, lambda x: (near,), [x], tolerance=tol)
        assert ok, detail


def test_shape_dtype_and_structure_mismatches_fail():
    x = torch.randn(4, 4)
    gm = dynamo_graph(lambda x: (x + 1, x.sum()), x)
    cases = {
        "shape torch.Size([16]) != eager torch.Size([4, 4])": lambda x: ((x + 1).flatten(), x.sum()),
        "dtype torch.float64 != eager torch.float32": lambda x: ((x + 1).double(), x.sum()),
        "outputs differ in structure": lambda x: (x + 1,),
    }
    for expected, compiled in cases.items():
        ok, detail = check_accuracy(gm, compiled, [x])
        assert not ok and expected in detail, detail


def test_nested_outputs_are_compared_leaf_by_leaf():
    x = torch.randn(3)
    gm = torch.fx.symbolic_trace(lambda x: {"a": [x + 1, x * 2], "b": x.sum()})
    ok, detail = check_accuracy(gm, lambda x: {"a": [x + 1, x * 2 + 1], "b": x.sum()}, [x])
    assert not ok and "output['a'][1]" in detail and "output['a'][0]" not in detail


def test_inputs_are_not_mutated_and_keep_their_strides():
    base = torch.randn(6, 5)
    x = base.t()[1:]  # non-contiguous, storage offset 1
    original = x.clone()
    gm = dynamo_graph(lambda x: x.add_(1) * 2, x.clone())
    seen = []

    def compiled(x):
        seen.append((x.shape, x.stride()))
        return gm(x)

    assert check_accuracy(gm, compiled, [x])[0]
    assert torch.equal(x, original)
    assert seen == [(x.shape, x.stride())]


def test_requires_grad_inputs():
    w = torch.randn(3, 3, requires_grad=True)
    gm = dynamo_graph(lambda w: (w @ w).tanh(), w)
    ok, detail = check_accuracy(gm, torch.compile(gm, backend="eager"), [w])
    assert ok, detail
    assert w.grad is None


def test_module_is_self_contained():
    """Repro scripts paste this file: only the standard library and torch may be imported."""
    source = inspect.getsource(accuracy)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            roots = [node.module.split(".")[0]]
        elif isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        else:
            continue
        for root in roots:
            assert root == "torch" or root in sys.stdlib_module_names or root == "__future__", root
    namespace: dict = {"__name__": "pasted_accuracy"}
    exec(compile(source, "pasted_accuracy", "exec"), namespace)
    x = torch.randn(5)
    gm = dynamo_graph(lambda x: torch.relu(x), x)
    assert namespace["check_accuracy"](gm, gm, [x]) == check_accuracy(gm, gm, [x])
    assert not namespace["check_accuracy"](gm, lambda x: (torch.relu(x) + 1,), [x])[0]


@pytest.mark.gpu
@requires_gpu
def test_cuda_outputs_are_judged_on_their_device():
    x = torch.randn(64, 64, device="cuda", dtype=torch.float16)
    gm = dynamo_graph(relu_cos, x)
    ok, detail = check_accuracy(gm, torch.compile(gm, backend="eager"), [x])
    assert ok and "against float64 reference" in detail, detail

    def wrong(x):
        return torch.cos(torch.relu(x) + 1) * 2, torch.sin(x).sum()

    ok, detail = check_accuracy(gm, wrong, [x])
    assert not ok and "output[0]" in detail and "output[1]" not in detail
    ok, detail = check_accuracy(gm, lambda x: tuple(o.cpu() for o in gm(x)), [x])
    assert not ok and "device cpu != eager cuda:0" in detail


def test_undefined_math_is_judged_only_when_strict():
    # log1p is undefined below -1: eager and the fp64 reference give NaN there
    x = torch.tensor([-2.0, 0.5, 1.0])
    gm = dynamo_graph(lambda x: torch.log1p(x), x)

    def broken(x):  # the inductor codegen bug: log1p(x) becomes x + 1
        return (x + 1,)

    ok, detail = check_accuracy(gm, broken, [x])
    assert ok, detail
    ok, detail = check_accuracy(gm, broken, [x], strict=True)
    assert not ok and "finite value(s) where eager has NaN/inf" in detail
    ok, detail = check_accuracy(gm, broken, [torch.tensor([0.5, 1.0])])
    assert not ok, "without undefined positions the broken log1p must fail"
