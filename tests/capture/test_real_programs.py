"""What real programs meet: training graphs compiled as the inner compiler saw them, repros that
claim only what they were checked to do, the note on the exception the user catches, files others
can read, and a resumed minification that keeps the captured failure."""

from __future__ import annotations

import os
import pathlib
import re
import stat
import subprocess
import sys
import traceback

import attrs
import pytest
import torch
import torch._inductor.config as inductor_config

import compdebug
from compdebug.__main__ import main
from compdebug.backends.aot import InnerCall
from compdebug.backends.spec import resolve_backend
from compdebug.capture.checkpoint import read_checkpoint
from compdebug.errors import ReluCompileError
from tests.capture.test_capture import run_captured, sin_relu_cos
from tests.minify.support import targets

REPO = pathlib.Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO)}
RELU_COMPILE_ERROR = {"inject.ops": {"relu": "compile_error"}}


def run_in_fresh_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=CHILD_ENV, capture_output=True, text=True, timeout=600)


# -- the note on the exception the user catches (issue 9, point 5) ---------------------------


def test_the_repro_note_is_on_the_exception_dynamo_raises_and_in_its_traceback(tmp_path):
    error = run_captured(sin_relu_cos, torch.randn(8), repro_after="dynamo", repro_dir=str(tmp_path), **RELU_COMPILE_ERROR)
    assert type(error).__name__ == "BackendCompilerFailed"  # what the user catches after Dynamo
    note = f"compdebug: repro written to {tmp_path / 'repro.py'}"
    assert getattr(error, "__notes__", []).count(note) == 1
    assert note in "".join(traceback.format_exception(error))


# -- a repro claims only what it was checked to do (point 2) -------------------------------------

_CALLS: list[int] = []


def fails_on_calls(*failing: int):
    """A backend raising ValueError on the given (1-based) compile calls, eager otherwise."""

    def backend(gm, example_inputs):
        _CALLS.append(1)
        if len(_CALLS) in failing:
            raise ValueError("this backend fails on some calls only")
        return gm.forward

    return backend


def first_call_only(gm, example_inputs):
    return fails_on_calls(1)(gm, example_inputs)


def calls_1_2_4(gm, example_inputs):
    return fails_on_calls(1, 2, 4)(gm, example_inputs)


def calls_1_2(gm, example_inputs):
    return fails_on_calls(1, 2)(gm, example_inputs)


@pytest.fixture
def fresh_calls():
    _CALLS.clear()
    yield
    _CALLS.clear()


def test_a_failure_that_does_not_happen_again_gets_no_repro_and_a_plain_word(tmp_path, fresh_calls, capsys):
    error = run_captured(sin_relu_cos, torch.randn(8), backend=first_call_only, repro_after="dynamo",
                         repro_dir=str(tmp_path))
    assert "this backend fails on some calls only" in str(error)
    assert not (tmp_path / "repro.py").exists()
    (line,) = [n for n in error.__notes__ if n.startswith("compdebug:")]
    assert line in capsys.readouterr().err
    assert f"checkpoint of the failure written to {tmp_path / 'checkpoint'}, but no repro.py" in line
    assert "it gives: no failure" in line and f"python -m compdebug run {tmp_path}" in line
    assert read_checkpoint(tmp_path / "checkpoint").target.error_type == "ValueError"  # the failure is kept


def test_an_unminified_repro_is_written_only_once_checked_and_says_so(tmp_path, fresh_calls):
    # calls: 1 capture (fails), 2 the minifier's first look (fails), 3 its second look (passes: flaky),
    # 4 the check of the unminified graph (fails): written, with what it was checked to do
    error = run_captured(sin_relu_cos, torch.randn(8), backend=calls_1_2_4, repro_after="dynamo",
                         repro_dir=str(tmp_path))
    assert f"unminified repro written to {tmp_path / 'repro.py'}" in error.__notes__[-1]
    assert "does not fail the same way twice" in error.__notes__[-1]
    header = (tmp_path / "repro.py").read_text().split("\n\n")[0]
    assert "# Not minified (could not minify it: the original graph does not fail the same way twice" in header
    assert "# Checked when written: this graph failed as captured (while compiling: ValueError: this backend" in header


def test_an_unminified_graph_that_no_longer_fails_gets_no_repro(tmp_path, fresh_calls):
    error = run_captured(sin_relu_cos, torch.randn(8), backend=calls_1_2, repro_after="dynamo", repro_dir=str(tmp_path))
    assert not (tmp_path / "repro.py").exists()
    line = error.__notes__[-1]
    assert "but no repro.py: could not minify it" in line and "it gives: no failure" in line


# -- rough edges (point 6) -----------------------------------------------------------------------


def test_repro_header_shows_the_error_as_raised_not_normalised(tmp_path):
    run_captured(sin_relu_cos, torch.randn(8), repro_after="dynamo", repro_dir=str(tmp_path), repro_accuracy=True,
                 **{"inject.ops": {"relu": "accuracy"}})
    header = (tmp_path / "repro.py").read_text().split("\n\n")[0]
    (line,) = [line for line in header.splitlines() if line.startswith("# Original error:")]
    assert re.search(r"RMSE\(compiled, fp64\) = \d+\.\d+", line), line
    assert "fpN" not in line and "N.N" not in line


