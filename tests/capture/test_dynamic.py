"""Capture with dynamic shapes: symbolic sizes are checkpointed, minified and reproduced symbolic.

The backends of `tests.capture.dynamic_backends` fail only when they are handed
symbolic sizes, so every repro here fails only if it compiles with the same dims
dynamic as the captured compile did.
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
from compdebug.capture.checkpoint import read_checkpoint
from compdebug.capture.resume import rerun_checkpoint
from tests.capture.dynamic_backends import (
    DynamicOnlyError,
    aot_relu_error_when_dynamic,
    relu_error_when_dynamic,
    relu_off_by_one_when_dynamic,
)
from tests.seeds.minifier_harness import _chain_notes, _chain_text

REPO = pathlib.Path(__file__).resolve().parents[2]


def scaled_relu(x):
    y = x.sin() * x.size(0)  # a size used as a number: a SymInt input of the graph
    return torch.relu(y).cos().view(-1)  # view(-1): a shape computed from the symbolic sizes


def run_repro(directory: pathlib.Path) -> subprocess.CompletedProcess:
    """repro.py in a fresh process, this repository importable (for the test backends)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(directory / "repro.py")], capture_output=True, text=True, env=env, cwd=directory, timeout=300
    )


def capture(fn, calls, tmp_path, *, backend=relu_error_when_dynamic, after="dynamo", accuracy=False, **compile_kwargs):
    """Compile `fn` with capture on and call it with each argument tuple in `calls`; return the error."""
    torch._dynamo.reset()
    settings = {"repro_after": after, "repro_dir": str(tmp_path), "repro_accuracy": accuracy}
    compiled = torch.compile(fn, backend=backend, **compile_kwargs)
    with compdebug.config.patch(settings):
        for args in calls[:-1]:
            compiled(*args)  # static compiles: the bug does not show
        with pytest.raises(Exception) as info:
            compiled(*calls[-1])
    return info.value


def symbolic_meta(directory: pathlib.Path) -> dict:
    return json.loads((directory / "meta.json").read_text())["symbolic"]


def assert_minimal_relu_repro(directory: pathlib.Path, error: str = "DynamicOnlyError") -> str:
    """repro.py is the relu alone, says which error it reproduces, and compiles with dims dynamic."""
    text = (directory / "repro.py").read_text()
    forward = text.split("def forward")[1].split("\n\n")[0]
    assert "relu" in forward and "sin" not in forward and "cos" not in forward, forward
    assert f"# Original error: {error}" in text and "# dynamic shapes:" in text and "dynamic=True" in text
    return text


def test_dynamic_true_after_dynamo_checkpoints_minifies_and_reproduces_symbolic(tmp_path):
    error = capture(scaled_relu, [(torch.randn(8, 4),)], tmp_path, dynamic=True)
    assert "DynamicOnlyError" in _chain_text(error) and "repro written to" in _chain_notes(error)
    recorded = symbolic_meta(tmp_path / "checkpoint")
    # Dynamo's graph: the two sizes of x as SymInt inputs, then x itself with both dims symbolic
    assert recorded["dynamic_dims"] == {"2": [0, 1]}
    assert [entry.get("int") is not None for entry in recorded["inputs"][:2]] == [True, True]
    assert sorted(recorded["hints"].values()) == [4, 8]
    assert_minimal_relu_repro(tmp_path)
    child = run_repro(tmp_path)
    assert child.returncode != 0 and "DynamicOnlyError" in child.stderr, child.stderr[-3000:]
    ok, detail = rerun_checkpoint(tmp_path)
    assert ok, detail
    # the same program compiled with static sizes does not fail: the repro needed the dims dynamic
    torch._dynamo.reset()
    torch.compile(scaled_relu, backend=relu_error_when_dynamic)(torch.randn(8, 4))


def test_mark_dynamic_records_only_the_marked_dim(tmp_path):
    x = torch.randn(8, 4)
    torch._dynamo.mark_dynamic(x, 0)
    capture(scaled_relu, [(x,)], tmp_path)
    assert symbolic_meta(tmp_path / "checkpoint")["dynamic_dims"] == {"1": [0]}  # s0, then x: [s0, 4]
    best = symbolic_meta(tmp_path / "best")
    assert all(dims == [0] for dims in best["dynamic_dims"].values())
    assert "mark_static(args[0], [1])" in assert_minimal_relu_repro(tmp_path)  # dim 1 was static
    child = run_repro(tmp_path)
    assert child.returncode != 0 and "DynamicOnlyError" in child.stderr, child.stderr[-3000:]


def test_automatic_dynamic_second_size_recompiles_symbolic_and_is_captured(tmp_path):
    """The first call compiles static sizes (no bug); a second size makes Dynamo recompile with
    the batch dim symbolic, which is where the bug is."""
    error = capture(scaled_relu, [(torch.randn(8, 4),), (torch.randn(6, 4),)], tmp_path)
    assert "DynamicOnlyError" in _chain_text(error)
    recorded = symbolic_meta(tmp_path / "checkpoint")
    assert list(recorded["dynamic_dims"].values()) == [[0]] and 6 in recorded["hints"].values()
    assert_minimal_relu_repro(tmp_path)
    child = run_repro(tmp_path)
    assert child.returncode != 0 and "DynamicOnlyError" in child.stderr, child.stderr[-3000:]
    assert rerun_checkpoint(tmp_path)[0]


