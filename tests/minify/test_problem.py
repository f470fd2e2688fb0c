"""Candidates as sub-graphs of the original: normal form, the moves, cache keys, faithful inputs."""

from __future__ import annotations

import torch
import torch.fx as fx

from compdebug.minify import passes
from compdebug.minify.problem import Candidate, Problem
from compdebug.minify.values import InMemoryValues, run_eager


def _problem(fn, *inputs) -> Problem:
    gm = fx.symbolic_trace(fn)
    problem = Problem(gm, gm, list(inputs))
    store = InMemoryValues()
    problem.attach_values(run_eager(gm, list(inputs), store), store)
    return problem


def diamond(x, y):
    a = torch.sin(x)
    b = torch.cos(a)
    c = torch.tanh(a) * y
    return torch.relu(b + c), torch.sigmoid(y)


def test_the_original_candidate_rebuilds_the_original_graph():
    problem = _problem(diamond, torch.randn(3), torch.randn(3))
    layout = problem.layout(problem.original)
    assert problem.graph_module(layout).code == problem.gm.code
    assert layout.node_count == len(problem.gm.graph.nodes)


def test_cut_after_returns_what_the_prefix_hands_on():
    problem = _problem(diamond, torch.randn(3), torch.randn(3))
    layout = problem.layout(problem.original)
    assert layout.compute == ("sin", "cos", "tanh", "mul", "add", "relu", "sigmoid")
    cut = problem.layout(passes.cut_after(problem, layout, 3))
    assert cut.outputs == ("cos", "tanh")  # a is used only inside the prefix
    assert cut.compute == ("sin", "cos", "tanh")


def test_freeze_removes_what_fed_only_the_frozen_node_and_split_keeps_it():
    problem = _problem(diamond, torch.randn(3), torch.randn(3))
    layout = problem.layout(problem.original)
    frozen = problem.layout(passes.freeze(layout, ["add"]))
    assert frozen.compute == ("relu", "sigmoid") and frozen.inputs == ("y", "add")
    split = problem.layout(passes.split_off(problem, layout, ["add"]))
    assert split.outputs == ("cos", "mul", "relu", "sigmoid")
    assert "sin" in split.compute and "add" not in split.compute
    gm = problem.graph_module(frozen)
    assert [n.name for n in gm.graph.nodes if n.op == "placeholder"] == ["y", "add"]


def test_cache_keys_ignore_which_values_feed_inputs_only_when_asked():
    problem = _problem(lambda x: (torch.sin(torch.sin(torch.sin(x))),), torch.randn(3))
    layout = problem.layout(problem.original)
    one = problem.layout(passes.freeze_all_but_last(problem, layout, 1))  # sin_2(sin_1)
    two = problem.layout(Candidate(("sin_1",), frozenset(), frozenset({"sin"})))  # sin_1(sin)
    assert one.compute != two.compute
    assert problem.structure_key(one, value_sensitive=False) == problem.structure_key(two, value_sensitive=False)
    assert problem.structure_key(one, value_sensitive=True) != problem.structure_key(two, value_sensitive=True)


def test_inputs_are_faithful_only_without_live_memory_sharers():
    def program(x):
        a = torch.sin(x)
        z = torch.cos(a.t())
        w = z.mul_(2)
        return torch.relu(w) + a

    problem = _problem(program, torch.randn(3, 3))
    layout = problem.layout(problem.original)
    assert not problem.faithful(problem.layout(passes.freeze(layout, ["t"])))  # its base sin stays
    assert not problem.faithful(problem.layout(passes.freeze(layout, ["cos"])))  # mul_ writes into it
    assert problem.faithful(problem.layout(Candidate(("relu",), frozenset(), frozenset({"mul_"}))))
    assert problem.faithful(problem.layout(Candidate(("t",), frozenset(), frozenset())))


def test_an_input_must_hold_what_its_users_read_after_an_in_place_write():
    def program(x):
        z = torch.cos(x)
        z.mul_(2)  # nothing uses the result: relu reads the written memory through z
        return torch.relu(z)

    problem = _problem(program, torch.randn(3))
    assert problem.facts.first_write == {"cos": "mul_"}
    assert not problem.faithful(problem.layout(Candidate(("relu",), frozenset(), frozenset({"cos"}))))
