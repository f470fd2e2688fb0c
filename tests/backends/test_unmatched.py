"""A patch of inject.ops that plants nothing says so when it ends (UnmatchedInjectionWarning)."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from functorch.compile import make_boxed_func
from torch._decomp import core_aten_decompositions
from torch._dynamo.backends.common import aot_autograd

import compdebug
from compdebug import config
from compdebug.errors import UnmatchedInjectionWarning


def program(x):
    return torch.cos(torch.relu(torch.sin(x)) * 2)


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


def training_step(model, backend):
    torch.compile(model, backend=backend)(torch.randn(3, 4)).sum().backward()


def nop(gm, example_inputs):
    return make_boxed_func(gm.forward)


# AOT Autograd with core ATen decompositions: relu's backward (threshold_backward)
# becomes le + where, as under inductor, without a C++ compile
decomposing = aot_autograd(fw_compiler=nop, bw_compiler=nop, decompositions=core_aten_decompositions())


def unmatched(record):
    return [str(w.message) for w in record if issubclass(w.category, UnmatchedInjectionWarning)]


def test_a_backward_op_decomposed_away_is_named_with_the_ops_it_became():
    model = mlp()
    with pytest.warns(UnmatchedInjectionWarning) as record:
        with config.patch({"inject.ops": {"threshold_backward": "compile_error"}, "inject.stage": "aot"}):
            training_step(model, decomposing)  # runs: no graph holds threshold_backward, no bug planted
    (message,) = unmatched(record)
    assert "'threshold_backward' (compile_error at stage 'aot')" in message
    assert "no graph compiled while the patch was active contained it" in message
    related = message.split("look related:")[1]
    assert "le" in related and "where" in related
    assert "in backward graphs, made by decomposing threshold_backward" in related
    assert record[0].filename == __file__  # points at the user's `with`, not at compdebug


@pytest.mark.slow
def test_the_same_under_inductor():
    model = mlp()
    with pytest.warns(UnmatchedInjectionWarning, match=r"threshold_backward.*look related: .*\ble\b.*backward graphs"):
        with config.patch({"inject.ops": {"threshold_backward": "compile_error"}, "inject.stage": "aot"}):
            training_step(model, "inductor")


def test_a_dynamo_graph_op_with_a_similar_name_is_named():
    with pytest.warns(UnmatchedInjectionWarning, match=r"'gelu' .*look related: relu \(in Dynamo graphs\)"):
        with config.patch("inject.ops", {"gelu": "accuracy"}):
            torch.compile(program, backend="eager")(torch.randn(4))


def test_without_related_ops_the_graphs_ops_are_listed():
    with pytest.warns(UnmatchedInjectionWarning, match=r"'exp' .*Those graphs held: cos, mul, relu, sin\."):
        with config.patch("inject.ops", {"exp": "accuracy"}):
            torch.compile(program, backend="eager")(torch.randn(4))


def test_code_compiled_before_the_patch_is_pointed_out():
    compiled = torch.compile(program, backend="eager")
    compiled(torch.randn(4))
    with pytest.warns(UnmatchedInjectionWarning, match="no graph was compiled while the patch was active.*reset"):
        with config.patch("inject.ops", {"relu": "accuracy"}):
            compiled(torch.randn(4))  # cached code: no compile, no bug


def test_an_op_that_matched_gives_no_warning():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with config.patch({"inject.ops": {"relu": "accuracy", "sin": "runtime_error"}}):
            with config.patch("inject.ops", {"relu": "accuracy"}):  # sin is seen while the inner patch is active
                torch.compile(program, backend="eager")(torch.randn(4))
    assert unmatched(record) == []


def test_only_the_op_that_never_matched_is_named():
    with pytest.warns(UnmatchedInjectionWarning) as record:
        with config.patch("inject.ops", {"relu": "accuracy", "tanh": "accuracy"}):
            torch.compile(program, backend="eager")(torch.randn(4))
    (message,) = unmatched(record)
    assert "'tanh'" in message and "'relu'" not in message.split("but")[0]


def test_a_patch_ended_by_an_error_before_any_compile_says_so_and_keeps_the_error():
    with pytest.warns(UnmatchedInjectionWarning, match="before the patch ended with ZeroDivisionError"):
        with pytest.raises(ZeroDivisionError):
            with config.patch("inject.ops", {"relu": "compile_error"}):
                1 / 0


def test_a_decorated_function_is_watched_per_call(caplog):
    @config.patch("inject.ops", {"exp": "accuracy"})
    def run():
        torch.compile(program, backend="eager")(torch.randn(4))

    with caplog.at_level(logging.INFO, logger="compdebug"):
        with pytest.warns(UnmatchedInjectionWarning, match="'exp'"):
            run()
    assert any("'exp'" in r.getMessage() and r.name.startswith("compdebug") for r in caplog.records)


def test_codegen_bugs_are_inductors_and_not_watched():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with config.patch({"inject.ops": {"relu": "compile_error"}, "inject.stage": "codegen"}):
            pass
    assert unmatched(record) == []


def test_the_warning_is_a_compdebug_warning():
    assert issubclass(UnmatchedInjectionWarning, compdebug.errors.CompdebugWarning)
    assert issubclass(UnmatchedInjectionWarning, UserWarning)


def test_a_warning_turned_error_does_not_replace_the_bodys_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnmatchedInjectionWarning)
        with pytest.raises(ZeroDivisionError):
            with config.patch("inject.ops", {"relu": "compile_error"}):
                1 / 0
        with pytest.raises(UnmatchedInjectionWarning):  # with nothing else going wrong, it is raised
            with config.patch("inject.ops", {"relu": "compile_error"}):
                pass
