"""The compile hook: plain torch.compile follows compdebug's config, and changes nothing when none is set."""

from __future__ import annotations

import contextlib
import threading

import pytest
import torch
from torch._dynamo import eval_frame

import compdebug
from compdebug import config
from compdebug.backends.interpose import CompileHook, spec_for
from compdebug.backends.runtime_op import INJECTED_RUNTIME_ERROR
from compdebug.backends.testing import compdebug_relu_compile_error


def program(x):
    return torch.cos(torch.relu(torch.sin(x)) * 2)


class Recorder:
    """A user backend that records the graphs it is given and runs them eagerly."""

    def __init__(self):
        self.graphs = []
        self.__name__ = "recorder"

    def __call__(self, gm, example_inputs):
        self.graphs.append(gm)
        return gm.forward

    def targets(self):
        return [node.target for node in self.graphs[-1].graph.nodes]


def test_install_is_idempotent_and_wraps_torchs_wrapper_once():
    hooked = eval_frame.get_compiler_fn
    compdebug.backends.install()
    assert eval_frame.get_compiler_fn is hooked
    hook = eval_frame.get_compiler_fn("eager")
    assert isinstance(hook, CompileHook)
    assert type(hook._torch_wrapper).__name__ == "WrapBackendDebug"


def test_nothing_set_hands_dynamos_graph_to_the_backend_untouched():
    record = Recorder()
    hook = eval_frame.get_compiler_fn(record)
    gm = torch.fx.symbolic_trace(program)
    hook(gm, [torch.randn(4)])
    assert record.graphs == [gm]  # the very object: no copy, no pass


def test_injection_reaches_a_callable_backend_of_plain_torch_compile():
    record = Recorder()
    x = torch.randn(8)
    with config.patch({"inject.ops": {"relu": "runtime_error"}}):
        compiled = torch.compile(program, backend=record)
        with pytest.raises(compdebug.errors.InjectedRuntimeError):
            compiled(x)
    assert INJECTED_RUNTIME_ERROR in record.targets()
    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(program, backend=record)(x), program(x))
    assert INJECTED_RUNTIME_ERROR not in record.targets()


def test_injection_reaches_torch_dynamo_optimize_with_a_name():
    x = torch.randn(8)
    with config.patch({"inject.ops": {"sin": "accuracy"}}):
        out = torch._dynamo.optimize("compdebug_relu_accuracy_error")(program)(x)
    # both bugs: the backend's own relu + 1 and the injected sin + 1
    torch.testing.assert_close(out, torch.cos((torch.relu(torch.sin(x) + 1) + 1) * 2))


def test_capturing_backends_are_left_alone():
    # compdebug.wrap_backend marks its result; it applies injection and capture itself
    record = Recorder()
    record._compdebug_captures = True
    with config.patch({"inject.ops": {"relu": "runtime_error"}}):
        torch.compile(program, backend=record)(torch.randn(8))
    assert INJECTED_RUNTIME_ERROR not in record.targets()


def test_attributes_dynamo_reads_are_torchs():
    wrapper = torch._TorchCompileInductorWrapper(None, {"epilogue_fusion": False}, None)
    hook = eval_frame.get_compiler_fn(wrapper)
    assert hook.__name__ == "inductor"
    assert hook.get_compiler_config()["epilogue_fusion"] is False
    assert eval_frame.innermost_backend(hook) is wrapper
    assert hook.config == wrapper.config


def test_backend_context_of_the_backend_still_entered():
    entered = []

    @contextlib.contextmanager
    def context():
        entered.append(True)
        yield

    record = Recorder()
    record.backend_ctx_ctor = context
    torch._dynamo.optimize(record)(program)(torch.randn(4))
    assert entered


@pytest.mark.parametrize(
    ("backend", "name"),
    [
        (torch._TorchCompileInductorWrapper(None, None, None), "inductor"),  # torch.compile(fn)
        (torch._TorchCompileWrapper("aot_eager", None, None, None), "aot_eager"),  # backend="aot_eager"
        (torch._TorchCompileWrapper(compdebug_relu_compile_error, None, None, None), "compdebug_relu_compile_error"),
        ("eager", "eager"),  # torch._dynamo.optimize("eager")
    ],
)
def test_spec_names_the_backend_the_user_asked_for(backend, name):
    spec = spec_for(backend)
    assert spec.name == name and spec.nameable
    assert spec.backend_source() == repr(name)


def test_spec_of_an_unregistered_callable_is_that_callable():
    record = Recorder()
    spec = spec_for(torch._TorchCompileWrapper(record, None, None, None))
    assert spec.fn is record and spec.name is None


def test_spec_keeps_torch_compile_mode_and_options_as_inductor_settings():
    wrapper = torch._TorchCompileInductorWrapper("max-autotune-no-cudagraphs", {"epilogue_fusion": False}, None)
    with config.patch({"inject.ops": {"relu": "accuracy"}, "inject.stage": "codegen"}):
        spec = spec_for(wrapper)
    assert spec.inductor_settings["epilogue_fusion"] is False
    assert spec.inductor_settings["max_autotune"] is True
    assert spec.inductor_settings["cpp.inject_relu_bug_TESTING_ONLY"] == "accuracy"
    assert "torch._inductor.config.epilogue_fusion = False" in spec.script_setup()


def test_spec_records_the_injection_in_force():
    with config.patch({"inject.ops": {"sin": "runtime_error"}, "inject.stage": "aot"}):
        spec = spec_for(torch._TorchCompileInductorWrapper(None, None, None))
    assert dict(spec.inject_ops) == {"sin": "runtime_error"} and spec.inject_stage == "aot"
    assert spec.needs_compdebug


def test_torch_compile_options_still_apply_under_injection():
    # options= of torch.compile (here inductor's own relu bug) and compdebug's injected sin + 1 together
    x = torch.randn(16)
    compiled = torch.compile(program, options={"cpp.inject_relu_bug_TESTING_ONLY": "accuracy"})
    with config.patch({"inject.ops": {"sin": "accuracy"}}):
        out = compiled(x)
    torch.testing.assert_close(out, torch.cos((torch.sin(x) + 1 + 1) * 2))  # relu(y) became y + 1


# -- while compdebug compiles a graph itself, the hook stands aside (in that context only) --


def test_compiling_through_a_spec_leaves_global_config_alone_and_the_hook_aside():
    from compdebug.backends.interpose import hook_active
    from compdebug.backends.spec import resolve_backend

    seen = {}

    def backend(gm, example_inputs):
        seen["config"] = (config.repro_after, config.inject.ops)
        seen["hook here"] = hook_active()
        other = []  # another thread, say the user's, keeps the user's settings
        thread = threading.Thread(target=lambda: other.append(hook_active()))
        thread.start()
        thread.join()
        seen["hook in another thread"] = other[0]
        # a compile started from inside is not injected (cos would raise)
        seen["nested compile"] = torch.compile(lambda x: x.cos(), backend="eager")(torch.ones(2))
        return gm.forward

    gm = torch.fx.symbolic_trace(lambda x: x.sin())
    with config.patch({"inject.ops": {"cos": "compile_error"}}):
        spec = resolve_backend(backend)  # the boundary: the injection in force is read here
        compiled = spec.compile(gm, [torch.ones(2)])
    assert seen["config"] == (None, {"cos": "compile_error"})
    assert seen["hook here"] is False
    assert seen["hook in another thread"] is True
    torch.testing.assert_close(seen["nested compile"], torch.ones(2).cos())
    assert spec.inject_ops == {"cos": "compile_error"}
    torch.testing.assert_close(compiled(torch.ones(2)), torch.ones(2).sin())