def test_checkpoint_reads_back_with_its_symbolic_sizes(tmp_path):
    with compdebug.config.patch(minify_on_failure=False):
        capture(scaled_relu, [(torch.randn(8, 4),)], tmp_path, dynamic=True)
    checkpoint = read_checkpoint(tmp_path / "checkpoint")
    s0, s1, x = [n.meta["example_value"] for n in checkpoint.graph_module.graph.find_nodes(op="placeholder")]
    assert isinstance(s0, torch.SymInt) and isinstance(s1, torch.SymInt)
    assert list(x.shape) == [s0, s1]  # the same symbols, tied as they were
    assert checkpoint.inputs[:2] == [8, 4] and checkpoint.inputs[2].shape == (8, 4)
    with pytest.raises(DynamicOnlyError):  # compiled as captured: symbolic
        checkpoint.target.backend.compile(checkpoint.graph_module, checkpoint.inputs)


def test_dynamic_only_accuracy_failure_is_captured_and_reproduced(tmp_path):
    error = capture(scaled_relu, [(torch.randn(8, 4),)], tmp_path, backend=relu_off_by_one_when_dynamic,
                    accuracy=True, dynamic=True)
    assert "AccuracyError" in _chain_text(error) and "repro written to" in _chain_notes(error)
    assert_minimal_relu_repro(tmp_path, "AccuracyError")
    child = run_repro(tmp_path)
    assert child.returncode != 0 and "AccuracyError" in child.stderr, child.stderr[-3000:]
    assert rerun_checkpoint(tmp_path)[0]


def test_symbolic_int_argument_is_captured(tmp_path):
    """An int argument Dynamo keeps symbolic (dynamic=True) is a SymInt input no tensor has as a size."""

    def shifted(x, n):
        return torch.relu(x + n)

    capture(shifted, [(torch.randn(8), 3)], tmp_path, dynamic=True)
    recorded = symbolic_meta(tmp_path / "checkpoint")
    assert {"int"} in [set(entry) for entry in recorded["inputs"] if entry]
    assert 3 in recorded["hints"].values()
    child = run_repro(tmp_path)
    assert child.returncode != 0 and "DynamicOnlyError" in child.stderr, child.stderr[-3000:]


@pytest.mark.slow
def test_after_aot_dynamic_true_codegen_bug_is_captured(tmp_path):
    """Inductor's relu codegen bug, dynamic=True, after AOT: the inner compiler's fake inputs are
    saved as real tensors of their hinted sizes, with the symbolic dims in meta.json."""
    torch._dynamo.reset()
    settings = {
        "repro_after": "aot",
        "repro_dir": str(tmp_path),
        "inject.stage": "codegen",
        "inject.ops": {"relu": "compile_error"},
    }
    with compdebug.config.patch(settings):
        with pytest.raises(Exception) as info:
            torch.compile(scaled_relu, dynamic=True)(torch.randn(8, 4))
    assert "could not save" not in _chain_notes(info.value)
    recorded = symbolic_meta(tmp_path / "checkpoint")
    assert recorded["meta_key"] == "val" and list(recorded["dynamic_dims"].values()) == [[0, 1]]
    assert rerun_checkpoint(tmp_path)[0]
    child = run_repro(tmp_path)
    assert child.returncode != 0 and "CppCompileError" in child.stderr, child.stderr[-3000:]


def test_after_aot_dynamic_only_failure_is_minified_and_reproduced_symbolic(tmp_path):
    """The inner compiler fails only when handed symbolic sizes: candidates and repro.py must
    give it fake inputs with the same dims symbolic (dynamic=True, then mark_dynamic)."""
    error = capture(scaled_relu, [(torch.randn(8, 4),)], tmp_path, backend=aot_relu_error_when_dynamic,
                    after="aot", dynamic=True)
    assert "DynamicOnlyError" in _chain_text(error) and "repro written to" in _chain_notes(error)
    recorded = symbolic_meta(tmp_path / "checkpoint")
    assert recorded["meta_key"] == "val" and list(recorded["dynamic_dims"].values()) == [[0, 1]]
    text = (tmp_path / "repro.py").read_text()
    assert "def fake_inputs(" in text and "aten.relu" in text and "aten.sin" not in text
    child = run_repro(tmp_path)
    assert child.returncode != 0 and "DynamicOnlyError" in child.stderr, child.stderr[-3000:]
    assert rerun_checkpoint(tmp_path)[0]
    torch._dynamo.reset()  # the same program with static sizes does not fail
    torch.compile(scaled_relu, backend=aot_relu_error_when_dynamic)(torch.randn(8, 4))


def test_dynamos_restart_signal_is_not_captured(tmp_path):
    """With dynamic shapes a backend may raise Dynamo's RestartAnalysis (to have float scalars
    traced as tensors): Dynamo traces again; capture must pass it through, not save it."""
    calls = []

    def restarts_once(gm, example_inputs):
        calls.append(1)
        if len(calls) == 1:
            raise torch._dynamo.exc.TensorifyScalarRestartAnalysis
        return gm.forward

    torch._dynamo.reset()
    with compdebug.config.patch(repro_after="dynamo", repro_dir=str(tmp_path)):
        out = torch.compile(scaled_relu, backend=restarts_once, dynamic=True)(torch.ones(4, 2))
    torch.testing.assert_close(out, scaled_relu(torch.ones(4, 2)))
    assert len(calls) == 2 and not (tmp_path / "checkpoint").exists()
