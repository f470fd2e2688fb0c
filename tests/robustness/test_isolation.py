"""Queries in a child process: real segfaults, aborts, kills, hangs and memory limits do not end the minifier."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import torch
import torch.fx as fx

import compdebug
from compdebug.minify.isolate import IsolatedExecutor
from tests.minify.support import targets
from tests.robustness import faults

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and resource limits")


def sin_relu_cos(x):
    return torch.cos(torch.relu(torch.sin(x) + 1))


def graph():
    return fx.symbolic_trace(sin_relu_cos), [torch.randn(8)]


def run_repro(path, env):
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=120)


def test_a_segfaulting_compiler_is_minified_as_the_crash_it_is(untouched, tmp_path, child_env):
    gm, inputs = graph()
    failure = compdebug.CompileFailure(faults.segfault_at_relu)
    result = compdebug.Minifier(gm, inputs, failure, isolate=True, progress=False).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.kind == "crash" and result.target.error_type == "crash: SIGSEGV"
    assert result.random_inputs  # a compile-time crash does not depend on values
    script = result.save(tmp_path / "repro")
    assert "kills the process (crash: SIGSEGV)" in script.read_text()
    done = run_repro(script, child_env)
    assert done.returncode == -signal.SIGSEGV, done.stderr[-2000:]
    assert "Segmentation fault" in done.stderr and "segfault_at_relu" in done.stderr  # faulthandler says where


def test_each_way_a_worker_dies_is_its_own_signature_and_the_next_query_goes_on(untouched):
    gm, inputs = graph()
    plain = fx.symbolic_trace(lambda x: torch.sin(x).cos())
    executor = IsolatedExecutor(timeout=2.0)
    try:
        seen = {
            name: executor.evaluate(compdebug.CompileFailure(backend), gm, inputs)
            for name, backend in [
                ("abort", faults.abort_at_relu),
                ("kill", faults.killed_at_relu),  # as the kernel's out-of-memory killer does
                ("hang", faults.hang_at_relu),
            ]
        }
        healthy = executor.evaluate(compdebug.CompileFailure(faults.segfault_at_relu), plain, inputs)
    finally:
        executor.close()
    assert (seen["abort"].stage, seen["abort"].error_type) == ("crash", "crash: SIGABRT")
    assert (seen["kill"].stage, seen["kill"].error_type) == ("crash", "crash: SIGKILL")
    assert (seen["hang"].stage, seen["hang"].error_type) == ("timeout", "timeout")
    assert "no answer within 2 s" in seen["hang"].describe()
    assert healthy is None  # a fresh worker answered


def test_allocating_past_a_memory_limit_is_an_ordinary_failure_and_the_limit_is_put_back(untouched, tmp_path, child_env):
    gm, inputs = graph()
    failure = compdebug.CompileFailure(faults.out_of_memory_at_relu)
    result = compdebug.Minifier(gm, inputs, failure, isolate=True, progress=False).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.kind == "compile" and result.target.error_type == "RuntimeError"
    assert "can't allocate memory" in result.target.error_message
    done = run_repro(result.save(tmp_path / "repro"), child_env)
    assert done.returncode != 0 and "can't allocate memory" in done.stderr


def test_a_hang_is_minified_as_a_timeout_and_its_repro_ends(untouched, tmp_path, child_env):
    gm, inputs = graph()
    failure = compdebug.CompileFailure(faults.hang_at_relu)
    result = compdebug.Minifier(gm, inputs, failure, isolate=True, query_timeout=1.0, progress=False).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.kind == "timeout" and result.target.timeout_s == 1.0
    done = run_repro(result.save(tmp_path / "repro"), child_env)
    assert done.returncode != 0  # faulthandler ends the hung script
    assert "hang_at_relu" in done.stderr  # and shows where it hung


def sin_cos_relu_exp(x):
    return torch.exp(torch.relu(torch.cos(torch.sin(x))))


def test_a_candidate_that_crashes_fails_differently_and_is_not_taken(untouched, logs):
    gm, inputs = fx.symbolic_trace(sin_cos_relu_exp), [torch.randn(8)]
    failure = compdebug.CompileFailure(faults.relu_error_cos_segfault)  # the original raises ReluCompileError
    result = compdebug.Minifier(gm, inputs, failure, isolate=True, progress=False).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.kind == "compile" and result.target.error_type == "ReluCompileError"
    assert any("killed by SIGSEGV" in m and "not taken" in m for m in logs.messages())


def test_a_hang_in_process_is_stopped_by_the_query_timeout(untouched):
    gm, inputs = graph()
    failure = compdebug.CompileFailure(faults.hang_at_relu)
    previous = signal.getsignal(signal.SIGALRM)
    result = compdebug.Minifier(gm, inputs, failure, query_timeout=0.3, progress=False).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.kind == "timeout"
    assert signal.getsignal(signal.SIGALRM) is previous and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_query_timeout_comes_from_config(untouched):
    gm, inputs = graph()
    with compdebug.config.patch("minifier.query_timeout", 0.3):
        result = compdebug.Minifier(gm, inputs, compdebug.CompileFailure(faults.hang_at_relu), progress=False).minify()
    assert result.target.kind == "timeout" and result.target.timeout_s == 0.3


def test_a_failure_check_a_child_cannot_receive_is_refused_at_once(untouched):
    gm, inputs = graph()
    with pytest.raises(compdebug.CompdebugError, match="module level") as info:
        compdebug.Minifier(gm, inputs, lambda g, i: True, isolate=True)
    assert "isolate" in str(info.value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_isolated_queries_on_cuda_inputs(untouched):
    gm = fx.symbolic_trace(sin_relu_cos)
    inputs = [torch.randn(8, device="cuda")]
    failure = compdebug.RuntimeFailure("compdebug_relu_runtime_error")
    result = compdebug.Minifier(gm, inputs, failure, isolate=True, progress=False).minify()
    assert targets(result.graph_module) == ["relu"]
    assert result.target.kind == "runtime" and result.inputs[0].device.type == "cuda"
    executor = IsolatedExecutor(timeout=60)
    try:
        crashed = executor.evaluate(compdebug.CompileFailure(faults.segfault_at_relu), gm, inputs)
    finally:
        executor.close()
    assert crashed.error_type == "crash: SIGSEGV"
