"""The benchmark harness works: `python -m benchmarks --quick` runs and records sane figures.

Nothing here is timed; the figures that matter are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import torch

from benchmarks import corpus
from benchmarks.markers import CULPRIT, count_calls
from benchmarks.report import geomean, summarize

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
