"""Checkpoints survive a killed minifier, are safe to open, and say clearly what is wrong with them."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import shutil
import sys
import time

import pytest
import torch

import compdebug
from compdebug.capture import checkpoint as checkpoint_module
from compdebug.capture.checkpoint import read_checkpoint, write_checkpoint
from compdebug.capture.resume import minify_checkpoint, newest_checkpoint, rerun_checkpoint
from compdebug.errors import BackendError, CheckpointError
from tests.minify.support import targets
from tests.robustness import faults
from tests.robustness.conftest import fill_disk

CAPTURE_AND_MINIFY = """
import sys
import torch
import compdebug
from tests.robustness import faults

def model(x):
    for _ in range(6):
        x = torch.sin(x)
    x = torch.relu(x)
    for _ in range(6):
        x = torch.cos(x)
    return x

with compdebug.config.patch(repro_after="dynamo", repro_dir=sys.argv[1]):
    torch.compile(model, backend=faults.slow_relu_compile_error)(torch.randn(8))
"""


def sin_relu_cos(x):
    for _ in range(3):
        x = torch.sin(x)
    x = torch.relu(x)
    for _ in range(3):
        x = torch.cos(x)
    return x


def capture(repro_dir, fn=sin_relu_cos, backend="eager", **settings):
    """Capture an injected relu compile error into `repro_dir`, without minifying; the checkpoint folder."""
    torch._dynamo.reset()
    values = {"repro_after": "dynamo", "repro_dir": str(repro_dir), "minify_on_failure": False,
              "inject.ops": {"relu": "compile_error"}, **settings}
    with compdebug.config.patch(values), pytest.raises(Exception):
        torch.compile(fn, backend=backend)(torch.randn(8))
    return pathlib.Path(repro_dir) / "checkpoint"


def file_stamp(path):
    """(inode, mtime) of `path`, None while it does not exist: a new stamp means the file was written again."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def wait_while_running(child, condition, what, timeout=120):
    """Poll until `condition()` holds; fail if the child exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert child.poll() is None, f"the child exited before {what}: " + child.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def test_best_checkpoint_survives_sigkill_and_minify_resumes_from_it(tmp_path, child_env):
    repro_dir = tmp_path / "capture"
    script = tmp_path / "capture_and_minify.py"
    script.write_text(CAPTURE_AND_MINIFY)
    child = subprocess.Popen([sys.executable, str(script), str(repro_dir)], env=child_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    best_meta = repro_dir / "best" / "meta.json"
    try:
        wait_while_running(child, lambda: file_stamp(best_meta) is not None, "best/ checkpoint")
        first = file_stamp(best_meta)
        # killed once it has improved on its first best/ (progress made), maybe in the middle of the next write
        wait_while_running(child, lambda: file_stamp(best_meta) not in (None, first), "second best/ checkpoint")
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        child.kill()
        child.stderr.close()
    assert not (repro_dir / "repro.py").exists()  # it really was stopped half-way

    original = read_checkpoint(repro_dir / "checkpoint")
    best = newest_checkpoint(repro_dir)  # readable, whatever moment the kill came at
    assert best.directory.name == "best"
    assert len(best.graph_module.graph.nodes) < len(original.graph_module.graph.nodes)

    resumed = subprocess.run([sys.executable, "-m", "compdebug", "-v", "minify", str(repro_dir)],
                             env=child_env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    started_from = len(best.graph_module.graph.nodes)
    assert f"minified {started_from} -> 3 nodes" in resumed.stderr  # resumed from best/, not from scratch
    repro = repro_dir / "repro.py"
    assert f"repro written to {repro}" in resumed.stdout
    run = subprocess.run([sys.executable, str(repro)], env=child_env, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "ReluCompileError" in run.stderr, run.stderr[-3000:]
    assert targets(read_checkpoint(repro_dir / "best").graph_module) == ["relu"]


def test_a_kill_between_the_two_renames_leaves_the_previous_best(tmp_path, monkeypatch):
    folder = capture(tmp_path)
    first = read_checkpoint(folder)
    best = tmp_path / "best"
    write_checkpoint(best, first.graph_module, first.inputs, first.target, first.stage)
    real_replace = os.replace

    def dies_after_first_rename(src, dst):
        real_replace(src, dst)
        if pathlib.Path(src) == best:  # the old best/ moved aside, the new one not yet in place
            raise KeyboardInterrupt("killed here")  # stands for the SIGKILL: nothing after runs

    monkeypatch.setattr(checkpoint_module.os, "replace", dies_after_first_rename)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(best, first.graph_module, first.inputs, first.target, first.stage)
    monkeypatch.undo()
    assert not best.exists()  # the moment a reader would see nothing...
    recovered = newest_checkpoint(tmp_path)  # ...puts the previous one back
    assert recovered.directory == best and len(recovered.graph_module.graph.nodes) == len(first.graph_module.graph.nodes)
    write_checkpoint(best, first.graph_module, first.inputs, first.target, first.stage)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "checkpoint"]  # leftovers cleared


def test_a_pickled_object_in_a_tensor_file_is_refused_and_not_run(tmp_path, untouched):
    folder = capture(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    torch.save({"format": "repro-tensors/1", "storages": [], "values": [Payload()]}, folder / "inputs.pt")
    with pytest.raises(CheckpointError, match="refused to load .*inputs.pt") as info:
        read_checkpoint(folder)
    assert "Nothing in it was run" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda folder: (folder / "inputs.pt").write_bytes((folder / "inputs.pt").read_bytes()[:40]), "inputs.pt"),
        (lambda folder: (folder / "graph.py").write_text("class Repro(torch.nn.Module:\n  oops"), "graph.py"),
        (lambda folder: (folder / "meta.json").unlink(), "meta.json"),
        (lambda folder: (folder / "meta.json").write_text("{not json"), "meta.json"),
        (lambda folder: (folder / "state.pt").unlink(), "state.pt"),
    ],
    ids=["truncated-inputs", "garbled-graph", "deleted-meta", "garbled-meta", "deleted-state"],
)
def test_a_damaged_checkpoint_is_a_clear_error_naming_the_file(tmp_path, untouched, capsys, damage, named):
    folder = capture(tmp_path)
    damage(folder)
    with pytest.raises(CheckpointError, match=named) as info:
        read_checkpoint(folder)
    assert "damaged" in str(info.value) or "not a compdebug checkpoint" in str(info.value)
    from compdebug.__main__ import main

    assert main(["run", str(folder)]) == 2
    assert named in capsys.readouterr().err


def test_a_checkpoint_of_another_torch_version_warns_and_still_works(tmp_path, untouched, logs):
    folder = capture(tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    meta["torch_version"] = "1.13.0"
    (folder / "meta.json").write_text(json.dumps(meta))
    still_fails, detail = rerun_checkpoint(tmp_path)
    assert still_fails and "ReluCompileError" in detail
    assert any("torch 1.13.0" in m and torch.__version__ in m for m in logs.messages())


def _local_backend():
    def unnameable(gm, example_inputs):  # a local function: neither registered nor importable
        return gm.forward

    return unnameable


def test_a_backend_that_cannot_be_named_is_said_at_capture_and_at_run(tmp_path, untouched, logs):
    backend = compdebug.wrap_backend(_local_backend())
    capture(tmp_path, backend=backend)
    assert any("names no backend" in m and "register_backend" in m for m in logs.messages())
    with pytest.raises(BackendError, match="neither registered nor importable") as info:
        rerun_checkpoint(tmp_path)
    assert "register_backend" in str(info.value)


def test_a_backend_registered_by_a_module_is_found_through_its_import_path(tmp_path, child_env):
    capture(tmp_path, backend=faults.relu_error_cos_segfault, **{"inject.ops": {}})
    recorded = json.loads((tmp_path / "checkpoint" / "meta.json").read_text())["target"]["backend"]
    assert recorded["name"] == "robust_relu_error_cos_segfault"
    assert recorded["import_path"] == "tests.robustness.faults:relu_error_cos_segfault"
    # a fresh process, which never imported the module that registers it
    run = subprocess.run([sys.executable, "-m", "compdebug", "run", str(tmp_path)], env=child_env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "still fails the same way" in run.stdout, run.stderr[-2000:]


def test_an_unknown_backend_name_in_a_checkpoint_says_how_to_fix_it(tmp_path, untouched, capsys):
    folder = capture(tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    meta["target"]["backend"].update(name="my_teams_backend", import_path=None)
    (folder / "meta.json").write_text(json.dumps(meta))
    from compdebug.__main__ import main

    assert main(["run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "my_teams_backend" in err and "--import MODULE" in err


def test_resume_writes_elsewhere_when_the_capture_folder_is_full(tmp_path, logs, untouched):
    folder = capture(tmp_path / "capture")
    with pytest.MonkeyPatch.context() as patch:
        fill_disk(patch, tmp_path / "capture")
        repro = minify_checkpoint(tmp_path / "capture")
    assert repro.parent.parent == untouched and repro.exists()  # a fresh temporary folder...
    assert any(str(repro.parent) in m for m in logs.messages())  # ...named in the log
    assert targets(read_checkpoint(repro.parent / "best").graph_module) == ["relu"]
    assert sorted(p.name for p in folder.parent.iterdir()) == ["checkpoint"]  # nothing half-written left
    shutil.rmtree(repro.parent)
