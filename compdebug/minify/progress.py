"""Showing a minification as it goes: a tqdm bar when tqdm is installed, else log lines."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any, Protocol

log = logging.getLogger("compdebug.minify")


class Progress(Protocol):
    def update(self, nodes: int, queries: int) -> None:
        """The best graph now has `nodes` nodes, after `queries` queries."""
        ...

    def close(self) -> None: ...


class Silent:
    def update(self, nodes: int, queries: int) -> None:
        pass

    def close(self) -> None:
        pass


class LogLines:
    """One INFO line on logger "compdebug.minify" each time the graph shrinks."""

    def __init__(self, start_nodes: int) -> None:
        self.start = self.last = start_nodes

    def update(self, nodes: int, queries: int) -> None:
        if nodes < self.last:
            self.last = nodes
            log.info("minify: %d -> %d nodes after %d queries", self.start, nodes, queries)

    def close(self) -> None:
        pass


class Bar:
    """A tqdm bar counting nodes removed, with the query count beside it."""

    def __init__(self, start_nodes: int) -> None:
        from tqdm.auto import tqdm

        self.start = start_nodes
        self.bar: Any = tqdm(total=start_nodes, desc="compdebug minify", unit="node", leave=False)
        self.bar.set_postfix_str(f"{start_nodes} nodes, 0 queries")

    def update(self, nodes: int, queries: int) -> None:
        self.bar.update(self.start - nodes - self.bar.n)
        self.bar.set_postfix_str(f"{nodes} nodes, {queries} queries", refresh=False)

    def close(self) -> None:
        self.bar.close()


def make_progress(enabled: bool, start_nodes: int) -> Progress:
    if not enabled:
        return Silent()
    if importlib.util.find_spec("tqdm") is not None:
        return Bar(start_nodes)
    return LogLines(start_nodes)
