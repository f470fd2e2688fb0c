"""Real models with dynamic shapes: capture -> repro.py -> the same failure, in a fresh process.

HF GPT-2 (its MLP activation made a ReLU, where Inductor's codegen bugs live)
and ResNet from small configs, compiled with `dynamic=True`, `mark_dynamic` or
the automatic dynamic shapes of a second batch size, with Inductor's own relu
code-generation bugs. Each repro runs with plain torch alone (compdebug cannot
be imported in its process) and `python -m compdebug run DIR` must say the
checkpoint still fails the same way. Each case costs minutes here (every
minifier query is an Inductor compile).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch

import compdebug
from benchmarks.real_models import MODELS
from tests.seeds.minifier_harness import _chain_notes, _chain_text

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.realmodel,
    pytest.mark.skipif(not MODELS["gpt2"].available, reason="needs transformers"),
]


def build(name: str, batch: int = 2) -> tuple[torch.nn.Module, tuple]:
    model, inputs = MODELS[name].build("cpu", batch=batch)
    if name == "gpt2":  # GPT-2's GELU has no codegen bug: a ReLU MLP, as some GPT variants use
        for block in model.model.transformer.h:
            block.mlp.act = torch.nn.ReLU()
    return model, inputs


@pytest.fixture
def no_compdebug(tmp_path_factory) -> pathlib.Path:
    """A folder whose `compdebug` refuses to import: first on PYTHONPATH, the repro runs on torch alone."""
    root = tmp_path_factory.mktemp("poison")
    (root / "compdebug").mkdir()
    (root / "compdebug" / "__init__.py").write_text("raise ImportError('this repro must run without compdebug')\n")
    return root


def run_alone(script: pathlib.Path, poison: pathlib.Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(poison)
    return subprocess.run([sys.executable, str(script)], cwd=script.parent, env=env, capture_output=True, text=True,
                          timeout=600)


def compdebug_run(directory: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "compdebug", "run", str(directory)], env=env, capture_output=True,
                          text=True, timeout=600)


CASES = [
    # model, how the dims became dynamic, capture stage, Inductor's relu bug
    ("gpt2", "dynamic=True", "dynamo", "compile_error"),
    ("gpt2", "automatic", "aot", "compile_error"),
    ("resnet", "mark_dynamic", "aot", "accuracy"),
    ("gpt2", "mark_dynamic", "dynamo", "accuracy"),
]


@pytest.mark.parametrize(("name", "how", "after", "bug"), CASES, ids=["-".join(case) for case in CASES])
def test_dynamic_capture_reproduces_with_the_same_dims_dynamic(name, how, after, bug, tmp_path, no_compdebug):
    torch._dynamo.reset()
    model, inputs = build(name)
    compiled = torch.compile(model, dynamic=True if how == "dynamic=True" else None)
    if how == "automatic":
        compiled(*inputs)  # batch 2: compiled with static sizes, before the bug is switched on
        _, inputs = build(name, batch=3)  # another batch size: Dynamo recompiles with the batch dim symbolic
    if how == "mark_dynamic":
        torch._dynamo.mark_dynamic(inputs[0], 0)
    settings = {
        "repro_after": after,
        "repro_dir": str(tmp_path),
        "repro_accuracy": bug == "accuracy",
        "inject.stage": "codegen",
        "inject.ops": {"relu": bug},
    }
    with compdebug.config.patch(settings):
        with pytest.raises(Exception) as info:
            compiled(*inputs)
    expected = "AccuracyError" if bug == "accuracy" else "CppCompileError"
    assert expected in _chain_text(info.value) and "repro written to" in _chain_notes(info.value)

    recorded = json.loads((tmp_path / "checkpoint" / "meta.json").read_text())["symbolic"]
    dims = list(recorded["dynamic_dims"].values())
    assert dims and all(0 in d for d in dims), dims  # the batch dim was symbolic
    if how != "dynamic=True":
        assert all(d == [0] for d in dims), dims  # and only the batch dim

    text = (tmp_path / "repro.py").read_text()
    assert "# dynamic shapes:" in text and "relu" in text
    assert ("def fake_inputs(" in text) if after == "aot" else ("dynamic=True" in text)
    child = run_alone(tmp_path / "repro.py", no_compdebug)
    assert child.returncode != 0 and expected in child.stderr, child.stderr[-3000:]
    rerun = compdebug_run(tmp_path)
    assert "still fails the same way" in rerun.stdout, rerun.stdout + rerun.stderr[-3000:]
