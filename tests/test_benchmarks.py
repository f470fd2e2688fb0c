"""The benchmark harness works: `python -m benchmarks --quick` runs and records sane figures,
and the pieces of `python -m benchmarks --real` measure what they say.

Nothing here is timed; the figures that matter are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import torch

from benchmarks import corpus, real
from benchmarks.__main__ import real_workers
from benchmarks.child import run_process
from benchmarks.markers import CULPRIT, count_calls
from benchmarks.real_models import MODELS
from benchmarks.real_program import records
from benchmarks.report import geomean, profile_table, real_markdown, real_summary, summarize, workers_table

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory) -> dict:
    """The JSON report of one `python -m benchmarks --quick` run (in a child process, as a user runs it)."""
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (out / "cpu-quick.md").read_text().count("\n|") > 5
    return json.loads((out / "cpu-quick.json").read_text())


def test_quick_runs_every_quick_case(quick_report):
    assert [c["name"] for c in quick_report["cases"]] == [c.name for c in corpus.CASES if c.quick]
    assert quick_report["offload"] == []  # the offload children are for full runs only


def test_compdebug_result_still_fails_and_runs(quick_report):
    for case in quick_report["cases"]:
        ours = case["compdebug"]
        assert ours["error"] is None, (case["name"], ours["error"])
        assert ours["final_fails"] and ours["final_runs"], case["name"]
        assert ours["final_nodes"] < case["original_nodes"], case["name"]


def test_compdebug_needs_no_more_queries_than_torch(quick_report):
    for case in quick_report["cases"]:
        assert case["torch"]["error"] is None, (case["name"], case["torch"]["error"])
        assert case["query_ratio"] is not None and case["query_ratio"] <= 1, (case["name"], case["query_ratio"])


def test_query_counts_agree_with_the_wrapped_predicate(quick_report):
    callable_cases = [c for c in quick_report["cases"] if c["oracle"] == "inspect"]
    assert callable_cases
    for case in callable_cases:
        assert case["compdebug"]["predicate_calls"] == case["compdebug"]["queries"], case["name"]
        assert case["torch"]["predicate_calls"] == case["torch"]["queries"], case["name"]


def test_chain_stays_within_the_query_bound(quick_report):
    chains = quick_report["summary"]["chains"]
    assert chains and all(c["met"] for c in chains), chains


def test_corpus_is_deterministic_and_places_one_culprit():
    case = corpus.BY_NAME["chain_200"]
    first, second = case.build("cpu"), case.build("cpu")
    assert first.gm.code == second.gm.code
    assert len(first.gm.graph.nodes) == 200
    assert count_calls(first.gm, CULPRIT) == 1
    assert first.predicate(first.gm, first.inputs)
    first.gm(*first.inputs)  # runs eagerly


def test_offload_chain_has_the_advertised_size():
    gm, inputs, predicate = corpus.offload_chain(12, 64, "cpu")
    assert len(gm.graph.nodes) == 14 and count_calls(gm, CULPRIT) == 1
    assert predicate(gm, inputs)


def test_summary_reports_worst_ratio():
    run = {"tool": "x", "queries": 4, "predicate_calls": 4, "seconds": 1.0, "final_nodes": 3, "final_fails": True,
           "final_runs": True, "error": None}
    cases = [
        {"name": name, "query_ratio": r, "time_ratio": 1.0, "counts_agree": True, "compdebug": run, "torch": run}
        for name, r in (("a", 0.5), ("b", 2.0))
    ]
    summary = summarize(cases, [])
    assert summary["query_ratio_worst"] == (2.0, "b")
    assert summary["query_ratio_geomean"] == pytest.approx(1.0)
    assert geomean([]) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_quick_case_uses_cuda_tensors(tmp_path):
    built = corpus.BY_NAME["chain_50"].build("cuda")
    assert all(x.is_cuda for x in built.inputs)


# -- python -m benchmarks --real ----------------------------------------------------------------------

def test_real_cases_are_the_issue_models_with_both_bugs():
    cpu = real.cases("cpu")
    assert [c.name for c in cpu] == [f"{m}_{b}" for m in real.CPU_MODELS for b in ("compile_error", "accuracy")]
    assert len(real.cases("cpu", quick=True)) == 1
    assert [c.name for c in real.cases("cpu", names=["resnet18_accuracy"])] == ["resnet18_accuracy"]
    with pytest.raises(SystemExit, match="unknown real case"):
        real.cases("cpu", names=["resnet_runtime_error"])
    assert all(c.model in real.CUDA_MODELS for c in real.cases("cuda"))  # empty where torchvision is missing


class _ReluCalls(torch.overrides.TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += "relu" in getattr(func, "__name__", "")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", real.CPU_MODELS)
def test_every_cpu_model_runs_a_relu_for_the_bug_to_reach(name):
    model, inputs = MODELS[name].build("cpu")
    with _ReluCalls() as mode, torch.no_grad():
        model(*inputs)
    assert mode.calls >= 2, name


def _tool_records(capture=10.0, minify=40.0, ours=20.0, torch_final=5, our_final=3, minify_failed=None):
    theirs = {"capture": {"seconds": capture}, "minify": {"seconds": minify, "final_nodes": torch_final}}
    if minify_failed:
        theirs["minify"]["failed"] = minify_failed
    return theirs, {"seconds": ours, "minify": {"final_nodes": our_final}}


def test_figures_are_the_issue_budget_and_ratio():
    out = real.figures(*_tool_records())
    assert out["budget_s"] == pytest.approx(10 + 0.5 * 40)
    assert out["within_budget"] is True
    assert out["beyond_ratio"] == pytest.approx((20 - 10) / 40)
    assert out["final_no_larger"] is True
    slow = real.figures(*_tool_records(ours=35.0, our_final=6))
    assert slow["within_budget"] is False and slow["final_no_larger"] is False


def test_figures_take_a_stopped_torch_as_a_lower_bound_and_a_crashed_one_not_at_all():
    stopped = real.figures(*_tool_records(minify=1200.0, minify_failed="ran past 1200 s"))
    assert stopped["torch_minify_stopped"] and stopped["beyond_ratio"] == pytest.approx(10 / 1200)
    crashed = real.figures(*_tool_records(minify_failed="exited 1: boom"))
    assert crashed["beyond_ratio"] is None and crashed["budget_s"] is None


def _case(name, **kwargs):
    theirs, ours = _tool_records(**kwargs)
    record = {"name": name, "torch": theirs, "compdebug": ours}
    record.update(real.figures(theirs, ours))
    return record


def test_real_summary_geomean_and_targets():
    cases = [_case("a", ours=14.0), _case("b", ours=50.0), _case("c", ours=9.0)]  # ratios 0.1, 1.0, 0 (faster)
    summary = real_summary(cases)
    assert summary["beyond_ratio_geomean"] == pytest.approx((0.1 * 1.0) ** 0.5)
    assert summary["beyond_ratio_zero"] == ["c"]
    assert summary["within_budget"] == 2 and summary["beyond_met"] is False
    page = real_markdown({"machine": {"device": "cpu", "torch": "x", "python": "y", "cpus": 2}, "quick": False,
                          "command": "python -m benchmarks --real", "after": "aot", "cases": cases,
                          "summary": summary})
    assert page.count("\n| a |") == 1 and "not met" in page


def test_workers_option_is_skipped_without_the_key():
    assert real_workers(None, True) == ((None,), None)
    assert real_workers("1,2,4,8", True) == ((1, 2, 4, 8), None)
    values, why = real_workers("1,2", False)
    assert values == (None,) and "minifier.workers" in why
    with pytest.raises(SystemExit, match="comma-separated"):
        real_workers("1,two", True)


def test_profile_and_pass_records_of_any_shape_reach_the_report():
    import dataclasses

    import attrs

    @attrs.frozen
    class Query:
        nodes: int
        compile_s: float
        run_s: float

    @dataclasses.dataclass
    class Pass:
        name: str
        queries: int

    profile = records([Query(10, 2.0, 0.5), Query(4, 1.0, 0.1)])
    assert profile == [{"nodes": 10, "compile_s": 2.0, "run_s": 0.5}, {"nodes": 4, "compile_s": 1.0, "run_s": 0.1}]
    assert records({"suffix": Pass("suffix", 3)}) == [{"name": "suffix", "queries": 3}]
    assert records(None) is None
    case = {"name": "x", "compdebug": {"minify": {"profile": profile}}}
    table = profile_table([case])
    assert "compile_s 1.5" in table and "nodes 7" in table
    runs = [{"workers": 1, "seconds": 10.0, "minify": {"graph_sha1": "a"}},
            {"workers": 4, "seconds": 4.0, "minify": {"graph_sha1": "a"}}]
    assert "| x | 4 | 4.0 | 2.50 |" in workers_table([{"name": "x", "compdebug_workers": runs}])


def test_check_repro_wants_a_failure_that_names_the_bug(tmp_path):
    failing = tmp_path / "failing.py"
    failing.write_text("import sys\nprint('torch._inductor.exc.CppCompileError: C++ compile error', file=sys.stderr)\n"
                       "sys.exit(1)\n")
    passing = tmp_path / "passing.py"
    passing.write_text("print('all good')\n")
    assert real.check_repro(str(failing), "compile_error", {}, 60) == {
        "fails": True, "says_bug": True, "returncode": 1, "tail": None}
    ran = real.check_repro(str(passing), "accuracy", {}, 60)
    assert ran["fails"] is False and ran["says_bug"] is False and "all good" in ran["tail"]
    assert real.check_repro(str(tmp_path / "missing.py"), "accuracy", {}, 60) is None


def test_run_process_kills_the_children_of_a_child_that_ran_too_long(tmp_path):
    import os
    import time

    pid_file = tmp_path / "grandchild"
    code = ("import subprocess, sys, time\n"
            f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
            "time.sleep(60)\n")
    done = run_process([sys.executable, "-c", code], timeout=3, cwd=str(tmp_path))
    assert done.timed_out and done.seconds < 30
    grandchild = int(pid_file.read_text())
    for _ in range(50):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild outlived the time limit")


@pytest.mark.slow
def test_real_case_runs_both_tools_end_to_end(tmp_path):
    """The quick mode's pieces on the smallest model: torch's capture + launcher, compdebug's capture, figures.

    One warm cache shared by every step keeps it to about a minute (the real
    runs give each tool fresh caches); the final repros are not re-run here.
    """
    record = real.run_case(real.RealCase("tiny_mlp", "compile_error"), "cpu", limit_s=400, check=False,
                           shared_cache=str(tmp_path / "cache"))
    theirs, ours = record["torch"], record["compdebug"]
    assert "failed" not in theirs and "failed" not in theirs["minify"], theirs
    assert "CppCompileError" in theirs["capture"]["error"]
    assert theirs["minify"]["queries"] > 1 and theirs["minify"]["original_nodes"] > theirs["minify"]["final_nodes"]
    assert "failed" not in ours, ours
    assert "CppCompileError" in ours["error"] and ours["repro"].endswith("repro.py")
    mine = ours["minify"]
    assert mine["queries"] > 1 and mine["final_nodes"] < mine["original_nodes"]
    assert record["beyond_ratio"] is not None and record["final_no_larger"] is not None
    assert record["compdebug_s"] > 0 and record["torch_capture_s"] > 0
