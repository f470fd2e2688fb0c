"""Capture with bisect=True, and `python -m compdebug bisect DIR`."""

from __future__ import annotations

import json

import pytest
import torch

import compdebug
from compdebug.__main__ import main
from tests.bisect.programs import PROGRAMS
from tests.seeds.minifier_harness import _chain_text


@pytest.fixture
def compile_fx_calls(monkeypatch):
    """Every graph Inductor's compile_fx is asked to compile, in order."""
    import torch._inductor.compile_fx as compile_fx

    real, graphs = compile_fx.compile_fx, []

    def counting(gm, *args, **kwargs):
        graphs.append(gm)
        return real(gm, *args, **kwargs)

    monkeypatch.setattr(compile_fx, "compile_fx", counting)
    return graphs


def capture(program, tmp_path, **settings):
    torch._dynamo.reset()
    with program.bug(), compdebug.config.patch({"repro_after": "dynamo", "repro_dir": str(tmp_path), **settings}):
        with pytest.raises(Exception) as caught:
            torch.compile(program.fn)(*program.make_inputs())
    torch._dynamo.reset()
    return caught.value


def test_bisect_then_minify_a_bad_decomposition_without_inductor(tmp_path, compile_fx_calls):
    error = capture(PROGRAMS["bad_decomposition"], tmp_path, repro_accuracy=True, bisect=True)
    assert "AccuracyError" in _chain_text(error)
    # Inductor compiled twice: the user's graph, then (confirming) the minified one; bisect and minify never
    assert len(compile_fx_calls) == 2
    repro = (tmp_path / "repro.py").read_text()
    confirmed = compile_fx_calls[1]
    assert len(confirmed.graph.nodes) < len(compile_fx_calls[0].graph.nodes)
    assert "hardswish" in repro and "silu" not in repro
    header = repro.split("\n\n")[0]
    assert "aot_eager_decomp_partition / decomposition / application" in header and "aten.hardswish" in header
    assert "Minified with AccuracyFailure('aot_eager_decomp_partition'" in header
    assert "backend='inductor'" in repro  # the repro fails as the capture did: with Inductor
    meta = json.loads((tmp_path / "checkpoint" / "meta.json").read_text())
    assert meta["bisect"]["backend"] == "aot_eager_decomp_partition"
    assert meta["bisect"]["subsystem"] == "decomposition" and "aten.hardswish" in meta["bisect"]["detail"]
    best = json.loads((tmp_path / "best" / "meta.json").read_text())
    assert best["target"]["backend"]["name"] == "inductor"  # best/ holds the confirmed graph


def test_a_minified_graph_that_inductor_passes_is_minified_again_with_inductor(tmp_path, compile_fx_calls, monkeypatch):
    from compdebug.bisect import capture as bisect_capture  # (compdebug.bisect is also the function)

    monkeypatch.setattr(bisect_capture, "_confirmed", lambda *args: False)  # the cheaper minification "lost" it
    capture(PROGRAMS["bad_decomposition"], tmp_path, repro_accuracy=True, bisect=True)
    assert len(compile_fx_calls) > 2  # the second minification compiles with Inductor
    repro = (tmp_path / "repro.py").read_text()
    assert "hardswish" in repro and "backend='inductor'" in repro
    assert "Minified with" not in repro and "aot_eager_decomp_partition / decomposition" in repro


def test_the_cli_bisects_a_capture_folder_and_records_the_answer(tmp_path, capsys):
    capture(PROGRAMS["aot_eager"], tmp_path, repro_accuracy=True, minify_on_failure=False)
    assert main(["bisect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "first failing backend: aot_eager" in out and "not failing this way: eager" in out
    meta = json.loads((tmp_path / "checkpoint" / "meta.json").read_text())
    assert meta["bisect"]["backend"] == "aot_eager"


def test_the_cli_refuses_a_folder_without_a_capture(tmp_path, capsys):
    assert main(["bisect", str(tmp_path)]) == 2
    assert "holds no compdebug checkpoint" in capsys.readouterr().err
