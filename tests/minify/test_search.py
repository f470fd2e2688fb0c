"""The search strategies on plain integers and sets: answers and question counts."""

from __future__ import annotations

import math

import pytest

from compdebug.minify.search import ddmin, find_first, find_integer


@pytest.mark.parametrize("n", [1, 2, 3, 17, 41, 1000])
def test_find_first_finds_the_boundary_in_logarithmic_questions(n):
    for answer in range(1, n + 1):
        asked = []

        def holds(i):
            assert 0 < i < n, "never asks outside (lo, hi)"
            asked.append(i)
            return i >= answer

        assert find_first(0, n, holds) == answer
        assert len(asked) == len(set(asked))
        assert len(asked) <= 2 * math.ceil(math.log2(answer + 1)) + 1


@pytest.mark.parametrize("limit", [0, 1, 5, 40, 999])
def test_find_integer_finds_the_largest_k_in_logarithmic_questions(limit):
    for answer in range(0, limit + 1):
        asked = []

        def holds(k):
            assert 0 < k <= limit
            asked.append(k)
            return k <= answer

        assert find_integer(holds, limit) == answer
        assert len(asked) == len(set(asked))
        assert len(asked) <= 2 * math.ceil(math.log2(answer + 2)) + 1


def test_find_first_asks_small_candidates_first_and_prefers_early_failures():
    # fails at 1 and from 30 on: the early failure wins
    asked = []

    def holds(i):
        asked.append(i)
        return i == 1 or i >= 30

    assert find_first(0, 41, holds) == 1
    assert asked == [1]


def test_find_first_from_minus_one_can_answer_zero():
    assert find_first(-1, 10, lambda i: True) == 0
    assert find_first(-1, 10, lambda i: i >= 3) == 3


class SetState:
    """A set that shrinks while a predicate of it still holds."""

    def __init__(self, items, fails):
        self.items = list(items)
        self.fails = fails
        self.questions = 0

    def remove(self, chunk):
        rest = [x for x in self.items if x not in chunk]
        self.questions += 1
        if self.fails(rest):
            self.items = rest
            return True
        return False


def test_ddmin_reaches_a_one_minimal_set():
    state = SetState(range(100), lambda s: {3, 57, 58} <= set(s))
    ddmin(lambda: state.items, state.remove)
    assert state.items == [3, 57, 58]
    assert state.questions < 60


def test_ddmin_stops_when_nothing_can_go():
    state = SetState(range(8), lambda s: len(s) == 8)
    ddmin(lambda: state.items, state.remove)
    assert state.items == list(range(8))
    assert state.questions == 2 + 4 + 8


def test_ddmin_handles_removals_that_take_more_than_the_chunk():
    # removing an odd number also removes the one before it, as freezing a node removes what fed it
    state = SetState(range(20), lambda s: 7 in s)

    def remove(chunk):
        wider = set(chunk) | {x - 1 for x in chunk if x % 2 == 1}
        return state.remove(wider)

    ddmin(lambda: state.items, remove)
    assert state.items == [7]
