"""The compile hook: plain `torch.compile` honours compdebug's config with no change to user code.

Dynamo turns every backend into a callable through `eval_frame.get_compiler_fn`,
which wraps it in torch's `WrapBackendDebug`. `install_compile_hook` wraps that
function once, so every backend Dynamo compiles with passes through a
`CompileHook`, which reads compdebug's config at compile time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch

from compdebug import _torch
from compdebug.backends.spec import BackendSpec, resolve_backend
from compdebug.backends.suspend import is_capture_suspended
from compdebug.config import config
from compdebug.errors import BackendError

log = logging.getLogger("compdebug.backends.interpose")

_MARK = "_compdebug_compile_hook"


class CompileHook:
    """Stands where torch's debug wrapper stood; decides at each compile what compdebug does.

    With nothing set it calls torch's wrapper unchanged. Every other attribute
    Dynamo reads (`__name__`, `get_compiler_config`, `backend_ctx_ctor`, what
    torch's wrapper copied from the backend) is torch's wrapper's;
    `_torchdynamo_orig_backend` is the user's backend, as on torch's wrapper, so
    Dynamo's unwrapping (`innermost_backend`, the backend cache reset) finds it.
    """

    def __init__(self, torch_wrapper: Callable[..., Any], backend: Any) -> None:
        self._torch_wrapper = torch_wrapper
        self._backend = backend  # what Dynamo was given: a name, a callable, torch.compile's wrapper
        setattr(self, _torch.ORIG_BACKEND_ATTR, getattr(torch_wrapper, _torch.ORIG_BACKEND_ATTR, backend))

    def __getattr__(self, name: str) -> Any:
        # only reached for names this object lacks
        if name == "_torch_wrapper":  # not set yet (copy, unpickling)
            raise AttributeError(name)
        return getattr(self._torch_wrapper, name)

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any], **kwargs: Any) -> Callable[..., Any]:
        if not hook_active() or _captures_itself(getattr(self, _torch.ORIG_BACKEND_ATTR)):
            return self._torch_wrapper(gm, example_inputs, **kwargs)
        spec = spec_for(self._backend, **kwargs)
        _check_codegen_backend(spec)
        if config.repro_after is not None:
            return _capture(config.repro_after)(spec, gm, example_inputs)
        return spec.compile(gm, example_inputs)


# repro_after value -> capture(spec, gm, example_inputs); filled by compdebug.capture, which sits
# downstream of backends and registers itself when imported (importing compdebug imports it)
_CAPTURES: dict[str, Callable[..., Callable[..., Any]]] = {}


def register_captures(captures: Mapping[str, Callable[..., Callable[..., Any]]]) -> None:
    """Let the compile hook hand graphs to `captures[config.repro_after]`."""
    _CAPTURES.update(captures)


def _capture(after: str) -> Callable[..., Callable[..., Any]]:
    if after not in _CAPTURES:
        raise BackendError(
            f"repro_after={after!r} is set but compdebug's capture is not loaded: import compdebug (not only "
            "compdebug.backends) before compiling"
        )
    return _CAPTURES[after]


def hook_active() -> bool:
    """Whether compdebug's config asks the compile hook to act (capture or bug injection).

    Never while compdebug compiles a graph itself (`capture_suspended`), so that
    minifying a captured failure never captures or injects into its own candidates.
    """
    if is_capture_suspended():
        return False
    return config.repro_after is not None or bool(config.inject.ops)


def spec_for(backend: Any, **kwargs: Any) -> BackendSpec:
    """The `BackendSpec` of what was given to torch.compile / torch._dynamo.optimize.

    torch.compile wraps its backend: `_TorchCompileInductorWrapper` for the default
    (its mode and options become the spec's Inductor settings), `_TorchCompileWrapper`
    otherwise. `kwargs` are the extra arguments Dynamo passed to the backend.
    """
    from compdebug.backends.aot import is_inductor

    spec = resolve_backend(_unwrapped(backend))
    if _is_compile_wrapper(backend):
        kwargs = {**backend.kwargs, **kwargs}
    if is_inductor(spec.fn):
        options = dict(getattr(backend, "config", None) or {}) if _is_inductor_wrapper(backend) else {}
        options.update(kwargs.pop("config_patches", None) or {})  # Dynamo's per-graph overrides
        if options:
            spec = attrs.evolve(spec, inductor_settings={**options, **spec.inductor_settings})
    if kwargs:
        # mode=/options= of another backend: used to compile, but a script cannot name them
        log.warning("backend arguments %s are used to compile but not written into repro scripts", kwargs)
        spec = attrs.evolve(spec, fn=functools.partial(spec.fn, **kwargs))
    return spec


def _unwrapped(backend: Any) -> Any:
    """The backend torch.compile's wrapper stands for: a registered name where there is one."""
    if _is_inductor_wrapper(backend):
        return "inductor"
    if _is_compile_wrapper(backend):
        name = backend.compiler_name
        if isinstance(name, str) and _is_registered(name) and _lookup(name) is backend.compiler_fn:
            return name
        return backend.compiler_fn
    return backend


def _is_inductor_wrapper(backend: Any) -> bool:
    return isinstance(backend, _torch.TorchCompileInductorWrapper) and backend.compiler_name == "inductor"


def _is_compile_wrapper(backend: Any) -> bool:
    return isinstance(backend, _torch.TorchCompileWrapper)


def _is_registered(name: str) -> bool:
    return name in _torch.registered_functions() or name in _torch.registered_backends()


def _lookup(name: str) -> Any:
    return _torch.lookup_backend(name)


def _captures_itself(backend: Any) -> bool:
    """Whether the backend is already compdebug's capturing wrapper (`wrap_backend`)."""
    inner = getattr(backend, "compiler_fn", backend)  # through torch.compile's wrapper
    return bool(getattr(inner, "_compdebug_captures", False))


def _check_codegen_backend(spec: BackendSpec) -> None:
    from compdebug.backends.aot import is_inductor

    if config.inject.ops and config.inject.stage == "codegen" and not is_inductor(spec.fn):
        raise BackendError(
            f"inject.stage='codegen' plants bugs in inductor's generated code, but the backend is {spec.label}; "
            "compile with the inductor backend or use inject.stage='dynamo' / 'aot'"
        )


def install_compile_hook() -> None:
    """Wrap `torch._dynamo.eval_frame.get_compiler_fn` once so Dynamo's backends pass through `CompileHook`.

    Also lets the note capture adds to a backend's error (where its repro went)
    reach the `BackendCompilerFailed` Dynamo wraps it in, which the user catches.
    """
    _torch.install_compiler_fn_hook(CompileHook, _MARK)
    _torch.install_backend_failure_notes(is_compdebug_note, _MARK)


def is_compdebug_note(note: str) -> bool:
    """Whether an exception note is one compdebug added (capture's 'compdebug: repro written to ...')."""
    return note.startswith("compdebug:")
