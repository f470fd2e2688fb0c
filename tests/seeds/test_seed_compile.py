"""Ports of torch's test/dynamo/test_compile.py (seed 004).

The compilation-callback checks run against compdebug.on_compile_start /
on_compile_end; the others check torch itself, with compdebug imported (its
compile hook in Dynamo), so that importing compdebug is shown to change none of
it: a compiled, saved and loaded model computes what the eager model computes.
tests/conftest.py resets Dynamo (and so the compile callbacks) around every test.
"""

from __future__ import annotations

import inspect
import io
import os
import tempfile
from unittest.mock import patch

import pytest
import torch
from torch._dynamo.testing import CompileCounter

import compdebug


class ToyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(10, 10)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        return self.relu(self.linear(x))


def eager(model, x):
    """What ToyModel computes, written out with its weights (no module call that compiling could touch)."""
    with torch.no_grad():
        return torch.relu(x @ model.linear.weight.T + model.linear.bias)


def assert_computes_eager(model, reference):
    """`model` (compiled, loaded, scripted) gives `reference`'s eager result on fresh inputs."""
    for _ in range(2):  # the first call compiles, the second runs the compiled code
        x = torch.randn(3, 10)
        torch.testing.assert_close(model(x), eager(reference, x))


@pytest.fixture(autouse=True)
def _compdebug_hook_is_in_dynamo():
    """The premise of these ports: compdebug's compile hook sits in Dynamo while torch runs."""
    from torch._dynamo import eval_frame

    assert getattr(eval_frame.get_compiler_fn, "_compdebug_compile_hook", False)


def test_compilation():
    model = ToyModel()
    cnt = CompileCounter()
    model.compile(backend=cnt)
    model(torch.randn(10, 10))
    assert cnt.frame_count == 1


def test_overwrite_call_impl():
    model = ToyModel()
    assert model._compiled_call_impl is None
    model.compile()
    assert model._compiled_call_impl is not None


def test_save():
    model = ToyModel()
    model.compile()
    assert_computes_eager(model, model)
    with tempfile.TemporaryDirectory() as tmpdirname:
        torch.save(model, os.path.join(tmpdirname, "model.pt"))
        # torch >= 2.6 loads weights only by default; a whole module needs weights_only=False
        loaded_model = torch.load(os.path.join(tmpdirname, "model.pt"), weights_only=False)
        assert_computes_eager(loaded_model, model)


def test_state_dict_save():
    model = ToyModel()
    model.compile()
    assert_computes_eager(model, model)
    with tempfile.TemporaryDirectory() as tmpdirname:
        torch.save(model.state_dict(), os.path.join(tmpdirname, "model.pt"))
        loaded_model = ToyModel()
        loaded_model.load_state_dict(torch.load(os.path.join(tmpdirname, "model.pt")))
        assert_computes_eager(loaded_model, model)


@pytest.mark.skipif(
    not (hasattr(torch.jit, "script") and hasattr(torch.jit, "save")),
    reason=f"torch {torch.__version__} has no TorchScript (torch.jit.script/save)",
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")
def test_jit_save():
    model = ToyModel()
    model.compile()
    assert_computes_eager(model, model)
    scripted_model = torch.jit.script(model)
    with tempfile.TemporaryDirectory() as tmpdirname:
        torch.jit.save(scripted_model, os.path.join(tmpdirname, "model.pt"))
        loaded_model = torch.jit.load(os.path.join(tmpdirname, "model.pt"))
        assert_computes_eager(loaded_model, model)


def test_compilation_callback():
    @compdebug.on_compile_start
    def start_callback():
        print("Compilation started.")

    @compdebug.on_compile_end
    def end_callback():
        print("Compilation ended.")

    mod = ToyModel()
    x = torch.randn(10, 10)
    with patch("sys.stdout", new_callable=io.StringIO) as mock_stdout:
        opt_mod = torch.compile(backend="eager", fullgraph=True)(mod)
        opt_mod(x)
        printed_output = mock_stdout.getvalue().strip()

    assert printed_output == "Compilation started.\nCompilation ended."


def test_compilation_callback_with_graph_break():
    counter = 0

    @compdebug.on_compile_start
    def start_callback():
        nonlocal counter
        counter += 1
        print(f"Counter = {counter}")

    @compdebug.on_compile_end
    def end_callback():
        nonlocal counter
        counter += 1
        print(f"Counter = {counter}")

    @torch.compile(backend="eager")
    def fn(x):
        x = x + 1
        torch._dynamo.graph_break()
        return torch.sin(x)

    x = torch.randn(10, 10)
    with patch("sys.stdout", new_callable=io.StringIO) as mock_stdout:
        fn(x)
        printed_output = mock_stdout.getvalue().strip()

    assert printed_output == "Counter = 1\nCounter = 2\nCounter = 3\nCounter = 4"


# The private variants of these functions are tested extensively (in torch), so
# as long as the public signatures match, all is well. Newer torch lets the
# private one add trailing parameters (torch 2.13: disable(..., wrapping=True)),
# as torch's own current version of this test does.
@pytest.mark.parametrize("fn_name", ["reset", "allow_in_graph", "list_backends", "assume_constant_result", "disable"])
def test_dynamo_signatures(fn_name):
    public_sig = inspect.signature(getattr(torch.compiler, fn_name))
    private_sig = inspect.signature(getattr(torch._dynamo, fn_name))
    public_params = list(public_sig.parameters.items())
    private_params = list(private_sig.parameters.items())
    matching = public_sig == private_sig or (
        len(public_params) < len(private_params) and public_params == private_params[: len(public_params)]
    )
    assert matching, f"Signatures do not match for function {fn_name}() \n Public: {public_sig} \n Private: {private_sig}"
