"""Oracles: how a graph fails, the signature kept, and the ReproTarget each one describes."""

from __future__ import annotations

import pytest
import torch
import torch.fx as fx

import compdebug
from compdebug.errors import BadInputError
from compdebug.minify.oracles import PredicateFailure, Signature, as_oracle, normalize_message
from tests.minify.support import relu_compile_fails


def test_normalize_message_drops_what_varies_between_runs():
    a = "Error in buf12 at 0x7f3a2b1c (/tmp/tmpab12cd/kernel_3.cpp:45): expected torch.Size([20, 20])"
    b = "Error in buf7 at 0x55d0e0f1 (/tmp/tmpzz99yy/kernel_9.cpp:12): expected torch.Size([3, 4])"
    assert normalize_message(a) == normalize_message(b)
    assert "<address>" in normalize_message(a) and "<path>" in normalize_message(a)
    assert normalize_message("relu   is  not\tsupported  ") == "relu is not supported"
    assert normalize_message("x / y and/or z") == "x / y and/or z"


def test_signature_compares_stage_type_and_first_line():
    one = Signature.of_error("compile", ValueError("bad op in node x_3\ndetails 1"))
    two = Signature.of_error("compile", ValueError("bad op in node x_17\nother details"))
    assert one == two
    assert one != Signature.of_error("runtime", ValueError("bad op in node x_3"))
    assert one != Signature.of_error("compile", TypeError("bad op in node x_3"))
    assert one != Signature.of_error("compile", ValueError("another problem"))
    assert one.error_name == "ValueError" and one.error_type == "builtins.ValueError"


def _graph():
    return fx.symbolic_trace(lambda x: torch.relu(x).sin()), [torch.randn(3)]


def test_compile_failure_observes_and_describes_the_error():
    gm, inputs = _graph()
    failure = compdebug.CompileFailure("compdebug_relu_compile_error")
    seen = failure.observe(gm, inputs)
    assert seen.stage == "compile" and seen.error_name == "ReluCompileError"
    target = failure.repro_target(seen)
    assert (target.kind, target.error_type) == ("compile", "ReluCompileError")
    assert target.backend.name == "compdebug_relu_compile_error"
    assert failure.observe(fx.symbolic_trace(lambda x: x.sin()), inputs) is None


def test_backend_records_the_bug_injection_in_force_when_built():
    with compdebug.config.patch({"inject.ops": {"sin": "compile_error"}}):
        failure = compdebug.CompileFailure("eager")
    assert dict(failure.backend.inject_ops) == {"sin": "compile_error"}
    gm, inputs = _graph()
    assert failure.observe(gm, inputs).stage == "compile"  # the injection outlives the patch


def test_runtime_failure_tells_compile_errors_apart():
    gm, inputs = _graph()
    assert compdebug.RuntimeFailure("compdebug_relu_runtime_error").observe(gm, inputs).stage == "runtime"
    assert compdebug.RuntimeFailure("compdebug_relu_compile_error").observe(gm, inputs).stage == "compile"


def test_accuracy_failure_observes_wrong_values_only():
    gm, inputs = _graph()
    failure = compdebug.AccuracyFailure("compdebug_relu_accuracy_error", tolerance=1e-4)
    seen = failure.observe(gm, inputs)
    assert seen == Signature("accuracy")
    target = failure.repro_target(seen)
    assert (target.kind, target.tolerance, target.error_type) == ("accuracy", 1e-4, "AccuracyError")
    assert compdebug.AccuracyFailure("compdebug_relu_runtime_error").observe(gm, inputs).stage == "runtime"
    with pytest.raises(BadInputError, match="tolerance"):
        compdebug.AccuracyFailure("eager", tolerance=0)
    with pytest.raises(BadInputError, match="strict"):
        compdebug.AccuracyFailure("eager", strict="yes")


def raising_predicate(gm, inputs):
    raise RuntimeError("the predicate itself broke")


def test_predicates_are_wrapped_and_their_exceptions_are_a_different_failure():
    gm, inputs = _graph()
    oracle = as_oracle(relu_compile_fails)
    assert isinstance(oracle, PredicateFailure)
    assert oracle.observe(gm, inputs) == Signature("predicate")
    assert oracle.repro_target(Signature("predicate")).predicate_path == "tests.minify.support:relu_compile_fails"
    assert as_oracle(lambda g, i: True).repro_target(Signature("predicate")).predicate_path is None
    assert as_oracle(raising_predicate).observe(gm, inputs).stage == "predicate_error"
