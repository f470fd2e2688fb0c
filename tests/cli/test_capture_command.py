"""python -m compdebug capture: a program run as python runs it, with capture in force."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import compdebug
from compdebug.__main__ import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
RELU_BUG = "inject.ops={'relu': 'compile_error'}"

# what a program can see of how it was started; written as JSON to the path in $REPORT
REPORT_HOW_I_RAN = """
import json, os, sys
import __main__
json.dump({
    "argv": sys.argv, "name": __name__, "path0": sys.path[0], "file": __file__,
    "spec": getattr(__spec__, "name", None), "is_main": __main__.__dict__ is globals(),
}, open(os.environ["REPORT"], "w"))
"""


def python(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    """A fresh Python process, importing this checkout of compdebug."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def captured_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("compdebug: captured in ")]


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# -- the whole path, in fresh processes ---------------------------------------------
def test_a_script_unchanged_gets_a_repro_that_fails_the_same_way(tmp_path):
    write(tmp_path / "prog" / "train.py", """
        import sys
        import torch

        def step(x):
            for _ in range(4):
                x = torch.sin(x)
            x = torch.relu(x)           # the injected bug breaks relu's compilation
            return x.cos()

        print("argv", sys.argv[1:])
        torch.compile(step, backend="eager")(torch.randn(16))   # uncaught: the program ends with a traceback
    """)
    done = python("-m", "compdebug", "capture", "--dir", "caps", "--set", RELU_BUG,
                  "prog/train.py", "--epochs", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]  # what python gives an uncaught exception
    assert "argv ['--epochs', '2']" in done.stdout
    assert "Traceback (most recent call last)" in done.stderr and "ReluCompileError" in done.stderr
    [folder] = (tmp_path / "caps").iterdir()
    assert captured_lines(done.stderr) == [f"compdebug: captured in caps/{folder.name}: caps/{folder.name}/repro.py"]
    assert done.stderr.rstrip().endswith(captured_lines(done.stderr)[0])  # said last, after the traceback

    repro = python(str(folder / "repro.py"), cwd=tmp_path)
    assert repro.returncode != 0 and "ReluCompileError" in repro.stderr, repro.stderr[-3000:]


def test_a_module_with_its_own_arguments_exits_with_its_status(tmp_path):
    write(tmp_path / "mypkg" / "__init__.py", "")
    write(tmp_path / "mypkg" / "train.py", """
        import argparse, sys
        import torch

        parser = argparse.ArgumentParser()
        parser.add_argument("--dir")
        parser.add_argument("--code", type=int)
        args = parser.parse_args()
        print("args", args.dir, args.code)

        def loss(x):
            return torch.relu(x.sin() * 2).sum()

        try:
            torch.compile(loss, backend="aot_eager")(torch.randn(8, requires_grad=True)).backward()
        except Exception as error:
            print("caught", type(error).__name__)
            sys.exit(args.code)
    """)
    done = python("-m", "compdebug", "capture", "--after", "aot", "--set", RELU_BUG, "--set", "inject.stage=aot",
                  "-m", "mypkg.train", "--dir", "not-compdebugs", "--code", "3", cwd=tmp_path)
    assert done.returncode == 3, done.stderr[-3000:]
    assert "args not-compdebugs 3" in done.stdout and "caught BackendCompilerFailed" in done.stdout
    [line] = captured_lines(done.stderr)
    repro = tmp_path / line.rsplit(": ", 1)[1]
    assert repro.parent.parent == tmp_path / "compdebug_repro"  # no --dir for compdebug: the default place
    assert "torch.ops.aten.relu.default" in repro.read_text()  # the graph AOT Autograd made


# -- running the program: in this process, compared with python itself ----------------
def test_a_script_sees_what_python_would_show_it(tmp_path, monkeypatch):
    script = write(tmp_path / "sub" / "show.py", REPORT_HOW_I_RAN)
    monkeypatch.chdir(tmp_path)
    saved = sys.argv, sys.path[:], sys.modules["__main__"]

    monkeypatch.setenv("REPORT", str(tmp_path / "python.json"))
    assert python("sub/show.py", "a", "--dir", "b", cwd=tmp_path).returncode == 0
    monkeypatch.setenv("REPORT", str(tmp_path / "capture.json"))
    assert main(["capture", "sub/show.py", "a", "--dir", "b"]) == 0

    ran = json.loads((tmp_path / "capture.json").read_text())
    assert ran == json.loads((tmp_path / "python.json").read_text())
    assert ran["argv"] == ["sub/show.py", "a", "--dir", "b"] and ran["path0"] == str(script.parent)
    assert (sys.argv, sys.path, sys.modules["__main__"]) == saved  # put back afterwards