def test_run_on_a_missing_folder_says_it_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "compdebug_repro" / "nothing-here"
    assert main(["run", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing} does not exist" in err
    assert "'checkpoint written to' line" not in err  # a line capture never prints
    assert "'compdebug: repro written to ...'" in err


def test_capture_files_and_folders_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        run_captured(sin_relu_cos, torch.randn(8), repro_after="dynamo", repro_dir=str(tmp_path / "out"),
                     repro_accuracy=True, **{"inject.ops": {"relu": "accuracy"}})
    finally:
        os.umask(previous)
    written = sorted((tmp_path / "out").rglob("*"))
    assert {p.name for p in written} >= {"repro.py", "checkpoint", "best", "inputs.pt", "state.pt", "meta.json"}
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in written}
    expected = {name: 0o755 if (tmp_path / name).is_dir() else 0o644 for name in modes}
    assert modes == expected


def test_after_aot_compile_error_inputs_keep_their_storage_offset(tmp_path):
    base = torch.randn(9)
    run_captured(sin_relu_cos, base[1:], backend="aot_eager", repro_after="aot", repro_dir=str(tmp_path),
                 minify_on_failure=False, **{"inject.ops": {"relu": "compile_error"}, "inject.stage": "aot"})
    (saved,) = read_checkpoint(tmp_path / "checkpoint").inputs
    assert (saved.shape, saved.stride(), saved.storage_offset()) == ((8,), (1,), 1)


# -- training graphs as the inner compiler saw them (point 2) ---------------------------------------


class ConvNet(torch.nn.Module):
    """conv, batch norm, relu, max pool: with Inductor's channels-last layout, its backward graph
    holds views that only hold for the eager (contiguous) strides (the HF ResNet case, small)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(3, 2)  # no padding: random offsets (all a compile error has) stay valid
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 3 * 3, 4)

    def forward(self, x):
        y = self.conv2(self.pool(torch.relu(self.bn(self.conv(x)))))
        return self.fc(y.flatten(1))


def train_step(model):
    def step(x):
        loss = model(x).sum()
        loss.backward()
        return loss.detach()

    return step


def test_a_post_aot_graph_compiles_again_without_a_second_aot_pass():
    # a view that holds for contiguous strides only, on a channels-last input: as AOT Autograd hands
    # Inductor a backward graph when Inductor chose channels-last activations
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    view = graph.call_function(torch.ops.aten.view.default, (x, [2, 72]))
    graph.output((graph.call_function(torch.ops.aten.mul.Tensor, (view, 2)),))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    x = torch.randn(2, 8, 3, 3).to(memory_format=torch.channels_last)
    inductor = resolve_backend("inductor")
    with pytest.raises(Exception, match="view"):
        inductor.compile(gm, [x])  # through compile_fx: AOT Autograd traces the graph again, and its view fails
    (out,) = attrs.evolve(inductor, inner=InnerCall("backward")).compile(gm, [x])(x)
    torch.testing.assert_close(out, x.reshape(2, 72) * 2)


@pytest.mark.slow
def test_restrided_backward_graph_is_minified_and_resumed_as_captured(tmp_path):
    torch.manual_seed(0)
    settings = {"repro_after": "aot", "repro_dir": str(tmp_path), "minifier.max_queries": 3,
                "inject.ops": {"where": "compile_error"}, "inject.stage": "aot"}  # relu's backward: a where
    with inductor_config.patch(force_layout_optimization=True), compdebug.config.patch(settings):
        with pytest.raises(Exception) as info:
            torch.compile(train_step(ConvNet()))(torch.randn(2, 3, 8, 8))
    assert "compdebug injected a compile error into graphs containing 'where'" in str(info.value)

    # stopped early (as by a kill), then resumed: the end is the captured failure, 1-minimal
    resumed = run_in_fresh_python("-m", "compdebug", "minify", str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert targets(read_checkpoint(tmp_path / "best").graph_module) == ["where"]
    child = run_in_fresh_python(str(tmp_path / "repro.py"))
    assert child.returncode != 0 and "TestingOnlyCompileError" in child.stderr, child.stderr[-3000:]
    rerun = run_in_fresh_python("-m", "compdebug", "run", str(tmp_path))
    assert "still fails the same way: while compiling: TestingOnlyCompileError" in rerun.stdout, rerun.stderr[-3000:]

    # how: the backward graph, its channels-last inputs kept, compiled as Inductor's inner compiler got it
    checkpoint = read_checkpoint(tmp_path / "checkpoint")
    assert any(not x.is_contiguous() for x in checkpoint.inputs if isinstance(x, torch.Tensor))
    inner = checkpoint.target.backend.inner
    assert inner.role == "backward" and set(inner.static_inputs) <= {n.name for n in checkpoint.graph_module.graph.nodes}
    script = (tmp_path / "repro.py").read_text()
    assert "(gm, list(inputs), static_input_idxs=[], is_backward=True)" in script and "compiled = torch.compile(" not in script
    assert "# Original error: TestingOnlyCompileError: compdebug injected a compile error into graphs containing 'where'" in script


def test_a_resume_keeps_the_failure_its_checkpoint_records(tmp_path, capsys):
    from compdebug.capture.checkpoint import write_checkpoint
    from compdebug.repro.target import ReproTarget

    # the checkpoint records a ValueError, but its graph (here, or after an upgrade) fails otherwise
    recorded = ReproTarget(kind="compile", backend=resolve_backend("compdebug_relu_compile_error"),
                           error_type="ValueError", error_message="something else")
    write_checkpoint(tmp_path / "checkpoint", torch.fx.symbolic_trace(sin_relu_cos), [torch.randn(8)], recorded, "dynamo")
    assert main(["minify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "captured failing while compiling: ValueError: something else" in err and "ReluCompileError" in err
    assert not (tmp_path / "repro.py").exists()
    with pytest.raises(ReluCompileError):
        recorded.backend.compile(torch.fx.symbolic_trace(sin_relu_cos), [torch.randn(8)])
