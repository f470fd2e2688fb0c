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


# -- tensors -------------------------------------------------------------------
def tensor_version(t: torch.Tensor) -> int | None:
    """The version counter of `t` (bumped by every in-place write), or None for inference tensors."""
    try:
        return t._version
    except RuntimeError:
        return None


def mark_boxed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Tell AOT Autograd that `fn` takes its inputs as one list (a "boxed" compiled function)."""
    fn._boxed_call = True  # type: ignore[attr-defined]
    return fn


# the attribute Dynamo reads through backend wrappers to find the user's backend
ORIG_BACKEND_ATTR = "_torchdynamo_orig_backend"


# -- symbolic shapes ------------------------------------------------------------
# A dynamic-shape compile hands compilers SymInts and fake tensors whose sizes are
# SymInts; each SymInt wraps a sympy expression over the symbols of one ShapeEnv,
# with its value in the run being compiled (its hint). Checked on torch 2.13 (CPU);
# torch 2.11 has the same names (ShapeEnv.backed_var_to_val is 2.11's var_to_val,
# read through `_symbol_values`).
SYMBOLIC_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)
# what repro scripts call to make a dim symbolic (with a symbol of its own), or keep it static
MARK_DYNAMIC = "torch._dynamo.mark_dynamic"
MARK_STATIC = "torch._dynamo.mark_static"


def symbolic_hint(value: Any) -> Any:
    """The number a SymInt/SymFloat/SymBool stands for in this compile (its hint), or None if it has none."""
    node = value.node
    return node.hint if node.has_hint() else None


def symbolic_expr(value: Any) -> str | None:
    """The expression a SymInt stands for ("s77", "4*s27"), or None for a plain int or a constant SymInt."""
    if not isinstance(value, torch.SymInt):
        return None
    import sympy

    expr = value.node.expr
    return None if isinstance(expr, sympy.Integer) else str(expr)


def symbol_values(value: Any) -> dict[str, int]:
    """name -> hint of each free symbol of a SymInt that has a hint (unbacked symbols have none)."""
    if not isinstance(value, torch.SymInt):
        return {}
    known = _symbol_values(value.node.shape_env)
    return {str(symbol): int(known[symbol]) for symbol in value.node.expr.free_symbols if symbol in known}


def _symbol_values(shape_env: Any) -> Mapping[Any, Any]:
    values = getattr(shape_env, "backed_var_to_val", None)  # torch 2.13
    return values if values is not None else shape_env.var_to_val  # torch 2.11


def is_fake_tensor(value: Any) -> bool:
    """Whether `value` is a FakeTensor (metadata only, as compilers see inputs under AOT Autograd)."""
    from torch._subclasses.fake_tensor import is_fake

    return isinstance(value, torch.Tensor) and is_fake(value)


def fake_inputs(inputs: list[Any], recorded: list[Any], values: Mapping[str, int]) -> tuple[Any, list[Any]]:
    """(fake mode, fake versions of the real `inputs`): where `recorded` (one entry per input,
    `SymbolicInputs.to_json()["inputs"]`) gives expressions over symbols, the sizes, strides and
    offset are SymInts of one fresh ShapeEnv (`values`: each symbol's value); the rest is static;
    a recorded int becomes a SymInt. Symbols are made DYNAMIC (never duck-sized into another of the
    same value, never specialised for being 0 or 1), so the expressions keep their symbols.

    Standalone (imports inside, nothing of compdebug): repro scripts paste its source.
    """
    import sympy
    import torch.utils._sympy.functions as sympy_functions
    from torch._dynamo.source import ConstantSource
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

    shape_env = ShapeEnv()
    fake_mode = FakeTensorMode(shape_env=shape_env, allow_non_fake_inputs=True)
    names = {name: sympy.Symbol(name, integer=True, positive=True) for name in values}
    functions = {name: getattr(sympy_functions, name) for name in dir(sympy_functions) if name[:1].isupper()}
    symbols: dict[str, Any] = {}

    def symint(expr: Any) -> Any:
        if not isinstance(expr, str):
            return expr
        parsed = sympy.sympify(expr, locals={**functions, **names})
        for name in sorted(str(free) for free in parsed.free_symbols):
            if name not in symbols:
                source = ConstantSource(f"compdebug_{name}")
                symbols[name] = shape_env.create_symbol(
                    values[name], source, dynamic_dim=DimDynamic.DYNAMIC, do_not_specialize_zero_one=True
                )
        hint = int(parsed.xreplace({names[n]: v for n, v in values.items()}))
        own = parsed.xreplace({names[n]: symbols[n] for n in symbols})
        return shape_env.create_symintnode(own, hint=hint)

    fakes: list[Any] = []
    for entry, value in zip(recorded, inputs):
        if entry is not None and "int" in entry:
            fakes.append(symint(entry["int"]))
        elif isinstance(value, torch.Tensor) and entry is not None and len(entry["size"]) == value.dim():
            size = [symint(e) if isinstance(e, str) else a for e, a in zip(entry["size"], value.shape)]
            stride = [symint(e) if isinstance(e, str) else a for e, a in zip(entry["stride"], value.stride())]
            offset = symint(entry["offset"]) if isinstance(entry["offset"], str) else value.storage_offset()
            with fake_mode:
                empty = any(isinstance(n, int) and n == 0 for n in size)
                span = 0 if empty else 1 + sum((n - 1) * st for n, st in zip(size, stride))
                base = torch.empty_strided((offset + span,), (1,), dtype=value.dtype, device=value.device)
                fake = base.as_strided(size, stride, offset)
            fakes.append(fake.requires_grad_(value.requires_grad) if value.requires_grad else fake)
        elif isinstance(value, torch.Tensor):
            fakes.append(fake_mode.from_tensor(value, static_shapes=True))
        else:
            fakes.append(value)
    return fake_mode, fakes


def propagate_fakes(gm: torch.fx.GraphModule, fake_mode: Any, fakes: list[Any]) -> torch.fx.GraphModule:
    """A copy of `gm` whose nodes' meta["val"] come from running it on `fakes` (of `fake_mode`), as
    AOT Autograd leaves them for its inner compiler; no metadata of another ShapeEnv is left.

    Standalone (imports inside, nothing of compdebug): repro scripts paste its source.
    """
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    graph = torch.fx.Graph()
    graph.output(graph.graph_copy(gm.graph, {}))
    for node in graph.nodes:
        for key in ("val", "example_value", "tensor_meta"):
            node.meta.pop(key, None)
    copy = torch.fx.GraphModule(gm, graph)
    with fake_mode:
        FakeTensorProp(copy, fake_mode).propagate_dont_convert_inputs(*fakes)
    return copy


def propagate_example_values(gm: torch.fx.GraphModule, fake_mode: Any, fakes: list[Any], key: str) -> str | None:
    """Run `gm` on `fakes` (of `fake_mode`), setting each node's meta[key] to its fake value, as
    Dynamo ("example_value") or AOT Autograd ("val") leave them. A node that cannot run on fake
    values ends the run: it and the nodes after it get no value. Returns that node's name, or None."""
    current: list[str] = []

    class Propagate(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> Any:
            current[:] = [n.name]
            result = super().run_node(n)
            if n.op != "output":
                n.meta[key] = result
            return result

    try:
        with fake_mode:
            Propagate(gm).run(*fakes)
    except Exception:
        return current[0] if current else None
    return None


@contextlib.contextmanager
def outside_compile_session() -> Iterator[None]:
    """Code run here sees `torch.compiler.is_compiling()` False, as plain code does.

    torch 2.13 holds that flag True for a whole compile session, the backend call
    included, so a capture minifying inside a backend would make
    `torch._dynamo.mark_static` act as if traced. torch 2.11 has no such session
    flag (nothing to change there).
    """
    import torch.compiler as compiler

    saved = getattr(compiler, "_is_compiling_flag", None)
    if saved is None:
        yield
        return
    compiler._is_compiling_flag = False
    try:
        yield
    finally:
        compiler._is_compiling_flag = saved


def is_compile_restart(error: BaseException) -> bool:
    """Whether `error` is Dynamo's signal to trace the frame again (RestartAnalysis: a backend with
    dynamic shapes raises TensorifyScalarRestartAnalysis to have float scalars traced as tensors),
    not a failure: it must reach Dynamo untouched."""
    from torch._dynamo.exc import RestartAnalysis

    return isinstance(error, RestartAnalysis)


def dynamo_compiling() -> bool:
    """Whether this runs inside a Dynamo compile (a tracing context is active)."""
    from torch._guards import TracingContext

    return TracingContext.try_get() is not None


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


# -- bisect -------------------------------------------------------------------
# torch._inductor.compiler_bisector: Inductor, AOT Autograd's decomposition
# tracing and the FX pass observer ask `CompilerBisector.disable_subsystem(backend,
# subsystem, debug_info)` at each application of a pass, decomposition, lowering
# or cudagraph wrapping, and `BACKENDS` lists the backends and subsystems in the
# order CompilerBisector tries them. Run on torch 2.13 (CPU); the 2.11 sources
# (its wheel) have the same BACKENDS, ConfigChange, disable_subsystem signature,
# call sites and `bisection_enabled` cache bypass.
def bisect_backends() -> list[tuple[str, list[tuple[str, tuple[str, str, Any] | None]]]]:
    """torch's bisect plan, in its order: (backend, [(subsystem, config change or None), ...]).

    A config change is (config name, field, value): CompilerBisector's
    `ConfigChange`, a setting that counts as "disabling" the subsystem.
    """
    from torch._inductor.compiler_bisector import BACKENDS, ConfigChange

    plan = []
    for backend, subsystems in BACKENDS.items():
        entries: list[tuple[str, tuple[str, str, Any] | None]] = []
        for subsystem in subsystems:
            change = None
            if isinstance(subsystem, ConfigChange):
                change = (subsystem.config_name, subsystem.config_field, subsystem.config_value)
            entries.append((subsystem.name, change))
        plan.append((backend, entries))
    return plan


# where a ConfigChange's setting lives: the backend it names reads it from this config module
_BISECT_SETTINGS = {"inductor": "torch._inductor.config", "aot_eager_decomp_partition": "torch._functorch.config"}


def bisect_setting_location(config_name: str) -> str:
    """The config module a ConfigChange of `config_name` ("inductor", ...) sets, by its import name."""
    return _BISECT_SETTINGS[config_name]


def bisect_setting_value(config_name: str, field: str) -> Any:
    import importlib

    return getattr(importlib.import_module(_BISECT_SETTINGS[config_name]), field)


def bisect_setting_patch(config_name: str, field: str, value: Any) -> Any:
    """A context manager that sets the ConfigChange's field to `value` (torch's config.patch)."""
    import importlib

    return importlib.import_module(_BISECT_SETTINGS[config_name]).patch({field: value})


@contextlib.contextmanager
def bisect_hook(decide: Callable[[str, str, Callable[[], str] | None], bool]) -> Iterator[None]:
    """Answer every `CompilerBisector.disable_subsystem` question with `decide(backend, subsystem, debug_info)`.

    While it is active, `CompilerBisector.bisection_enabled` is set, which makes
    Inductor's FX graph cache and AOTAutogradCache bypass (a cache hit would skip
    the applications being counted).
    """
    from torch._inductor.compiler_bisector import CompilerBisector

    saved = CompilerBisector.__dict__["disable_subsystem"], CompilerBisector.bisection_enabled

    def disable_subsystem(cls: Any, backend: str, subsystem: str, debug_info: Callable[[], str] | None = None) -> bool:
        return decide(backend, subsystem, debug_info)

    CompilerBisector.disable_subsystem = classmethod(disable_subsystem)
    CompilerBisector.bisection_enabled = True
    try:
        yield
    finally:
        CompilerBisector.disable_subsystem, CompilerBisector.bisection_enabled = saved