def test_a_module_sees_what_python_dash_m_would_show_it(tmp_path, monkeypatch):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "show.py", REPORT_HOW_I_RAN)
    monkeypatch.chdir(tmp_path)

    monkeypatch.setenv("REPORT", str(tmp_path / "python.json"))
    assert python("-m", "pkg.show", "-m", "x", cwd=tmp_path).returncode == 0
    monkeypatch.setenv("REPORT", str(tmp_path / "capture.json"))
    assert main(["capture", "-m", "pkg.show", "-m", "x"]) == 0

    ran = json.loads((tmp_path / "capture.json").read_text())
    assert ran == json.loads((tmp_path / "python.json").read_text())
    assert ran["spec"] == "pkg.show" and ran["argv"][1:] == ["-m", "x"] and ran["path0"] == str(tmp_path)
    sys.modules.pop("pkg.show", None), sys.modules.pop("pkg", None)


@pytest.mark.parametrize("body", [
    "pass",
    "import sys; sys.exit(4)",
    "import sys; sys.exit()",
    "import sys; sys.exit('bye')",
    "def f():\n    raise ValueError('boom')\nf()",
])
def test_exit_status_and_traceback_are_pythons(tmp_path, monkeypatch, capsys, body):
    write(tmp_path / "prog.py", body + "\n")
    monkeypatch.chdir(tmp_path)
    plain = python("prog.py", cwd=tmp_path)
    status = main(["capture", "prog.py"])
    err = capsys.readouterr().err
    assert status == plain.returncode
    program_err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith("compdebug: "))
    assert program_err == plain.stderr  # the same traceback (no compdebug frames), the same message
    assert err.splitlines()[-1] == "compdebug: nothing captured (no compiled graph failed)"


# -- settings -------------------------------------------------------------------------
def test_options_and_settings_are_in_force_while_the_program_runs(tmp_path, monkeypatch):
    write(tmp_path / "prog.py", """
        import json, compdebug
        json.dump(compdebug.config.to_dict(), open("seen.json", "w"))
    """)
    monkeypatch.chdir(tmp_path)
    assert main(["capture", "--after", "aot", "--accuracy",
                 "--set", "minifier.max_queries=50", "--set", "accuracy.tolerance=1e-2",
                 "--set", "inject.stage=codegen", "--set", "inject.ops={'relu': 'accuracy'}",
                 "--set", "repro_dir=out dir/x", "prog.py"]) == 0
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert {k: seen[k] for k in ("repro_after", "repro_accuracy", "minifier.max_queries", "accuracy.tolerance",
                                 "inject.stage", "inject.ops", "repro_dir")} == {
        "repro_after": "aot", "repro_accuracy": True, "minifier.max_queries": 50, "accuracy.tolerance": 0.01,
        "inject.stage": "codegen", "inject.ops": {"relu": "accuracy"}, "repro_dir": "out dir/x"}
    assert compdebug.config.repro_after is None  # and nothing stays changed


@pytest.mark.parametrize("argv, says", [
    (["--set", "repro_afterr=aot", "prog.py"], "unknown config key 'repro_afterr'. Did you mean 'repro_after'"),
    (["--set", "repro_accuracy=maybe", "prog.py"], "config key 'repro_accuracy' cannot be 'maybe': it must be a bool"),
    (["--set", "inject.stage=codegen", "--set", "inject.ops={'sin': 'accuracy'}", "prog.py"], "cannot inject into 'sin'"),
    (["missing.py"], "no such file"),
    (["-m", "no_such_module_here"], "no module named 'no_such_module_here'"),
])
def test_bad_settings_or_program_are_one_clear_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, says):
    write(tmp_path / "prog.py", "open('ran', 'w')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["capture", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("compdebug: ") and says in err, err
    assert not (tmp_path / "ran").exists()  # refused before the program started


def test_bisect_flag_turns_config_bisect_on_for_the_program(tmp_path, monkeypatch, capsys):
    write(tmp_path / "prog.py", "import compdebug\nprint('bisect', compdebug.config.bisect)\n")
    monkeypatch.chdir(tmp_path)
    status = main(["capture", "--bisect", "prog.py"])
    out, _ = capsys.readouterr()
    assert status == 0 and "bisect True" in out


# -- where captures go -----------------------------------------------------------------
def test_each_capture_gets_its_own_folder_under_dir_and_a_line(tmp_path, monkeypatch, capsys):
    write(tmp_path / "prog.py", """
        import torch
        for op in (torch.sin, torch.cos):
            try:
                torch.compile(lambda x: torch.relu(op(x)) * 2, backend="eager")(torch.randn(4))
            except Exception:
                print("caught")
    """)
    monkeypatch.chdir(tmp_path)
    assert main(["capture", "--dir", "caps", "--set", RELU_BUG, "prog.py"]) == 0
    folders = sorted((tmp_path / "caps").iterdir())
    assert len(folders) == 2 and all((f / "repro.py").is_file() for f in folders)
    assert sorted(captured_lines(capsys.readouterr().err)) == sorted(
        f"compdebug: captured in caps/{f.name}: caps/{f.name}/repro.py" for f in folders)
