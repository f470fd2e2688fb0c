"""compdebug: see, hook into and shrink `torch.compile` failures.

The names imported here are the public face (see API.md), each from the module
its name suggests (`wrap_backend` from capture). Importing compdebug registers
its testing backends with torch.compile and installs the hooks that let
`compdebug.config` act on plain `torch.compile`.
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
from compdebug import backends as _backends  # registers the testing backends and the compile hook

_backends.install()

__all__ = [
    "AccuracyError",
    "AccuracyFailure",
    "CompdebugError",
    "CompileFailure",
    "ExplainOutput",
    "ExplainWithBackend",
    "Minifier",
    "MinifyResult",
    "ReluCompileError",
    "RuntimeFailure",
    "TestingOnlyCompileError",
    "compile_callbacks",
    "config",
    "on_compile_end",
    "on_compile_start",
    "remove_compile_callback",
    "wrap_backend",
]
