"""repro.py scripts, run in a fresh Python: they fail the way the original graph failed."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import attrs
import pytest
import torch
import torch.fx
from functorch.compile import aot_function

from compdebug.backends.aot import InnerCall
from compdebug.backends.spec import BackendSpec, resolve_backend
from compdebug.errors import BackendError, ReproError
from compdebug.repro import ReproTarget, save, script_text
from compdebug.repro.script import TENSORS_FILE
from tests.conftest import requires_gpu
from tests.repro import helpers

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def no_compdebug(tmp_path_factory) -> pathlib.Path:
    """A directory whose `compdebug` package refuses to import: put it first on PYTHONPATH."""
    root = tmp_path_factory.mktemp("poison")
    (root / "compdebug").mkdir()
    (root / "compdebug" / "__init__.py").write_text(
        "raise ImportError('this repro script must run without compdebug')\n"
    )
    return root


def run(script: pathlib.Path, *, without: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `script` as a user would: its own directory as cwd, tests.repro.helpers importable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([*([str(without)] if without else []), str(REPO)])
    return subprocess.run(
        [sys.executable, str(script)], cwd=script.parent, env=env, capture_output=True, text=True, timeout=600
    )


def target(kind: str, backend, **kwargs) -> ReproTarget:
    return ReproTarget(kind=kind, backend=resolve_backend(backend), **kwargs)


def scale_graph() -> torch.fx.GraphModule:
    """relu(x) * n with an int input n."""
    graph = torch.fx.Graph()
    x, n = graph.placeholder("x"), graph.placeholder("n")
    relu = graph.call_function(torch.relu, (x,))
    graph.output((graph.call_function(torch.mul, (relu, n)),))
    return torch.fx.GraphModule(torch.nn.Module(), graph)


def test_compile_error_with_compdebug_backend(tmp_path):
    failing = target("compile", "compdebug_relu_compile_error")
    path = save(tmp_path, helpers.relu_graph(), [torch.randn(20, 20)], failing, random_inputs=True)
    text = path.read_text()
    assert "import compdebug" in text and "torch.compile(mod, backend='compdebug_relu_compile_error'" in text
    done = run(path)
    assert done.returncode != 0 and "ReluCompileError" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repro.py"]  # random inputs: no tensor file


def test_runtime_error_with_real_values_and_an_int_input(tmp_path):
    path = save(tmp_path, scale_graph(), [torch.randn(4, 3), 3], target("runtime", "compdebug_relu_runtime_error"),
                random_inputs=False)
    assert (tmp_path / TENSORS_FILE).exists()
    assert "load_tensors(pathlib.Path(__file__).parent" in path.read_text()
    done = run(path)
    assert done.returncode != 0 and "ReluRuntimeError" in done.stderr


def test_random_inputs_are_written_inline(tmp_path):
    text = script_text(scale_graph(), [torch.randn(4, 3)[:, 1:], 3], target("runtime", "compdebug_relu_runtime_error"),
                       random_inputs=True)
    assert "torch.randn([12], dtype=torch.float32).as_strided([4, 2], [3, 1], 1),\n    3,\n" in text


def test_accuracy_error_with_compdebug_backend(tmp_path):
    failing = target("accuracy", "compdebug_relu_accuracy_error")
    path = save(tmp_path, helpers.relu_graph(), [torch.randn(20, 20)], failing, random_inputs=True)
    assert "from compdebug import AccuracyError" in path.read_text()
    done = run(path)
    assert done.returncode != 0 and "AccuracyError" in done.stderr


def test_accuracy_error_of_another_backend_runs_without_compdebug(tmp_path, no_compdebug):
    spec = resolve_backend(helpers.relu_off_by_one)
    assert spec.import_path == "tests.repro.helpers:relu_off_by_one" and not spec.needs_compdebug
    path = save(tmp_path, helpers.relu_graph(), [torch.randn(20, 20)], ReproTarget(kind="accuracy", backend=spec),
                random_inputs=False)
    text = path.read_text()
    assert "import compdebug" not in text and "from compdebug" not in text
    assert "def check_accuracy(" in text and "class AccuracyError(Exception):" in text
    done = run(path, without=no_compdebug)
    assert done.returncode != 0 and "AccuracyError: accuracy failure" in done.stderr, done.stderr


def test_non_leaf_input_stays_non_leaf(tmp_path):
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output((graph.call_function(torch.add, (x, 1)),))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    inputs = [torch.randn(20, 20, requires_grad=True) + 1]
    path = save(tmp_path, gm, inputs, target("compile", "compdebug_non_leaf_compile_error"), random_inputs=True)
    assert "requires_grad=True).view([20, 20])" in path.read_text()
    done = run(path)
    assert done.returncode != 0 and "TestingOnlyCompileError" in done.stderr


def inductor_bug_script(tmp_path: pathlib.Path, device: str, setting: str, error: str) -> pathlib.Path:
    """The after-AOT relu graph, compiled by inductor with one of its built-in codegen bugs."""
    graphs = []
    aot_function(torch.relu, fw_compiler=lambda gm, _: graphs.append(gm) or gm)(torch.randn(20, 20, device=device))
    spec = BackendSpec(
        label="'inductor'", fn=lambda gm, inputs: gm, name="inductor", inductor_settings={setting: "compile_error"}
    )
    failing = ReproTarget(kind="compile", backend=spec, error_type=error, error_message="compile error")
    return save(tmp_path, graphs[0], [torch.randn(20, 20, device=device)], failing, random_inputs=True)


def test_inductor_codegen_bug_runs_with_plain_torch(tmp_path, no_compdebug):
    """Seed test_after_aot_cpu_compile_error: the repro a PyTorch developer can run as posted."""
    path = inductor_bug_script(tmp_path, "cpu", "cpp.inject_relu_bug_TESTING_ONLY", "CppCompileError")
    text = path.read_text()
    assert "compdebug" not in text
    assert "torch._inductor.config.cpp.inject_relu_bug_TESTING_ONLY = 'compile_error'" in text
    done = run(path, without=no_compdebug)
    assert done.returncode != 0 and "CppCompileError" in done.stderr, done.stderr[-3000:]


def test_after_aot_repro_calls_inductors_inner_compiler_with_plain_torch(tmp_path, no_compdebug):
    """A graph captured after AOT compiles again as AOT Autograd handed it over: compile_fx_inner, no torch.compile."""
    graphs = []
    aot_function(torch.relu, fw_compiler=lambda gm, _: graphs.append(gm) or gm)(torch.randn(20, 20))
    (placeholder,) = graphs[0].graph.find_nodes(op="placeholder")
    spec = attrs.evolve(
        resolve_backend("inductor", with_injection=False),
        inductor_settings={"cpp.inject_relu_bug_TESTING_ONLY": "compile_error"},
        inner=InnerCall("inference", static_inputs=(placeholder.name,)),
    )
    failing = ReproTarget(kind="compile", backend=spec, error_type="InductorError", error_message="compile error")
    path = save(tmp_path, graphs[0], [torch.randn(20, 20)], failing, random_inputs=True)
    text = path.read_text()
    assert "compdebug" not in text and "compiled = torch.compile(" not in text
    assert "compile_fx_inner(gm, list(inputs), static_input_idxs=[0], is_inference=True)" in text
    done = run(path, without=no_compdebug)
    assert done.returncode != 0 and "CppCompileError" in done.stderr, done.stderr[-3000:]


@pytest.mark.gpu
@requires_gpu
def test_triton_codegen_bug_runs_with_plain_torch(tmp_path, no_compdebug):
    """Seed test_after_aot_gpu_compile_error: the Triton kernel does not parse."""
    path = inductor_bug_script(tmp_path, "cuda", "triton.inject_relu_bug_TESTING_ONLY", "SyntaxError")
    assert "compdebug" not in path.read_text() and "device='cuda:0'" in path.read_text()
    done = run(path, without=no_compdebug)
    assert done.returncode != 0 and "SyntaxError" in done.stderr, done.stderr[-3000:]


def test_predicate_script_loads_the_real_input_values(tmp_path, no_compdebug):
    x = torch.randn(3, 3)
    x[0, 0] = helpers.MARK
    failing = ReproTarget(kind="predicate", predicate_path="tests.repro.helpers:first_value_is_marked")
    real = save(tmp_path / "real", helpers.relu_graph(), [x], failing, random_inputs=False)
    done = run(real, without=no_compdebug)
    assert done.returncode == 1 and "first_value_is_marked returns True" in done.stderr
    fake = save(tmp_path / "random", helpers.relu_graph(), [x], failing, random_inputs=True)
    done = run(fake, without=no_compdebug)
    assert done.returncode == 0 and "No failure" in done.stdout
    assert not (tmp_path / "random" / TENSORS_FILE).exists()


def test_real_values_include_module_parameters(tmp_path):
    linear = torch.nn.Linear(4, 1)
    torch.nn.init.constant_(linear.weight, 0.5)
    torch.nn.init.constant_(linear.bias, 0.25)
    gm = torch.fx.symbolic_trace(torch.nn.Sequential(linear))
    failing = ReproTarget(kind="predicate", predicate_path="tests.repro.helpers:linear_output_is_known")
    path = save(tmp_path, gm, [torch.ones(2, 4)], failing, random_inputs=False)
    assert "set_module_tensors(mod, ['0.weight', '0.bias'], values[1:])" in path.read_text()
    assert run(path).returncode == 1
    path = save(tmp_path, gm, [torch.ones(2, 4)], failing, random_inputs=True)  # Linear's own random init
    assert run(path).returncode == 0
    assert not (tmp_path / TENSORS_FILE).exists()  # the stale file of the first save is gone


def test_save_creates_the_directory(tmp_path):
    path = save(tmp_path / "a" / "b", helpers.relu_graph(), [torch.randn(2)],
                target("compile", "compdebug_relu_compile_error"), random_inputs=False)
    assert path == tmp_path / "a" / "b" / "repro.py"
    assert sorted(p.name for p in path.parent.iterdir()) == ["repro.py", TENSORS_FILE]


def test_predicate_that_cannot_be_imported_is_refused(tmp_path):
    with pytest.raises(ReproError, match="must be importable"):
        save(tmp_path, helpers.relu_graph(), [torch.randn(2)], ReproTarget(kind="predicate"), random_inputs=True)
    assert not any(tmp_path.iterdir())


def test_backend_that_cannot_be_named_is_refused():
    with pytest.raises(BackendError, match="cannot be imported by a script"):
        script_text(helpers.relu_graph(), [torch.randn(2)], target("compile", lambda gm, inputs: gm),
                    random_inputs=True)


def test_graph_calling_a_local_function_is_refused():
    def local_helper(x):
        return x + 1

    graph = torch.fx.Graph()
    graph.output(graph.call_function(local_helper, (graph.placeholder("x"),)))
    with pytest.raises(ReproError, match="local_helper"):
        script_text(torch.fx.GraphModule(torch.nn.Module(), graph), [torch.randn(2)],
                    target("compile", "compdebug_relu_compile_error"), random_inputs=True)


@pytest.mark.gpu
@requires_gpu
@pytest.mark.parametrize("random_inputs", [True, False])
def test_cpu_cuda_module_script_fails_on_the_gpu(tmp_path, random_inputs):
    """Seed test_cpu_cuda_module_after_dynamo: a module with CPU and CUDA halves reproduces its error."""
    gm = helpers.cpu_cuda_graph("cuda")
    inputs = [torch.randn(20, 20, device="cuda"), torch.randn(20, 20)]
    path = save(tmp_path, gm, inputs, target("compile", "compdebug_relu_compile_error"), random_inputs=random_inputs)
    done = run(path)
    assert done.returncode != 0 and "ReluCompileError" in done.stderr, done.stderr[-3000:]
