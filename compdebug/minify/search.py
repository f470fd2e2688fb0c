"""Search strategies over a yes/no question, in few questions.

They know nothing of graphs: the shrinker gives them a question that builds a
candidate and asks the oracle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def find_integer(holds: Callable[[int], bool], limit: int) -> int:
    """The largest k in [0, limit] such that `holds(k)`, given `holds(0)` (never asked).

    Probes 1, 2, 4, ... (never past `limit`) until one fails, then bisects the
    last gap: small wins cost O(1) questions, large ones O(log k) (hypothesis'
    `find_integer`). Exact when `holds` is monotone; otherwise a k with
    `holds(k)` and `not holds(k + 1)`.
    """
    if limit <= 0:
        return 0
    lo, step = 0, 1
    while True:
        probe = min(step, limit)
        if not holds(probe):
            hi = probe
            break
        lo = probe
        if probe == limit:
            return limit
        step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if holds(mid):
            lo = mid
        else:
            hi = mid
    return lo


def find_first(lo: int, hi: int, holds: Callable[[int], bool]) -> int:
    """The smallest i in (lo, hi] such that `holds(i)`, given `holds(hi)` (never asked).

    `find_integer` counted from `lo`: lo+1, lo+2, lo+4, ... are asked first.
    """
    return lo + 1 + find_integer(lambda k: not holds(lo + k), hi - lo - 1)


def ddmin(current: Callable[[], Sequence[T]], remove: Callable[[Sequence[T]], bool]) -> None:
    """Delta debugging (Zeller's ddmin, complement tests): remove chunks of `current()` while `remove` succeeds.

    `remove(chunk)` tries the state without `chunk` and says whether it was
    kept; `current()` lists what is left (a removal may take more than the
    chunk with it). Chunks halve down to single items, so at the end no single
    item can be removed.
    """
    parts = 2
    while True:
        items = list(current())
        if not items:
            return
        parts = min(parts, len(items))
        for chunk in _split(items, parts):
            if remove(chunk) and list(current()) != items:
                parts = max(parts - 1, 2)
                break
        else:
            if parts >= len(items):
                return
            parts = min(parts * 2, len(items))


def _split(items: list[T], parts: int) -> list[list[T]]:
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks
