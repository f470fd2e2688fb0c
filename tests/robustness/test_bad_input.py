"""Bad input gets a clear CompdebugError that says what and how to fix, and nothing in the process changes.

Every test runs under `untouched`: config as it was, no temporary file left, no worker running.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest
import torch
import torch.fx as fx

import compdebug
from compdebug.errors import (
    BackendError,
    BadInputError,
    CompdebugError,
    ConfigError,
    FlakyFailureError,
    GraphDoesNotFailError,
)
from tests.minify.support import after_dynamo, targets
from tests.robustness import faults
from tests.robustness.conftest import fill_disk
from tests.seeds.minifier_harness import _chain_notes, _chain_text


def sin_relu_cos(x):
    for _ in range(3):
        x = torch.sin(x)
    x = torch.relu(x)
    for _ in range(3):
        x = torch.cos(x)
    return x


def test_a_graph_that_does_not_fail(untouched, tmp_path):
    gm = fx.symbolic_trace(lambda x: torch.sin(x).cos())
    failure = compdebug.CompileFailure("compdebug_relu_compile_error")
    minifier = compdebug.Minifier(gm, [torch.randn(4)], failure, offload_to_disk=True, save_dir=tmp_path / "offload")
    with pytest.raises(GraphDoesNotFailError, match="does not fail") as info:
        minifier.minify()
    assert isinstance(info.value, CompdebugError) and "compiled without error" in str(info.value)
    assert not (tmp_path / "offload").exists() or not any((tmp_path / "offload").iterdir())


def test_a_flaky_failure_is_refused_and_the_message_names_the_way_out(untouched):
    faults.reset_calls()
    gm = fx.symbolic_trace(sin_relu_cos)
    with pytest.raises(FlakyFailureError, match="flaky='majority'") as info:
        compdebug.Minifier(gm, [torch.randn(4)], faults.alternating_relu, progress=False).minify()
    message = str(info.value)
    assert "first the predicate returned True, then no failure" in message


def test_a_flaky_failure_is_minified_by_majority_of_three(untouched):
    faults.reset_calls()
    gm = fx.symbolic_trace(sin_relu_cos)
    result = compdebug.Minifier(gm, [torch.randn(4)], faults.every_third_lies_relu, flaky="majority", progress=False).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.queries == faults._calls["every_third_lies"]  # every oracle run is counted


def test_flaky_takes_majority_or_none_only(untouched):
    gm = fx.symbolic_trace(sin_relu_cos)
    with pytest.raises(BadInputError, match="flaky"):
        compdebug.Minifier(gm, [torch.randn(4)], faults.alternating_relu, flaky="vote")


def test_inputs_that_do_not_match_the_graph(untouched):
    gm, inputs = after_dynamo(lambda x, y: torch.relu(x) + y, torch.randn(4, 3), torch.randn(3))
    failure = compdebug.CompileFailure("compdebug_relu_compile_error")
    with pytest.raises(BadInputError, match="takes 2 inputs"):
        compdebug.Minifier(gm, inputs[:1], failure)
    with pytest.raises(BadInputError, match=r"shape \[4, 3\].*got shape \[3, 4\]") as info:
        compdebug.Minifier(gm, [torch.randn(3, 4), inputs[1]], failure)
    assert "input 0" in str(info.value)
    with pytest.raises(BadInputError, match="a tensor"):
        compdebug.Minifier(gm, [3, inputs[1]], failure)


def test_not_a_graph_module(untouched):
    with pytest.raises(BadInputError, match="torch.fx.GraphModule") as info:
        compdebug.Minifier(torch.nn.ReLU(), [torch.randn(2)], compdebug.CompileFailure("eager"))
    assert "symbolic_trace" in str(info.value)


def test_an_unknown_backend_name(untouched):
    with pytest.raises(BackendError, match="unknown backend 'indcutor'. Did you mean 'inductor'"):
        compdebug.CompileFailure("indcutor")


def test_a_config_key_typo_changes_nothing(untouched):
    before = compdebug.config.to_dict()
    with pytest.raises(ConfigError, match="Did you mean 'minifier.isolate'"):
        compdebug.config.patch({"minifier.isolat": True, "repro_after": "dynamo"})
    with pytest.raises(ConfigError, match="minifier.query_timeout"):
        compdebug.config.patch("minifier.query_timeout", -1)
    assert compdebug.config.to_dict() == before


@pytest.mark.parametrize("room", [0, 8192], ids=["full", "nearly-full"])
def test_a_full_repro_dir_checkpoints_elsewhere_and_says_where(untouched, tmp_path, room):
    """Full: no write succeeds there. Nearly full: a small probe does, the checkpoint's tensor files do not."""
    repro_dir = tmp_path / "repro"
    torch._dynamo.reset()
    settings = {"repro_after": "dynamo", "repro_dir": str(repro_dir), "inject.ops": {"relu": "compile_error"}}
    with pytest.MonkeyPatch.context() as patch, compdebug.config.patch(settings):
        fill_disk(patch, repro_dir, room=room)
        with pytest.raises(Exception) as info:
            torch.compile(sin_relu_cos, backend="eager")(torch.randn(8))
    assert "ReluCompileError" in _chain_text(info.value)  # the user's error, not ours
    note = _chain_notes(info.value)
    written = pathlib.Path(note.split("repro written to ")[1].split()[0])
    assert written.name == "repro.py" and written.parent.parent == untouched  # a fresh temporary folder
    assert sorted(p.name for p in written.parent.iterdir()) >= ["best", "checkpoint", "repro.py"]
    assert not repro_dir.exists() or not any(repro_dir.iterdir())  # nothing half-written where it was full
    run = subprocess.run([sys.executable, str(written)], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "ReluCompileError" in run.stderr
    shutil.rmtree(written.parent)
