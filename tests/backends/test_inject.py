"""Bug injection under plain torch.compile: each kind at each stage, with eager, aot_eager and inductor.

Inductor compiles cost about a second each, so the inductor cases are few and
pick the combinations that reach different code (dynamo stage, aot stage with a
backward graph, inductor's own code-generation bugs).
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.backends.registry import lookup_backend
from torch._dynamo.exc import BackendCompilerFailed

import compdebug
from compdebug import config
from compdebug.backends.aot import compile_injected
from compdebug.errors import BackendError, CompdebugError, InjectedRuntimeError
from tests.conftest import requires_gpu

OP_OF_KIND_ERROR = {"relu": compdebug.ReluCompileError, "sin": compdebug.TestingOnlyCompileError}


def program(x):
    return torch.cos(torch.relu(torch.sin(x)) * 2)


def expected_with_plus_one(op, x):
    """program(x) with `op`'s result + 1."""
    y = torch.sin(x) + (op == "sin")
    return torch.cos((torch.relu(y) + (op == "relu")) * 2)


def compile_with(backend):
    return torch.compile(program) if backend == "inductor" else torch.compile(program, backend=backend)


def inner_error(error: BaseException) -> BaseException:
    """The error a backend raised, out of Dynamo's BackendCompilerFailed."""
    return getattr(error, "inner_exception", error)


def check_kind(kind, op, run, x):
    if kind == "compile_error":
        with pytest.raises(BackendCompilerFailed) as caught:
            run()
        assert type(inner_error(caught.value)) is OP_OF_KIND_ERROR[op]
        assert repr(op) in str(caught.value)
    elif kind == "runtime_error":
        name = op.capitalize() + "RuntimeError"
        with pytest.raises(InjectedRuntimeError, match=name):
            run()
    else:
        torch.testing.assert_close(run(), expected_with_plus_one(op, x))


# eager has no graphs after AOT Autograd: see test_aot_stage_needs_an_aot_backend
BACKEND_STAGES = [("eager", "dynamo"), ("aot_eager", "dynamo"), ("aot_eager", "aot")]


@pytest.mark.parametrize("op", ["relu", "sin"])
@pytest.mark.parametrize("kind", ["compile_error", "runtime_error", "accuracy"])
@pytest.mark.parametrize(("backend", "stage"), BACKEND_STAGES)
def test_kind_at_stage(backend, stage, kind, op):
    x = torch.randn(16)
    compiled = compile_with(backend)  # created outside the patch: compiled lazily, at the first call
    with config.patch({"inject.ops": {op: kind}, "inject.stage": stage}):
        check_kind(kind, op, lambda: compiled(x), x)


@pytest.mark.parametrize(
    ("stage", "kind"),
    [("dynamo", "compile_error"), ("dynamo", "runtime_error"), ("aot", "compile_error"), ("aot", "accuracy")],
)
def test_kind_at_stage_with_default_inductor(stage, kind):
    x = torch.randn(16)
    with config.patch({"inject.ops": {"relu": kind}, "inject.stage": stage}):
        check_kind(kind, "relu", lambda: torch.compile(program)(x), x)


def test_config_restored_after_patch():
    x = torch.randn(16)
    with config.patch({"inject.ops": {"relu": "runtime_error"}}):
        with pytest.raises(InjectedRuntimeError):
            torch.compile(program, backend="aot_eager")(x)
    assert config.inject.ops == {}
    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(program, backend="aot_eager")(x), program(x))


def test_several_ops_at_once_never_feed_on_each_other():
    # the +1 of relu is an add; an injected runtime error at "add" must not land on it
    x = torch.randn(16)
    with config.patch({"inject.ops": {"relu": "accuracy", "add": "runtime_error"}}):
        torch.testing.assert_close(torch.compile(program, backend="eager")(x), expected_with_plus_one("relu", x))


