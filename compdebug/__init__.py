"""compdebug: see, hook into and shrink `torch.compile` failures.

This file is the whole public face (see API.md); each name lives in the module
its name suggests.
"""

from compdebug.config import config
from compdebug.errors import (
    AccuracyError,
    CompdebugError,
    ReluCompileError,
    TestingOnlyCompileError,
)
from compdebug.callbacks import (
    compile_callbacks,
    on_compile_end,
    on_compile_start,
    remove_compile_callback,
)
from compdebug.explain import ExplainOutput, ExplainWithBackend
from compdebug.minify import (
    AccuracyFailure,
    CompileFailure,
    Minifier,
    MinifyResult,
    RuntimeFailure,
)
from compdebug.capture import wrap_backend
from compdebug.bisect import BisectResult, bisect
from compdebug import backends as _backends  # registers the testing backends and the compile hook

_backends.install()

__all__ = [
    "AccuracyError",
    "AccuracyFailure",
    "BisectResult",
    "CompdebugError",
    "CompileFailure",
    "ExplainOutput",
    "ExplainWithBackend",
    "Minifier",
    "MinifyResult",
    "ReluCompileError",
    "RuntimeFailure",
    "TestingOnlyCompileError",
    "bisect",
    "compile_callbacks",
    "config",
    "on_compile_end",
    "on_compile_start",
    "remove_compile_callback",
    "wrap_backend",
]
