"""Hook the compiler that receives the graphs after AOT Autograd (forward, backward, inference).

The one place compdebug reaches into how Inductor and aot_autograd backends hand
their post-AOT graphs to an inner compiler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from compdebug import _torch
from compdebug.backends.spec import CompilerFn, InnerWrapper
from compdebug.errors import BackendError

log = logging.getLogger("compdebug.backends.aot")

SUPPORTED = (
    "'inductor', 'aot_eager', and backends built with torch._dynamo.backends.common.aot_autograd(...) "
    "(such as 'aot_eager_default_partitioner' and 'aot_ts')"
)


def compile_after_aot(
    fn: CompilerFn, gm: torch.fx.GraphModule, example_inputs: list[Any], wrap: InnerWrapper
) -> Callable[..., Any]:
    """Compile `gm` with backend `fn`, every post-AOT graph going to `wrap(real inner compiler)`.

    Inner compilers are called as `compiler(gm, example_inputs, **kwargs)` and
    must return what the real one returns (Inductor: its `OutputCode`).
    """
    # AOTAutogradCache would skip the inner compiler on a hit, and would store graphs
    # compiled with injected bugs for later plain compiles to load: off while we hook.
    with _torch.no_autograd_cache():
        if is_inductor(fn):
            return _compile_inductor(fn, gm, example_inputs, wrap)
        if isinstance(fn, _torch.aot_autograd_class()):
            return _compile_aot_autograd(fn, gm, example_inputs, wrap)
        if _is_aot_eager(fn):
            nop = _torch.boxed_nop()
            return fn(gm, example_inputs, fw_compiler=wrap(nop), bw_compiler=wrap(nop))
    raise BackendError(
        f"cannot reach the graphs after AOT Autograd of the backend {_describe(fn)}: "
        f"inject.stage='aot' and repro_after='aot' support {SUPPORTED}. "
        "Use inject.stage='dynamo' / repro_after='dynamo' with this backend."
    )


def is_inductor(fn: Any) -> bool:
    """Whether `fn` is Inductor: its registered backend, `compile_fx`, or torch.compile's default wrapper."""
    if _torch.is_compile_fx(fn):
        return True
    return fn is _torch.lookup_backend("inductor") or getattr(fn, "compiler_name", None) == "inductor"


def _compile_inductor(fn: Any, gm: torch.fx.GraphModule, example_inputs: list[Any], wrap: InnerWrapper) -> Any:
    # torch.compile's _TorchCompileInductorWrapper carries mode/options as config patches
    # and its region name; passed only when set (older compile_fx lacks compile_region_name)
    extra: dict[str, Any] = {}
    if getattr(fn, "config", None):
        extra["config_patches"] = dict(fn.config)
    if getattr(fn, "name", None):
        extra["compile_region_name"] = fn.name
    return _torch.compile_fx(gm, example_inputs, inner_compile=wrap(_torch.compile_fx_inner()), **extra)


def _compile_aot_autograd(fn: Any, gm: torch.fx.GraphModule, example_inputs: list[Any], wrap: InnerWrapper) -> Any:
    kwargs = dict(fn.kwargs)
    forward = kwargs["fw_compiler"]
    # AotAutograd fills bw/inference compilers in on its first call; fall back as it does
    compilers = {
        "fw_compiler": forward,
        "bw_compiler": kwargs.get("bw_compiler") or forward,
        "inference_compiler": kwargs.get("inference_compiler") or forward,
    }
    kwargs.update({key: wrap(compiler) for key, compiler in compilers.items()})
    return _torch.aot_autograd(**kwargs)(gm, example_inputs)


def _is_aot_eager(fn: Any) -> bool:
    return fn is _torch.lookup_backend("aot_eager")


def _describe(fn: Any) -> str:
    return repr(getattr(fn, "compiler_name", None) or getattr(fn, "__name__", None) or fn)
