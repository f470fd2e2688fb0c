"""python -m compdebug minify|run: resume and re-check saved checkpoints; useful help; clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.fx as fx

import compdebug
from compdebug.__main__ import main
from compdebug.capture.checkpoint import read_checkpoint, write_checkpoint
from compdebug.minify.isolate import crash_signature, hard_failure_target
from tests.minify.support import targets
from tests.robustness import faults
from tests.robustness.test_checkpoints import capture


def test_minify_then_run_a_saved_checkpoint(tmp_path, capsys):
    capture(tmp_path)
    assert main(["minify", str(tmp_path), "--max-queries", "50"]) == 0
    assert f"repro written to {tmp_path / 'repro.py'}" in capsys.readouterr().out
    assert targets(read_checkpoint(tmp_path / "best").graph_module) == ["relu"]
    assert main(["run", str(tmp_path / "best")]) == 1
    assert "still fails the same way: while compiling: ReluCompileError" in capsys.readouterr().out


@pytest.mark.parametrize("command, words", [
    ("minify", ["--isolate", "--max-queries N", "--offload-to-disk", "--query-timeout S", "--flaky",
                "--import MODULE", "best/", "Exit status", "examples:"]),
    ("run", ["--query-timeout S", "--import MODULE", "still fails the same way", "Exit status"]),
])
def test_help_says_what_each_command_does(capsys, command, words):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for word in words:
        assert word in text, word


def test_bad_arguments_are_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["minify", str(tmp_path), "--max-queries", "0"])
    assert done.value.code == 2 and "must be a positive int" in capsys.readouterr().err
    assert main(["run", str(tmp_path)]) == 2
    assert "holds no compdebug checkpoint" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--import", "no_such_module_here"]) == 2
    assert "--import no_such_module_here" in capsys.readouterr().err


def test_run_reruns_a_saved_crash_in_a_child_process(tmp_path, capsys):
    gm = fx.symbolic_trace(lambda x: torch.relu(x))
    failure = compdebug.CompileFailure(faults.segfault_at_relu)
    target = hard_failure_target(failure, crash_signature(-11), None)
    write_checkpoint(tmp_path / "checkpoint", gm, [torch.randn(4)], target, "dynamo")
    assert main(["run", str(tmp_path)]) == 1  # this process is still alive to say so
    assert "still fails the same way: crash: the query's process was killed by SIGSEGV" in capsys.readouterr().out
