"""Every use of torch's private API, in one room.

compdebug reaches into Dynamo, AOT Autograd and Inductor where torch offers no
public hook. Each such reach is a small function here, so that a torch release
that moves something breaks one file, and the range of torch versions we claim
(setup.cfg) is the range these functions were checked on: torch 2.13 (CPU build,
CI) and torch 2.11 (CUDA build with Triton, the GPU machine).

Imports of torch's private modules happen inside the functions: importing
compdebug must not import Inductor.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.fx

# -- ops --------------------------------------------------------------------
# torch._ops.OpOverload (aten.relu.default) and OpOverloadPacket (aten.relu).
OpOverload = torch._ops.OpOverload
OpOverloadPacket = torch._ops.OpOverloadPacket
# torch._C._nn: the C functions behind some of torch.nn.functional (gelu, linear, ...).
NN_FUNCTIONS = torch._C._nn


def is_op_overload(target: Any) -> bool:
    return isinstance(target, OpOverload)


def is_op_packet(target: Any) -> bool:
    return isinstance(target, OpOverloadPacket)


def aten_name(target: Any) -> tuple[str, str] | None:
    """(namespace, name) of an aten-style op ("aten", "relu" for aten.relu.default), else None."""
    if isinstance(target, OpOverload):
        target = target.overloadpacket
    if isinstance(target, OpOverloadPacket):
        namespace, _, name = target._qualified_op_name.partition("::")
        return namespace, name
    return None


def decomposed_from(node: torch.fx.Node) -> tuple[str, str] | None:
    """(namespace, name) of the op whose decomposition made `node` (AOT Autograd's graphs), else None.

    make_fx records it in `node.meta["original_aten"]` (the op itself where nothing was decomposed).
    """
    return aten_name(node.meta.get("original_aten"))


def op_schema(target: Any) -> Any:
    """The schema (torch._C.FunctionSchema) of an OpOverload."""
    return target._schema


def packet_schemas(packet: Any) -> list[Any]:
    """The schemas of every overload of an OpOverloadPacket."""
    return [getattr(packet, overload)._schema for overload in packet.overloads()]


# -- pytrees ----------------------------------------------------------------
# torch.utils._pytree knows torch's own containers (torch.return_types, ...).
def tree_leaves(value: Any) -> list[Any]:
    import torch.utils._pytree as pytree

    return pytree.tree_leaves(value)


def tree_flatten(value: Any) -> tuple[list[Any], Any]:
    """(leaves, spec) of `value`; `tree_unflatten(leaves, spec)` rebuilds it."""
    import torch.utils._pytree as pytree

    return pytree.tree_flatten(value)


def tree_unflatten(leaves: list[Any], spec: Any) -> Any:
    import torch.utils._pytree as pytree

    return pytree.tree_unflatten(leaves, spec)


def tree_map(fn: Callable[[Any], Any], value: Any) -> Any:
    import torch.utils._pytree as pytree

    return pytree.tree_map(fn, value)


# -- backends registry --------------------------------------------------------
def registered_backends() -> list[str]:
    """Every name torch.compile(backend=NAME) accepts, the lazily registered ones included."""
    from torch._dynamo import list_backends

    return sorted(set(list_backends(exclude_tags=())))


def lookup_backend(name: str) -> Callable[..., Any]:
    from torch._dynamo.backends.registry import lookup_backend as lookup

    return lookup(name)


def registered_functions() -> Mapping[str, Any]:
    """Name -> compiler function of the backends registered so far (`_COMPILER_FNS`)."""
    from torch._dynamo.backends.registry import _COMPILER_FNS

    return _COMPILER_FNS


def register_backend(fn: Callable[..., Any], name: str, tags: tuple[str, ...] = ()) -> None:
    from torch._dynamo.backends.registry import register_backend as register

    register(compiler_fn=fn, name=name, tags=tags)


# torch.compile's backend wrappers: the default one carries Inductor's mode/options.
TorchCompileWrapper = torch._TorchCompileWrapper
TorchCompileInductorWrapper = torch._TorchCompileInductorWrapper


def install_compiler_fn_hook(wrap: Callable[[Any, Any], Any], mark: str) -> None:
    """Make Dynamo's `eval_frame.get_compiler_fn(backend)` return `wrap(torch's result, backend)`.

    Idempotent: a hook already installed (found by `mark`) is left as it is.
    """
    import functools

    from torch._dynamo import eval_frame

    original = eval_frame.get_compiler_fn
    if getattr(original, mark, False):
        return

    @functools.wraps(original)
    def get_compiler_fn(compiler_fn: Any) -> Any:
        return wrap(original(compiler_fn), compiler_fn)

    setattr(get_compiler_fn, mark, True)
    eval_frame.get_compiler_fn = get_compiler_fn


# -- errors Dynamo wraps --------------------------------------------------------
def install_backend_failure_notes(keep: Callable[[str], bool], mark: str) -> None:
    """Make Dynamo's `BackendCompilerFailed` carry the notes `keep` selects of the backend error it wraps.

    Dynamo raises it `from None`, so notes on the backend's own error appear
    neither on the exception the user catches nor in its printed traceback.
    Idempotent (found by `mark`). Checked on torch 2.13 and 2.11:
    `BackendCompilerFailed(backend_fn, inner_exception, first_useful_frame)`.
    """
    import functools

    from torch._dynamo.exc import BackendCompilerFailed

    original = BackendCompilerFailed.__init__
    if getattr(original, mark, False):
        return

    @functools.wraps(original)
    def __init__(self: Any, backend_fn: Any, inner_exception: BaseException, *args: Any, **kwargs: Any) -> None:
        original(self, backend_fn, inner_exception, *args, **kwargs)
        for note in getattr(inner_exception, "__notes__", ()):
            if isinstance(note, str) and keep(note):
                self.add_note(note)

    setattr(__init__, mark, True)
    BackendCompilerFailed.__init__ = __init__  # type: ignore[method-assign]


# -- compile callbacks and frames ---------------------------------------------
def callback_handler() -> Any:
    """torch's compile-callback handler: start_callbacks / end_callbacks and register_*_callback.

    torch 2.6 calls callbacks with no argument, later versions with CallbackArgs.
    """
    from torch._dynamo.callback import callback_handler as handler

    return handler


def current_compile_id() -> Any:
    from torch._guards import CompileContext

    return CompileContext.current_compile_id()


def dynamo_rewritten_codes() -> Any:
    """The code objects Dynamo produced (a frame running one is Dynamo's rewritten bytecode), or ()."""
    try:
        from torch._dynamo.convert_frame import output_codes
    except ImportError:
        return ()
    return output_codes


def dynamo_original_code(code: Any) -> Any:
    """The code object Dynamo rewrote into `code` (a user function or a resume function), or None.

    `torch._dynamo.reset()` forgets the mapping, with the rewritten codes.
    """
    from torch._dynamo.utils import orig_code_map

    return orig_code_map.get(code)


def dynamo_compiling_code() -> Any:
    """The code object of the frame Dynamo is compiling now (called from a backend), or None.

    The instruction translator of the frame (not of a call Dynamo inlines into it)
    is in Dynamo's thread-local `current_tx` while the frame compiles.
    """
    from torch._dynamo.symbolic_convert import InstructionTranslator

    try:
        tx = InstructionTranslator.current_tx()
    except AttributeError:  # no frame compiled in this thread yet
        return None
    return getattr(tx, "f_code", None)


# -- AOT Autograd and Inductor ------------------------------------------------
def is_compile_fx(fn: Any) -> bool:
    module = sys.modules.get("torch._inductor.compile_fx")  # not imported: fn cannot be its function
    return module is not None and fn is module.compile_fx


def compile_fx(gm: torch.fx.GraphModule, example_inputs: list[Any], **kwargs: Any) -> Any:
    from torch._inductor.compile_fx import compile_fx as compile

    return compile(gm, example_inputs, **kwargs)


def compile_fx_inner() -> Callable[..., Any]:
    """Inductor's inner compiler. compdebug passes it only `static_input_idxs`, `is_backward`,
    `is_inference` and `cudagraphs` (a BoxedBool), keywords it has taken since well before 2.11."""
    from torch._inductor.compile_fx import compile_fx_inner as inner

    return inner


def boxed_bool(value: bool) -> Any:
    """Inductor's mutable bool box (`torch._inductor.utils.BoxedBool`), as compile_fx hands `cudagraphs` over."""
    from torch._inductor.utils import BoxedBool

    return BoxedBool(value)


# (module, name) of what repro scripts import to call a backend's inner compiler directly,
# as torch's own after-AOT repro scripts do
COMPILE_FX_INNER = ("torch._inductor.compile_fx", "compile_fx_inner")
BOXED_NOP = ("torch._dynamo.backends.debugging", "boxed_nop")
BOXED_BOOL = ("torch._inductor.utils", "BoxedBool")


def aot_autograd_class() -> type:
    from torch._dynamo.backends.common import AotAutograd

    return AotAutograd


def aot_autograd(**kwargs: Any) -> Callable[..., Any]:
    from torch._dynamo.backends.common import aot_autograd as make

    return make(**kwargs)


def boxed_nop() -> Callable[..., Any]:
    from torch._dynamo.backends.debugging import boxed_nop as nop

    return nop


def no_autograd_cache() -> Any:
    """AOTAutogradCache off: a hit would skip the inner compiler (and store graphs with injected bugs)."""
    import torch._functorch.config as functorch_config

    return functorch_config.patch(enable_autograd_cache=False)


def inductor_config_patch(settings: Mapping[str, Any]) -> Any:
    import torch._inductor.config as inductor_config

    return inductor_config.patch(dict(settings))


INDUCTOR_CONFIG_MODULE = "torch._inductor.config"  # what repro scripts import to set Inductor's knobs


@contextlib.contextmanager
def plain_torch() -> Iterator[None]:
    """Torch as plain user code sees it: no Dynamo tracing context, no dispatch modes.

    Failures are caught inside Dynamo's compile (after Dynamo), inside AOT
    Autograd's compile under its fake mode (after-AOT compile errors) or inside a
    compiled frame's first run under AOT's runtime dispatch mode: checkpoints and
    minifier candidates must see real tensors.
    """
    from torch.utils._python_dispatch import _disable_current_modes

    with torch._guards.tracing(None), _disable_current_modes():
        yield


# -- tensors and symbolic numbers --------------------------------------------
def tensor_version(t: torch.Tensor) -> int | None:
    """The version counter of `t` (bumped by every in-place write), or None for inference tensors."""
    try:
        return t._version
    except RuntimeError:
        return None


def symbolic_hint(value: Any) -> Any:
    """The number a SymInt/SymFloat/SymBool stands for in this compile (its hint), or None if it has none."""
    node = value.node
    return node.hint if node.has_hint() else None


def mark_boxed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Tell AOT Autograd that `fn` takes its inputs as one list (a "boxed" compiled function)."""
    fn._boxed_call = True  # type: ignore[attr-defined]
    return fn


# the attribute Dynamo reads through backend wrappers to find the user's backend
ORIG_BACKEND_ATTR = "_torchdynamo_orig_backend"


# -- modules -------------------------------------------------------------------
def own_buffers(module: torch.nn.Module) -> list[tuple[str, torch.Tensor, bool]]:
    """(name, buffer, persistent) of the buffers `module` holds itself, in registration order."""
    return [
        (name, buffer, name not in module._non_persistent_buffers_set)
        for name, buffer in module._buffers.items()
        if buffer is not None
    ]


def graph_compile_reason(gm: torch.fx.GraphModule) -> Any:
    """Dynamo's GraphCompileReason (reason, user_stack, graph_break) on a graph it handed a backend, or None."""
    return getattr(gm, "compile_subgraph_reason", None)


# -- FX -----------------------------------------------------------------------
def rename_node(node: torch.fx.Node, name: str) -> None:
    """FX's own renaming (keeps the graph's namespace right)."""
    node._rename(name)
