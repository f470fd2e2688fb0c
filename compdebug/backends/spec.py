"""BackendSpec: one failing compiler, nameable in a repro script.

`resolve_backend` is the one doorway from "what the user passed" (a name, a
callable, a spec) to a compiler compdebug can call, describe and write into a
script, together with the bug-injection settings in force when it was resolved.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch

from compdebug import _torch
from compdebug.config import CODEGEN_BUGS, config
from compdebug.backends import aot, dynamic
from compdebug.backends.suspend import capture_suspended
from compdebug.backends.types import CompilerFn, InnerWrapper, importable_path
from compdebug.errors import BackendError




@attrs.frozen
class BackendSpec:
    """A compiler plus the settings that make it fail, as data a script can restore.

    `inner` is set for a graph captured after AOT Autograd: such a graph is
    compiled by the backend's inner compiler, as AOT Autograd handed it over
    (see `compdebug.backends.aot.compile_inner`), not by the backend itself.
    """

    label: str
    fn: CompilerFn = attrs.field(eq=False, repr=False)
    name: str | None = None  # registered torch.compile name ("inductor")
    import_path: str | None = None  # "package.module:qualname" when importable
    inject_ops: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    inject_stage: str = "dynamo"
    inductor_settings: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    inner: aot.InnerCall | None = None

    @property
    def needs_compdebug(self) -> bool:
        """Whether a repro script must import compdebug to fail the same way."""
        own_backend = (self.name or "").startswith("compdebug_") or (self.import_path or "").startswith("compdebug")
        return own_backend or bool(self.inject_ops)

    @property
    def nameable(self) -> bool:
        return self.name is not None or self.import_path is not None

    def compile(
        self, gm: torch.fx.GraphModule, example_inputs: list[Any], *, wrap_inner: InnerWrapper | None = None
    ) -> Callable[..., Any]:
        """Compile `gm` the failing way; the returned callable runs under the same settings.

        Capture is switched off while compiling, so that minifying a captured
        failure never captures its own candidates. `wrap_inner`, if given, wraps
        the compiler that receives the graphs after AOT Autograd (after-AOT capture).
        A spec with `inner` compiles `gm`, a post-AOT graph, with the inner compiler.
        A Dynamo graph traced with symbolic inputs and given real ones is traced
        by Dynamo again with the same dims dynamic (`compdebug.backends.dynamic`).
        """
        with self._settings():
            if self.inner is not None:
                compiled = aot.compile_inner(self, gm, example_inputs)
            elif wrap_inner is None and dynamic.needs_dynamo(gm, example_inputs):  # symbolic after Dynamo: again
                compiled = dynamic.compile_through_dynamo(self.compile, gm, example_inputs)
            else:
                compiled = aot.compile_injected(
                    self.fn, gm, example_inputs, self.inject_ops, self.inject_stage, wrap_inner=wrap_inner
                )

        @functools.wraps(compiled)
        def run(*args: Any) -> Any:
            with self._settings():
                return compiled(*args)

        return run

    def _settings(self) -> Any:
        """Capture suspended in this context (no global config change) and Inductor's settings applied."""
        import contextlib

        stack = contextlib.ExitStack()
        stack.enter_context(capture_suspended())
        if self.inductor_settings:
            stack.enter_context(_torch.inductor_config_patch(self.inductor_settings))
        return stack

    def backend_source(self) -> str:
        """A Python expression naming the backend in a script (after `script_imports`)."""
        if self.name is not None:
            return repr(self.name)
        if self.import_path is not None:
            module, qualname = self.import_path.split(":")
            return f"{module}.{qualname}"
        raise BackendError(
            f"the backend {self.label} has no registered name and cannot be imported by a script "
            "(a lambda, a local function or one defined in __main__). Register it with "
            "torch._dynamo.register_backend(name=...) or define it at module level in an importable module."
        )

    def script_imports(self) -> list[str]:
        lines = []
        if self.needs_compdebug:
            lines.append("import compdebug  # registers compdebug's testing backends and bug injection")
        # a user's backend named by its registered name is registered when its module is imported
        user_module = self.import_path is not None and not self.import_path.startswith(("torch.", "compdebug."))
        if self.import_path is not None and (self.name is None or user_module):
            lines.append(f"import {self.import_path.split(':')[0]}")
        return lines

    def script_setup(self) -> list[str]:
        """Statements that restore the settings the failure depends on."""
        lines = []
        if self.inject_ops and self.inner is None:  # after AOT, the script plants aot bugs itself
            lines.append(
                f"compdebug.config.load({{'inject.ops': {dict(self.inject_ops)!r}, 'inject.stage': {self.inject_stage!r}}})"
            )
        if self.inductor_settings:
            lines.append(f"import {_torch.INDUCTOR_CONFIG_MODULE}")
            for key, value in sorted(self.inductor_settings.items()):
                lines.append(f"{_torch.INDUCTOR_CONFIG_MODULE}.{key} = {value!r}")
        return lines


def resolve_backend(backend: str | CompilerFn | BackendSpec, *, with_injection: bool = True) -> BackendSpec:
    """Turn a backend name, callable or spec into a `BackendSpec`.

    With `with_injection`, the bug-injection keys of `compdebug.config` in force
    now are recorded in the spec (and so in any repro written from it): this
    reads global config, so it belongs at the API boundary (the compile hook,
    `wrap_backend`, a failure predicate the user builds); code below passes specs.
    A spec is returned as it is, and nothing is read.
    """
    if isinstance(backend, BackendSpec):
        return backend
    inject = injection_fields(config.inject.ops, config.inject.stage) if with_injection else {}
    if isinstance(backend, str):
        return BackendSpec(label=repr(backend), fn=_lookup(backend), name=backend, **inject)
    if not callable(backend):
        raise BackendError(f"a backend must be a registered name or a callable (gm, example_inputs); got {backend!r}")
    name = _registered_name(backend)
    return BackendSpec(
        label=name or getattr(backend, "__qualname__", repr(backend)),
        fn=backend,
        name=name,
        import_path=importable_path(backend),
        **inject,
    )


def injection_fields(ops: Mapping[str, str], stage: str) -> dict[str, Any]:
    """The `BackendSpec` fields that plant the bugs `ops` at `stage` (as config's `inject.*` say)."""
    if not ops:
        return {}
    if stage != "codegen":
        return {"inject_ops": dict(ops), "inject_stage": stage}
    return {"inductor_settings": inductor_bug_settings(ops)}


def inductor_bug_settings(ops: Mapping[str, str]) -> dict[str, Any]:
    """Inductor's own code-generation bug knobs for `ops` (validated by config)."""
    settings: dict[str, Any] = {}
    for op, kind in ops.items():
        assert kind in CODEGEN_BUGS[op]
        settings[f"cpp.inject_{op}_bug_TESTING_ONLY"] = kind
        if op == "relu":  # triton has a relu bug only
            settings["triton.inject_relu_bug_TESTING_ONLY"] = kind
    return settings


def registered_backends() -> list[str]:
    return _torch.registered_backends()


def _lookup(name: str) -> CompilerFn:
    known = registered_backends()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise BackendError(f"unknown backend {name!r}.{hint} Registered backends: {', '.join(known)}")
    return _torch.lookup_backend(name)


def _registered_name(fn: Callable[..., Any]) -> str | None:
    registered_backends()  # loads the lazily registered ones
    for name, entry in _torch.registered_functions().items():
        if entry is fn:
            return name
    return None
