"""Backends: compdebug's testing backends, bug injection, and the hook that puts them under torch.compile.

`install()` (run when compdebug is imported) registers the testing backends,
installs the compile hook and hooks `config.patch` for the warning about
injected ops no graph held; all idempotent.
"""

from __future__ import annotations

from compdebug.backends.aot import compile_injected
from compdebug.backends.interpose import install_compile_hook
from compdebug.backends.match import matches
from compdebug.backends.spec import BackendSpec, resolve_backend
from compdebug.backends.testing import register_testing_backends
from compdebug.backends.unmatched import install as install_unmatched_warning


def install() -> None:
    """Register the testing backends, install the compile hook and the warning about unmatched injected ops."""
    register_testing_backends()
    install_compile_hook()
    install_unmatched_warning()


__all__ = ["BackendSpec", "compile_injected", "install", "matches", "resolve_backend"]
