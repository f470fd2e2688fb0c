"""The README's two commands: the demo (the main job) runs, and CI runs the README's test command."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_command(which: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "readme_command.py"), which], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_readme_gives_both_commands_installing_torch_first():
    for which, runs in (("demo", "-m compdebug demo"), ("test", "-m pytest")):
        command = readme_command(which)
        assert command.index("pip install torch==2.13.0") < command.index("pip install -e"), command
        assert runs in command


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command.py test" in ci and 'bash -euo pipefail -c "$cmd"' in ci


def test_demo_minifies_an_injected_bug_and_its_repro_fails_the_same_way(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "compdebug", "demo"], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "caused by ReluCompileError" in out
    assert "class Repro(torch.nn.Module):" in out and "relu" in out
    forward = out[out.index("def forward") : out.index("---- end")]
    assert "tanh" not in forward and "sigmoid" not in forward, "the repro is not minified"
    assert "running the repro in a fresh process: exit code 1, ReluCompileError" in out
