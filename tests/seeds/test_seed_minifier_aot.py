"""Ports of torch's test/inductor/test_minifier.py (seed 001) to compdebug: after-AOT capture
of real Inductor code-generation bugs (g++ on CPU, Triton on GPU)."""

from __future__ import annotations

import pytest

from tests.conftest import requires_gpu
from tests.seeds.minifier_harness import run_full_test

AFTER_AOT_PROGRAM = """\
@torch.compile()
def inner(x):
    x = torch.relu(x)
    x = torch.cos(x)
    return x

inner(torch.randn(20, 20).to({device!r}))
"""


def codegen_bug(**ops):
    return {"inject.stage": "codegen", "inject.ops": ops}


def test_after_aot_cpu_compile_error(tmp_path):
    res = run_full_test(
        AFTER_AOT_PROGRAM.format(device="cpu"), "aot", "CppCompileError", tmp_path, **codegen_bug(relu="compile_error")
    )
    assert "compdebug" not in res.repro_text(), "an Inductor bug's repro must run with plain torch"


def test_after_aot_cpu_accuracy_error(tmp_path):
    res = run_full_test(
        AFTER_AOT_PROGRAM.format(device="cpu"), "aot", "AccuracyError", tmp_path, **codegen_bug(relu="accuracy")
    )
    assert "torch.ops.aten.relu.default" in res.repro_module()
    assert "compdebug" not in res.repro_text()


@requires_gpu
@pytest.mark.gpu
def test_after_aot_gpu_compile_error(tmp_path):
    run_full_test(AFTER_AOT_PROGRAM.format(device="cuda"), "aot", "SyntaxError", tmp_path, **codegen_bug(relu="compile_error"))


@requires_gpu
@pytest.mark.gpu
def test_after_aot_gpu_accuracy_error(tmp_path):
    run_full_test(AFTER_AOT_PROGRAM.format(device="cuda"), "aot", "AccuracyError", tmp_path, **codegen_bug(relu="accuracy"))


def test_constant_in_graph(tmp_path):
    program = """\
@torch.compile()
def inner(x):
    return torch.tensor(2) + torch.relu(x)

inner(torch.randn(2))
"""
    run_full_test(program, "aot", "AccuracyError", tmp_path, **codegen_bug(relu="accuracy"))


@requires_gpu
@pytest.mark.gpu
def test_rmse_improves_over_atol(tmp_path):
    import torch._inductor.config as inductor_config

    program = """
@torch.compile()
def inner(x):
    return x - torch.tensor(655, dtype=torch.half, device='cuda') * 100

inner(torch.tensor(655 * 100, dtype=torch.half, device='cuda'))
"""
    with inductor_config.patch("joint_graph_constant_folding", False):
        run_full_test(
            program, "aot", "AccuracyError", tmp_path / "fp32", **{"accuracy.fp64_reference": False, "accuracy.strict": True}
        )
        run_full_test(program, "aot", None, tmp_path / "fp64", repro_accuracy=True)


STRICT_PROGRAM = """
@torch.compile()
def inner(x):
    y = torch.log1p(x)
    b = y > 0
    b = torch.logical_not(b)
    b = torch.logical_not(b)
    x = torch.relu(x)
    return torch.where(b, x, x)

inner(torch.randn(20))
"""


def test_accuracy_vs_strict_accuracy(tmp_path):
    bugs = codegen_bug(relu="accuracy", log1p="accuracy")
    res = run_full_test(STRICT_PROGRAM, "aot", "AccuracyError", tmp_path / "strict", **bugs, **{"accuracy.strict": True})
    assert res.repro_module() == """\
class Repro(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, arg0_1):
        log1p = torch.ops.aten.log1p.default(arg0_1);  arg0_1 = None
        return (log1p,)"""
    res = run_full_test(STRICT_PROGRAM, "aot", "AccuracyError", tmp_path / "default", **bugs)
    assert res.repro_module() == """\
class Repro(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, arg0_1):
        relu = torch.ops.aten.relu.default(arg0_1);  arg0_1 = None
        return (relu,)"""


def test_offload_to_disk(tmp_path):
    program = """\
@torch.compile()
def inner(x):
    x = torch.sin(x)
    x = torch.sin(x)
    x = torch.cos(x)
    x = torch.relu(x)
    return x

inner(torch.randn(20, 20))
"""
    res = run_full_test(
        program, "aot", "AccuracyError", tmp_path, **codegen_bug(relu="accuracy"), **{"minifier.offload_to_disk": True}
    )
    assert "torch.ops.aten.relu.default" in res.repro_module()
    assert "sin" not in res.repro_module()
    assert not (res.repro_dir / "offload").exists() or not any((res.repro_dir / "offload").iterdir())
