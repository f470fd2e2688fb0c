"""Which compiler stage and subsystem breaks a graph: `bisect(gm, inputs, failure) -> BisectResult`.

It answers CompilerBisector's question on one captured graph, in this process,
by answering torch's own bisect hooks (see `compdebug.bisect.search`).
"""

from compdebug.bisect.result import BisectResult
from compdebug.bisect.search import bisect

__all__ = ["BisectResult", "bisect"]
