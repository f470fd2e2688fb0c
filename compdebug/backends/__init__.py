"""Backends: compdebug's testing backends, bug injection, and the hook that puts them under torch.compile.

`install()` (run when compdebug is imported) registers the testing backends and
installs the compile hook; both are idempotent.
"""

from __future__ import annotations

from compdebug.backends.inject import compile_injected
from compdebug.backends.interpose import install_compile_hook
from compdebug.backends.match import matches
from compdebug.backends.spec import BackendSpec, resolve_backend
from compdebug.backends.testing import register_testing_backends


def install() -> None:
    """Register the testing backends with torch.compile and install the compile hook."""
    register_testing_backends()
    install_compile_hook()


__all__ = ["BackendSpec", "compile_injected", "install", "matches", "resolve_backend"]