def training_step(compiled_loss, w):
    loss = compiled_loss(torch.randn(8))
    loss.backward()
    return w.grad


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_aot_stage_reaches_the_backward_graph(backend):
    # d/dx sin = cos: "cos" is in the backward graph only
    w = torch.randn(8, requires_grad=True)

    def loss_fn(x):
        return torch.sin(x * w).sum()

    with config.patch({"inject.ops": {"cos": "runtime_error"}, "inject.stage": "aot"}):
        loss = compile_with_backend(loss_fn, backend)(torch.randn(8))  # forward fine
        with pytest.raises(InjectedRuntimeError, match="CosRuntimeError"):
            loss.backward()


def compile_with_backend(fn, backend):
    return torch.compile(fn) if backend == "inductor" else torch.compile(fn, backend=backend)


def test_aot_accuracy_bug_in_backward_changes_gradients():
    w = torch.randn(8, requires_grad=True)
    x = torch.randn(8)

    def loss_fn(x):
        return torch.sin(x * w).sum()

    with config.patch({"inject.ops": {"cos": "accuracy"}, "inject.stage": "aot"}):
        torch.compile(loss_fn, backend="aot_eager")(x).backward()
    torch.testing.assert_close(w.grad, (torch.cos(x * w) + 1) * x)


def test_wrap_inner_sees_every_post_aot_graph_before_injection():
    # what after-AOT capture relies on: forward and backward graphs, as AOT Autograd made them
    seen = []

    def recording(inner, role):
        def compile_recorded(gm, example_inputs, *args, **kwargs):
            seen.append({str(node.target) for node in gm.graph.nodes})
            return inner(gm, example_inputs, *args, **kwargs)

        return compile_recorded

    inductor = lookup_backend("inductor")

    def backend(gm, example_inputs):
        return compile_injected(inductor, gm, example_inputs, {"cos": "runtime_error"}, "aot", wrap_inner=recording)

    w = torch.randn(8, requires_grad=True)
    loss = torch.compile(lambda x: torch.sin(x * w).sum(), backend=backend)(torch.randn(8))
    with pytest.raises(InjectedRuntimeError, match="CosRuntimeError"):
        loss.backward()
    forward, backward = seen
    assert "aten.sin.default" in forward and "aten.cos.default" in backward
    assert not any("compdebug" in target for target in forward | backward)


def test_aot_stage_is_not_skipped_by_aot_autograd_cache():
    # AOTAutogradCache would serve the plain compile's result and skip the injection
    x = torch.randn(16, requires_grad=True)
    torch.compile(program)(x)
    torch._dynamo.reset()
    with config.patch({"inject.ops": {"relu": "runtime_error"}, "inject.stage": "aot"}):
        with pytest.raises(InjectedRuntimeError, match="ReluRuntimeError"):
            torch.compile(program)(x)
    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(program)(x), program(x))  # and nothing injected was cached


def test_aot_stage_needs_an_aot_backend():
    with config.patch({"inject.ops": {"relu": "accuracy"}, "inject.stage": "aot"}):
        with pytest.raises(BackendCompilerFailed) as caught:
            torch.compile(program, backend="eager")(torch.randn(4))
    error = inner_error(caught.value)
    assert isinstance(error, BackendError) and "'inductor', 'aot_eager'" in str(error)


def test_codegen_compile_error_is_a_real_cpp_compile_error():
    from torch._inductor.exc import CppCompileError

    with config.patch({"inject.ops": {"relu": "compile_error"}, "inject.stage": "codegen"}):
        with pytest.raises(Exception) as caught:
            torch.compile(program)(torch.randn(16))
    chain = error_chain(caught.value)
    assert any(isinstance(error, CppCompileError) for error in chain), chain
    assert "CppCompileError" in str(caught.value)


def error_chain(error):
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = getattr(error, "inner_exception", None) or error.__cause__ or error.__context__
    return chain


