"""The static real-model corpus: HF GPT-2, BERT, ViT and ResNet on CPU (on a GPU machine the same
cases on CUDA with Triton, plus torchvision's resnet18), captured to repro.py.

Each case compiles a real model with a real bug (Inductor's own relu codegen
bug, or one injected at AOT stage into a training step whose activations
Inductor lays out channels-last), captures the failure after Dynamo or after
AOT, and then, each in a fresh process: repro.py must fail the same way (with
plain torch alone where the bug is Inductor's) and `python -m compdebug run DIR`
must say it still fails the same way.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import attrs
import pytest
import torch

import compdebug
from compdebug.capture.checkpoint import read_checkpoint
from benchmarks.real_models import MODELS, training_step

pytest.importorskip("transformers")
pytestmark = pytest.mark.realmodel

REPO = pathlib.Path(__file__).resolve().parents[2]


@attrs.frozen
class Case:
    model: str
    after: str  # repro_after
    op: str
    kind: str  # compile_error | runtime_error | accuracy
    stage: str  # inject.stage
    train: bool = False
    graph: str | None = None  # after AOT: the graph that fails (forward, backward, inference)
    error: str = ""  # what the caught error, repro.py and `run DIR` show
    device: str = "cpu"

    @property
    def id(self) -> str:
        mode = "train" if self.train else "eval"
        return f"{self.model}-{self.device}-{mode}-after_{self.after}-{self.stage}_{self.op}_{self.kind}"

    @property
    def inductors_bug(self) -> bool:
        return self.stage == "codegen"


CODEGEN_COMPILE_ERROR = "CppCompileError: C++ compile error"
ACCURACY = "AccuracyError"

CASES = [
    # Inductor's own relu bug (in the transformers' relu twins), after Dynamo and after AOT, compile
    # error and accuracy (eval mode with parameters that require grad: AOT Autograd still makes a
    # forward graph, not an inference one)
    Case("gpt2_relu", "dynamo", "relu", "compile_error", "codegen", error=CODEGEN_COMPILE_ERROR),
    Case("gpt2_relu", "aot", "relu", "compile_error", "codegen", graph="forward", error=CODEGEN_COMPILE_ERROR),
    Case("bert_relu", "aot", "relu", "accuracy", "codegen", graph="forward", error=ACCURACY),
    Case("vit_relu", "dynamo", "relu", "accuracy", "codegen", error=ACCURACY),
    # a training step whose activations Inductor lays out channels-last: the backward graph's views
    # hold for the eager strides only (issue 9, point 2), and a forward-graph failure of the same step
    Case("resnet", "aot", "where", "compile_error", "aot", train=True, graph="backward",
         error="TestingOnlyCompileError: compdebug injected a compile error into graphs containing 'where'"),
    Case("resnet", "aot", "where", "runtime_error", "aot", train=True, graph="backward",
         error="WhereRuntimeError: compdebug injected a run-time error into 'where'"),
    Case("resnet", "aot", "relu", "runtime_error", "aot", train=True, graph="forward",
         error="ReluRuntimeError: compdebug injected a run-time error into 'relu'"),
]


# the GPU machine (Triton): Inductor's relu bug in Triton's codegen, and the channels-last training
# step on HF ResNet and torchvision's resnet18 (where torchvision is installed)
_GPU = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
_TORCHVISION = pytest.mark.skipif(not MODELS["resnet18"].available, reason="needs torchvision")
GPU_CASES = [
    pytest.param(Case(c.model, c.after, c.op, c.kind, c.stage, c.train, c.graph, device="cuda",
                      error=c.error if c.stage == "aot" or c.kind == "accuracy" else ""), marks=_GPU)
    for c in CASES
] + [
    pytest.param(Case("resnet18", "aot", "where", kind, "aot", train=True, graph="backward", device="cuda",
                      error=error), marks=[*_GPU, _TORCHVISION])
    for kind, error in [("compile_error", CASES[4].error), ("runtime_error", CASES[5].error)]
]


@pytest.fixture(scope="module")
def without_compdebug(tmp_path_factory) -> pathlib.Path:
    """A folder whose `compdebug` refuses to import: first on PYTHONPATH, it proves a repro needs torch only."""
    root = tmp_path_factory.mktemp("no_compdebug")
    (root / "compdebug").mkdir()
    (root / "compdebug" / "__init__.py").write_text("raise ImportError('this repro must run with plain torch')\n")
    return root


def fresh_python(*args: str, path: list[pathlib.Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def capture(case: Case, repro_dir: pathlib.Path) -> BaseException:
    model, inputs = MODELS[case.model].build(case.device, train=case.train, batch=1)
    program = training_step(model) if case.train else model
    settings = {
        "repro_after": case.after,
        "repro_dir": str(repro_dir),
        "repro_accuracy": case.kind == "accuracy",
        "inject.ops": {case.op: case.kind},
        "inject.stage": case.stage,
    }
    with compdebug.config.patch(settings), pytest.raises(Exception) as caught:
        torch.compile(program)(*inputs)
    return caught.value


@pytest.mark.parametrize("case", [*CASES, *GPU_CASES], ids=lambda case: case.id)
def test_capture_gives_a_repro_that_fails_the_same_way_in_a_fresh_process(case, tmp_path, without_compdebug):
    error = capture(case, tmp_path)
    assert case.error in f"{type(error).__name__}: {error}"
    assert f"compdebug: repro written to {tmp_path / 'repro.py'}" in getattr(error, "__notes__", [])
    checkpoint = read_checkpoint(tmp_path / "checkpoint")
    inner = checkpoint.target.backend.inner
    assert (inner.role if inner else None) == case.graph
    shown = case.error or f"{checkpoint.target.error_type}: "  # where the text is not known here: the type
    if case.graph == "backward":  # Inductor's channels-last activations, kept as the inner compiler got them
        assert any(x.dim() == 4 and not x.is_contiguous() for x in checkpoint.inputs if isinstance(x, torch.Tensor))

    # each check in a fresh process, one after the other as a user runs them (run side by side, the two
    # compiled the same graph into one Inductor cache at once, and on CUDA one saw the other's half-made
    # kernel module: "Failed to import ...py")
    repro = fresh_python(str(tmp_path / "repro.py"), path=[without_compdebug] if case.inductors_bug else [REPO])
    assert repro.returncode != 0 and shown in repro.stderr, repro.stderr[-3000:]
    rerun = fresh_python("-m", "compdebug", "run", str(tmp_path), path=[REPO])
    expected = f"expected {checkpoint.target.error_type}: {checkpoint.target.error_text}"[:1500]
    assert rerun.returncode == 1 and "still fails the same way" in rerun.stdout, (
        f"{expected}\n{(rerun.stdout + rerun.stderr)[-3000:]}"
    )
    assert shown in rerun.stdout or case.kind == "accuracy"
