"""Capture after Dynamo and after AOT: checkpoint first, minify, repro.py, original error re-raised."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import compdebug
from compdebug.capture.checkpoint import read_checkpoint
from tests.seeds.minifier_harness import _chain_notes, _chain_text


def sin_relu_cos(x):
    for _ in range(5):
        x = torch.sin(x)
    x = torch.nn.functional.relu(x)
    for _ in range(5):
        x = torch.cos(x)
    return x


def run_captured(fn, *args, backend="eager", **settings):
    torch._dynamo.reset()
    with compdebug.config.patch(settings):
        with pytest.raises(Exception) as info:
            torch.compile(fn, backend=backend)(*args)
    return info.value


def test_without_minify_only_the_checkpoint_is_written_and_named(tmp_path):
    error = run_captured(
        sin_relu_cos,
        torch.randn(8),
        repro_after="dynamo",
        repro_dir=str(tmp_path),
        minify_on_failure=False,
        **{"inject.ops": {"relu": "compile_error"}},
    )
    assert "ReluCompileError" in _chain_text(error)
    assert not (tmp_path / "repro.py").exists()
    assert str(tmp_path / "checkpoint") in _chain_notes(error)
    meta = json.loads((tmp_path / "checkpoint" / "meta.json").read_text())
    assert meta["stage"] == "dynamo" and meta["target"]["kind"] == "compile"
    assert meta["target"]["error_type"] == "ReluCompileError"
    assert meta["torch_version"] == torch.__version__


def test_checkpoint_reads_back_to_a_graph_that_fails_the_same_way(tmp_path):
    run_captured(
        sin_relu_cos,
        torch.randn(8),
        repro_after="dynamo",
        repro_dir=str(tmp_path),
        minify_on_failure=False,
        **{"inject.ops": {"relu": "compile_error"}},
    )
    checkpoint = read_checkpoint(tmp_path / "checkpoint")
    names = [n.name for n in checkpoint.graph_module.graph.nodes]
    assert names == json.loads((tmp_path / "checkpoint" / "meta.json").read_text())["node_names"]
    assert checkpoint.target.backend.inject_ops == {"relu": "compile_error"}
    with pytest.raises(compdebug.ReluCompileError):
        checkpoint.target.backend.compile(checkpoint.graph_module, checkpoint.inputs)


def test_wrap_backend_captures_without_config(tmp_path):
    torch._dynamo.reset()
    with compdebug.config.patch(repro_dir=str(tmp_path)):
        compiled = torch.compile(sin_relu_cos, backend=compdebug.wrap_backend("compdebug_relu_runtime_error"))
        with pytest.raises(Exception) as info:
            compiled(torch.randn(8))
    assert "ReluRuntimeError" in _chain_text(info.value)
    text = (tmp_path / "repro.py").read_text()
    assert "relu" in text and "torch.sin" not in text
    child = subprocess.run([sys.executable, str(tmp_path / "repro.py")], capture_output=True, text=True)
    assert child.returncode != 0 and "ReluRuntimeError" in child.stderr


def test_wrap_backend_refuses_bad_arguments():
    with pytest.raises(compdebug.CompdebugError, match="repro_after"):
        compdebug.wrap_backend("eager", repro_after="inductor")
    with pytest.raises(compdebug.CompdebugError, match="unknown backend"):
        compdebug.wrap_backend("indcutor")


def test_a_passing_graph_is_not_captured(tmp_path):
    torch._dynamo.reset()
    with compdebug.config.patch(repro_after="dynamo", repro_dir=str(tmp_path), repro_accuracy=True):
        out = torch.compile(sin_relu_cos, backend="eager")(torch.ones(4))
    torch.testing.assert_close(out, sin_relu_cos(torch.ones(4)))
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.fc2 = torch.nn.Linear(16, 1)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)).sin())


def test_training_step_backward_graph_is_captured_and_minified(tmp_path):
    """A bug in an op that only the backward graph holds is caught at loss.backward()."""
    torch._dynamo.reset()
    model = Net()
    settings = {
        "repro_after": "aot",
        "repro_dir": str(tmp_path),
        "inject.stage": "aot",
        "inject.ops": {"cos": "compile_error"},  # sin's derivative: in the backward graph only
    }
    with compdebug.config.patch(settings):
        loss = torch.compile(model)(torch.randn(4, 8)).sum()  # the forward compiles fine
        with pytest.raises(Exception) as info:
            loss.backward()
    assert "TestingOnlyCompileError" in _chain_text(info.value)
    repro = (tmp_path / "repro.py").read_text()
    assert "aten.cos" in repro and "aten.mm" not in repro
    child = subprocess.run([sys.executable, str(tmp_path / "repro.py")], capture_output=True, text=True)
    assert child.returncode != 0 and "TestingOnlyCompileError" in child.stderr, child.stderr[-3000:]


def test_unwritable_repro_dir_checkpoints_elsewhere_and_says_where(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    error = run_captured(
        sin_relu_cos,
        torch.randn(8),
        repro_after="dynamo",
        repro_dir=str(blocker / "repro"),
        minify_on_failure=False,
        **{"inject.ops": {"relu": "compile_error"}},
    )
    notes = _chain_notes(error)
    assert "checkpoint" in notes and str(blocker) not in notes
    where = notes.split("written to ")[1].split(" ")[0]
    assert read_checkpoint(where).target.kind == "compile"


def test_the_users_error_survives_when_nothing_can_be_saved(tmp_path, monkeypatch):
    import compdebug.capture.checkpoint as checkpoint

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_graph", disk_full)  # forces the fault: every write fails
    error = run_captured(
        sin_relu_cos, torch.randn(8), repro_after="dynamo", repro_dir=str(tmp_path), **{"inject.ops": {"relu": "compile_error"}}
    )
    assert "ReluCompileError" in _chain_text(error)
    assert "could not save this failure" in _chain_notes(error) and "No space left" in _chain_notes(error)