def test_codegen_accuracy_bugs_of_relu_and_log1p():
    # inductor's C++ code generation computes x + 1 in place of relu(x) and log1p(x)
    def relu_log1p(x):
        return torch.relu(torch.sin(x)), torch.log1p(torch.cos(x).abs())

    x = torch.randn(16)
    with config.patch({"inject.ops": {"relu": "accuracy", "log1p": "accuracy"}, "inject.stage": "codegen"}):
        relu, log1p = torch.compile(relu_log1p)(x)
    torch.testing.assert_close(relu, torch.sin(x) + 1)
    torch.testing.assert_close(log1p, torch.cos(x).abs() + 1)


def test_codegen_runtime_error_throws_from_the_kernel():
    with config.patch({"inject.ops": {"relu": "runtime_error"}, "inject.stage": "codegen"}):
        with pytest.raises(RuntimeError):
            torch.compile(program)(torch.randn(16))


def test_codegen_stage_needs_inductor():
    with config.patch({"inject.ops": {"relu": "accuracy"}, "inject.stage": "codegen"}):
        with pytest.raises(BackendCompilerFailed) as caught:
            torch.compile(program, backend="aot_eager")(torch.randn(4))
    assert isinstance(inner_error(caught.value), BackendError)
    assert "inject.stage='codegen'" in str(caught.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"inject.ops": {"sin": "accuracy"}, "inject.stage": "codegen"},  # inductor has no sin bug
        {"inject.ops": {"log1p": "compile_error"}, "inject.stage": "codegen"},  # log1p: accuracy only
        {"inject.ops": {"relu": "wrong_answer"}},
        {"inject.stage": "inductor"},
    ],
)
def test_unsupported_combinations_are_refused_at_patch_time(changes):
    with pytest.raises(CompdebugError):
        config.patch(changes)


def test_bad_op_name_is_refused_when_patched():
    with pytest.raises(CompdebugError, match="bare name"):
        config.patch({"inject.ops": {"torch.relu": "accuracy"}})
    assert config.inject.ops == {}


def test_bad_op_name_is_refused_at_compile_time_by_compile_injected():
    gm = torch.fx.symbolic_trace(program)
    with pytest.raises(CompdebugError, match="bare op names"):
        compile_injected(lambda gm, inputs: gm.forward, gm, [torch.randn(4)], {"torch.relu": "accuracy"}, "dynamo")


def test_compile_injected_without_bugs_is_the_compiler_itself():
    calls = []

    def compiler(gm, example_inputs):
        calls.append(gm)
        return gm.forward

    gm = torch.fx.symbolic_trace(program)
    assert compile_injected(compiler, gm, [torch.randn(4)], {}, "dynamo").__self__ is gm
    assert calls == [gm]


def test_injection_leaves_the_given_graph_alone():
    gm = torch.fx.symbolic_trace(program)
    before = str(gm.graph)
    compiled = compile_injected(lookup_backend("eager"), gm, [torch.randn(4)], {"relu": "runtime_error"}, "dynamo")
    assert str(gm.graph) == before
    with pytest.raises(InjectedRuntimeError):
        compiled(torch.randn(4))


@pytest.mark.gpu
@requires_gpu
@pytest.mark.parametrize(("stage", "kind"), [("dynamo", "runtime_error"), ("aot", "accuracy")])
def test_injection_with_inductor_on_gpu(stage, kind):
    x = torch.randn(16, device="cuda")
    with config.patch({"inject.ops": {"relu": kind}, "inject.stage": stage}):
        check_kind(kind, "relu", lambda: torch.compile(program)(x), x)


@pytest.mark.gpu
@requires_gpu
def test_codegen_accuracy_bug_in_triton():
    x = torch.randn(16, device="cuda")
    with config.patch({"inject.ops": {"relu": "accuracy"}, "inject.stage": "codegen"}):
        out = torch.compile(lambda x: torch.relu(torch.sin(x)))(x)
    torch.testing.assert_close(out, torch.sin(x) + 1)
