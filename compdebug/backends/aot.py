"""Hook the compiler that receives the graphs after AOT Autograd (forward, backward, inference).

The one place compdebug reaches into how Inductor and aot_autograd backends hand
their post-AOT graphs to an inner compiler. Checked on torch 2.13 (CPU) and 2.11 (CUDA).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import torch

from compdebug.errors import BackendError

log = logging.getLogger("compdebug.backends.aot")

CompilerFn = Callable[..., Any]
# takes the backend's real inner compiler, returns the compiler AOT Autograd should call instead
InnerWrapper = Callable[[CompilerFn], CompilerFn]

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
    import torch._functorch.config as functorch_config  # checked on torch 2.13 (CPU) and 2.11 (CUDA)

    # AOTAutogradCache would skip the inner compiler on a hit, and would store graphs
    # compiled with injected bugs for later plain compiles to load: off while we hook.
    with functorch_config.patch(enable_autograd_cache=False):
        if is_inductor(fn):
            return _compile_inductor(fn, gm, example_inputs, wrap)
        from torch._dynamo.backends.common import AotAutograd

        if isinstance(fn, AotAutograd):
            return _compile_aot_autograd(fn, gm, example_inputs, wrap)
        if _is_aot_eager(fn):
            from torch._dynamo.backends.debugging import boxed_nop

            return fn(gm, example_inputs, fw_compiler=wrap(boxed_nop), bw_compiler=wrap(boxed_nop))
    raise BackendError(
        f"cannot reach the graphs after AOT Autograd of the backend {_describe(fn)}: "
        f"inject.stage='aot' and repro_after='aot' support {SUPPORTED}. "
        "Use inject.stage='dynamo' / repro_after='dynamo' with this backend."
    )


def is_inductor(fn: Any) -> bool:
    """Whether `fn` is Inductor: its registered backend, `compile_fx`, or torch.compile's default wrapper."""
    from torch._dynamo.backends.registry import lookup_backend

    compile_fx_module = sys.modules.get("torch._inductor.compile_fx")  # not imported: fn cannot be its function
    if compile_fx_module is not None and fn is compile_fx_module.compile_fx:
        return True
    return fn is lookup_backend("inductor") or getattr(fn, "compiler_name", None) == "inductor"


def _compile_inductor(fn: Any, gm: torch.fx.GraphModule, example_inputs: list[Any], wrap: InnerWrapper) -> Any:
    from torch._inductor.compile_fx import compile_fx, compile_fx_inner

    # torch.compile's _TorchCompileInductorWrapper carries mode/options as config patches
    # and its region name; passed only when set (older compile_fx lacks compile_region_name)
    extra: dict[str, Any] = {}
    if getattr(fn, "config", None):
        extra["config_patches"] = dict(fn.config)
    if getattr(fn, "name", None):
        extra["compile_region_name"] = fn.name
    return compile_fx(gm, example_inputs, inner_compile=wrap(compile_fx_inner), **extra)


def _compile_aot_autograd(fn: Any, gm: torch.fx.GraphModule, example_inputs: list[Any], wrap: InnerWrapper) -> Any:
    from torch._dynamo.backends.common import aot_autograd

    kwargs = dict(fn.kwargs)
    forward = kwargs["fw_compiler"]
    # AotAutograd fills bw/inference compilers in on its first call; fall back as it does
    compilers = {
        "fw_compiler": forward,
        "bw_compiler": kwargs.get("bw_compiler") or forward,
        "inference_compiler": kwargs.get("inference_compiler") or forward,
    }
    kwargs.update({key: wrap(compiler) for key, compiler in compilers.items()})
    return aot_autograd(**kwargs)(gm, example_inputs)


def _is_aot_eager(fn: Any) -> bool:
    from torch._dynamo.backends.registry import lookup_backend

    return fn is lookup_backend("aot_eager")


def _describe(fn: Any) -> str:
    return repr(getattr(fn, "compiler_name", None) or getattr(fn, "__name__", None) or fn)
