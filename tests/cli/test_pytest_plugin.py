"""The pytest plugin: idle by default; with --compdebug-after, one capture folder per failing test."""

from __future__ import annotations

import re

from compdebug.pytest_plugin import folder_name

pytest_plugins = ["pytester"]

TESTS = """
import pytest
import torch

def test_fails():
    torch.compile(lambda x: torch.relu(x.sin()) * 2, backend="compdebug_relu_compile_error")(torch.randn(4))

def test_passes():
    torch.compile(lambda x: x.sin() * 2, backend="compdebug_relu_compile_error")(torch.randn(4))

def test_expects_the_failure():  # passes: its capture is not kept
    with pytest.raises(Exception, match="ReluCompileError"):
        torch.compile(lambda x: torch.relu(x.cos()) + 1, backend="compdebug_relu_compile_error")(torch.randn(4))
"""

MORE_TESTS = """
import pytest
import torch

@pytest.mark.xfail(reason="a known compiler bug")
def test_known_bug():
    torch.compile(lambda x: torch.relu(x) - 1, backend="compdebug_relu_compile_error")(torch.randn(4))

def test_fails_twice():
    try:
        torch.compile(lambda x: torch.relu(x).sin(), backend="compdebug_relu_compile_error")(torch.randn(4))
    except Exception:
        pass
    torch.compile(lambda x: torch.relu(x).cos(), backend="compdebug_relu_compile_error")(torch.randn(4))
"""


def test_one_folder_named_after_each_failing_test_listed_in_the_summary(pytester):
    pytester.makepyfile(test_model=TESTS, test_more=MORE_TESTS)
    caps = pytester.path / "caps"
    result = pytester.runpytest_subprocess("--compdebug-after=dynamo", f"--compdebug-dir={caps}", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2, passed=2, xfailed=1)
    assert sorted(p.name for p in caps.iterdir()) == [  # none for the passing tests
        "test_model.py__test_fails", "test_more.py__test_fails_twice", "test_more.py__test_known_bug"]
    forward = (caps / "test_model.py__test_fails" / "repro.py").read_text().split("def forward")[1]
    assert "torch.relu" in forward and "mul" not in forward  # minified to the relu
    twice = caps / "test_more.py__test_fails_twice"
    assert (twice / "repro.py").is_file() and (twice / "capture-2" / "repro.py").is_file()
    assert "sin" in (twice / "checkpoint" / "graph.py").read_text()  # the graphs as captured, in order
    assert "cos" in (twice / "capture-2" / "checkpoint" / "graph.py").read_text()
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ compdebug captures =+", line))
    assert lines[start + 1 : start + 5] == [
        "test_model.py::test_fails -> caps/test_model.py__test_fails/repro.py",
        "test_more.py::test_known_bug -> caps/test_more.py__test_known_bug/repro.py",
        "test_more.py::test_fails_twice -> caps/test_more.py__test_fails_twice/repro.py",
        "test_more.py::test_fails_twice -> caps/test_more.py__test_fails_twice/capture-2/repro.py",
    ]
    assert lines[start + 5].startswith("(1 passing test(s) caught a compile failure themselves")


def test_plain_pytest_imports_neither_compdebug_nor_torch(pytester):
    pytester.makepyfile(test_plain="""
        import sys

        def test_untouched(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("compdebug")  # found through the entry point
            assert "torch" not in sys.modules and "compdebug" not in sys.modules
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "compdebug_repro").exists()


def test_folder_names_are_safe_readable_and_bounded():
    assert folder_name("tests/test_x.py::TestA::test_b[a/b c-1]") == "tests_test_x.py__TestA__test_b_a_b_c-1"
    long = folder_name("t.py::test[" + "x" * 300 + "]")
    assert len(long) <= 120 and long != folder_name("t.py::test[" + "x" * 299 + "y]")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", folder_name("t.py::test[ü/..\\:*?]"))
