"""The in-process minifier: oracles that say how a graph fails, and `Minifier`, which shrinks it.

`Minifier(gm, inputs, CompileFailure("inductor")).minify()` returns a `MinifyResult`.
"""

from compdebug.minify.minifier import Minifier, MinifyResult
from compdebug.minify.oracles import AccuracyFailure, CompileFailure, RuntimeFailure

__all__ = ["AccuracyFailure", "CompileFailure", "Minifier", "MinifyResult", "RuntimeFailure"]
