"""compdebug.bisect on the kinds of failure torch's own CompilerBisector tests use, and against it."""

from __future__ import annotations

import pytest
import torch

import compdebug
from compdebug import _torch
from compdebug.backends.spec import resolve_backend
from compdebug.bisect.search import first_failing, first_of_kind, first_true
from compdebug.errors import BadInputError, GraphDoesNotFailError
from tests.bisect.programs import PROGRAMS, captured, our_bisect, torch_bisect
from tests.conftest import requires_gpu


def test_bad_decomposition_is_found_in_aot_eager_decomp_partition_without_inductor(monkeypatch):
    compiles = []
    import torch._inductor.compile_fx as compile_fx

    real = compile_fx.compile_fx
    monkeypatch.setattr(compile_fx, "compile_fx", lambda *a, **k: compiles.append(a) or real(*a, **k))
    result = our_bisect(PROGRAMS["bad_decomposition"])
    assert (result.backend, result.subsystem) == ("aot_eager_decomp_partition", "decomposition")
    assert "aten.hardswish" in result.detail
    assert result.passed == ("eager", "aot_eager")
    assert compiles == []  # an accuracy failure needs no Inductor compile to be found in an earlier backend


def test_a_decomposition_that_raises_is_found_by_its_error():
    result = our_bisect(PROGRAMS["bad_decomposition_error"])
    assert (result.backend, result.subsystem) == ("aot_eager_decomp_partition", "decomposition")
    assert "aten.hardswish" in result.detail
    assert "TestingOnlyCompileError" in result.failure


def test_bad_relu_lowering_is_the_third_lowering():
    result = our_bisect(PROGRAMS["bad_lowering"])  # ((x * -1) - 0.01).relu(): mul, sub, relu
    assert (result.backend, result.subsystem, result.application, result.detail) == ("inductor", "lowerings", 3, "relu")
    assert result.applications == 3
    text = str(result)
    assert "first failing backend: inductor" in text and "lowerings, application 3 of 3" in text and "relu" in text


@pytest.mark.parametrize("name", ["eager", "aot_eager"])
def test_a_failure_before_the_compiler_names_the_first_backend(name):
    result = our_bisect(PROGRAMS[name])
    assert (result.backend, result.subsystem, result.application) == (name, None, None)


def test_a_config_change_is_named_as_torch_names_it():
    result = our_bisect(PROGRAMS["fallback_random"])
    assert (result.backend, result.subsystem, result.application) == ("inductor", "inductor_fallback_random", None)
    assert result.detail == "torch._inductor.config.fallback_random = True"


def test_torchs_bisect_hooks_are_given_back_and_caches_bypassed_only_while_bisecting():
    from torch._inductor.compiler_bisector import CompilerBisector

    before = CompilerBisector.__dict__["disable_subsystem"], CompilerBisector.bisection_enabled
    with pytest.raises(KeyboardInterrupt):
        with _torch.bisect_hook(lambda *args: True):
            assert CompilerBisector.bisection_enabled  # FX graph cache and AOTAutogradCache bypass
            assert CompilerBisector.disable_subsystem("inductor", "lowerings", None) is True
            raise KeyboardInterrupt
    assert (CompilerBisector.__dict__["disable_subsystem"], CompilerBisector.bisection_enabled) == before
    assert CompilerBisector.disable_subsystem("inductor", "lowerings") is False


def test_a_graph_that_does_not_fail_is_refused():
    gm, inputs = captured(lambda x: x.sin() * 2, [torch.randn(8)])
    with pytest.raises(GraphDoesNotFailError, match="does not fail"):
        compdebug.bisect(gm, inputs, compdebug.AccuracyFailure("inductor"))


def test_a_predicate_cannot_be_bisected():
    gm, inputs = captured(lambda x: x.sin() * 2, [torch.randn(8)])
    with pytest.raises(BadInputError, match="CompileFailure"):
        compdebug.bisect(gm, inputs, lambda gm, inputs: True)


def test_a_bug_in_the_backend_itself_names_no_backend_of_the_list():
    gm, inputs = captured(lambda x: torch.relu(x) + 1, [torch.randn(8)])
    result = compdebug.bisect(gm, inputs, compdebug.CompileFailure("compdebug_relu_compile_error"))
    assert result.backend is None and result.subsystem is None
    assert result.passed == ("eager", "aot_eager", "aot_eager_decomp_partition",
                             "aot_eager_decomp_partition_crossref", "inductor")
    assert "compdebug_relu_compile_error" in str(result) and "ReluCompileError" in str(result)


# -- the searches, on plain functions --------------------------------------------------
@pytest.mark.parametrize("likely", [[], [1, 4, 9, 16], [2, 3, 5, 7, 11, 13]])
def test_first_failing_finds_every_answer_without_asking_twice(likely):
    for n in range(1, 20):
        for answer in range(1, n + 1):
            asked = []
            found, _ = first_failing(lambda k: asked.append(k) or k >= answer, n, likely)
            assert found == answer
            assert len(asked) == len(set(asked))


def test_a_good_guess_costs_fewer_queries_than_bisection():
    asked = []
    # 112 lowerings, 20 kinds of op, the bad one first made at 43 (GPT-2 with relu)
    likely = [1, 2, 3, 4, 7, 9, 10, 11, 14, 15, 17, 19, 26, 27, 30, 38, 43, 58, 70, 90]
    assert first_failing(lambda k: asked.append(k) or k >= 43, 112, likely) == (43, True)
    assert len(asked) <= 6  # plain bisection of 112 asks 7


def test_first_true_asks_about_the_heaviest_candidate_first():
    asked = []
    weights = [3, 4, 15, 1, 1, 1, 1, 112]  # pre-grad, joint, post-grad passes, 4 settings, lowerings
    assert first_true(lambda j: asked.append(j) or j >= 7, weights) == (7, False)  # left for the caller to confirm
    assert asked == [6]
    for answer in range(8):
        assert first_true(lambda j: j >= answer, weights)[0] == answer


def test_first_of_kind_marks_where_each_op_is_first_applied():
    assert first_of_kind(["mul", "sub", "relu", "mul_1", "relu_1", None, "aten.exp.default"]) == [1, 2, 3, 7]


# -- side by side with torch's CompilerBisector -------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_same_answer_as_torchs_compiler_bisector(name):
    theirs = torch_bisect(PROGRAMS[name])
    ours = our_bisect(PROGRAMS[name])
    assert (ours.backend, ours.subsystem) == (theirs.backend, theirs.subsystem)
    if ours.application is not None:  # a subsystem applied many times: torch counts from 0
        assert ours.application == theirs.bisect_number + 1
        assert ours.detail == theirs.debug_info


@pytest.mark.gpu
@requires_gpu
def test_cudagraphs_at_fault_on_the_gpu(monkeypatch):
    import attrs
    import torch._inductor.compile_fx as compile_fx

    real = compile_fx.cudagraphify

    def wrong_cudagraphify(*args, **kwargs):  # a cudagraph wrapping that returns wrong values
        run = real(*args, **kwargs)
        return lambda inputs: [out + 1 for out in run(inputs)]

    monkeypatch.setattr(compile_fx, "cudagraphify", wrong_cudagraphify)
    gm, inputs = captured(lambda x: (x.sin() + 1) * 2, [torch.randn(64, device="cuda")])
    spec = attrs.evolve(resolve_backend("inductor"), inductor_settings={"triton.cudagraphs": True})
    result = compdebug.bisect(gm, inputs, compdebug.AccuracyFailure(spec))
    assert (result.backend, result.subsystem, result.application) == ("inductor", "cudagraphs", 1)
