"""Hook the compiler that receives the graphs after AOT Autograd (forward, backward, inference),
and compile such a graph again the way AOT Autograd handed it over.

The one place compdebug reaches into how Inductor and aot_autograd backends hand
their post-AOT graphs to an inner compiler. A graph captured there is compiled
again by `compile_inner`: straight to the inner compiler (Inductor's
`compile_fx_inner`, or the aot_autograd backend's fw/bw/inference compiler), with
the arguments it got the first time (`InnerCall`), never through a second AOT pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import torch

from compdebug import _torch, symbolic
from compdebug.backends.match import matches
from compdebug.backends.inject import check_injection, copy_graph_module, injected, injecting
from compdebug.backends.types import CompilerFn, InnerWrapper, importable_path
from compdebug.errors import BackendError, ReproError

if TYPE_CHECKING:
    from compdebug.backends.spec import BackendSpec

log = logging.getLogger("compdebug.backends.aot")

Role = Literal["forward", "backward", "inference"]

SUPPORTED = (
    "'inductor', 'aot_eager', and backends built with torch._dynamo.backends.common.aot_autograd(...) "
    "(such as 'aot_eager_default_partitioner' and 'aot_ts')"
)


def compile_injected(
    fn: CompilerFn,
    gm: torch.fx.GraphModule,
    example_inputs: list[Any],
    ops: Mapping[str, str],
    stage: str,
    *,
    wrap_inner: InnerWrapper | None = None,
) -> Callable[..., Any]:
    """Compile `gm` with compiler `fn`, with the bugs `ops` (op name -> kind) planted at `stage`.

    Stage "dynamo" changes a copy of `gm` itself; stage "aot" changes each graph
    AOT Autograd produces (forward, backward, inference). `wrap_inner`, if given,
    wraps the compiler that receives the post-AOT graphs and sees them before
    any injection.
    """
    check_injection(ops, stage)
    if not ops and wrap_inner is None:
        return fn(gm, example_inputs)
    if stage == "dynamo" and ops:
        gm = injected(gm, ops, "Dynamo")
    if stage == "aot" or wrap_inner is not None:
        aot_ops = ops if stage == "aot" else {}

        def wrap(inner: CompilerFn, role: Any) -> CompilerFn:
            planting = injecting(inner, aot_ops)
            return planting if wrap_inner is None else wrap_inner(planting, role)

        return compile_after_aot(fn, gm, example_inputs, wrap)
    return fn(gm, example_inputs)


def compile_after_aot(
    fn: CompilerFn, gm: torch.fx.GraphModule, example_inputs: list[Any], wrap: InnerWrapper
) -> Callable[..., Any]:
    """Compile `gm` with backend `fn`, every post-AOT graph going to `wrap(real inner compiler, role)`.

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
            # aot_eager's inference graphs go to its forward compiler too
            nop = _torch.boxed_nop()
            return fn(gm, example_inputs, fw_compiler=wrap(nop, "forward"), bw_compiler=wrap(nop, "backward"))
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
    return _torch.compile_fx(gm, example_inputs, inner_compile=wrap(_torch.compile_fx_inner(), None), **extra)


_COMPILER_KEYS: dict[Role, str] = {
    "forward": "fw_compiler",
    "backward": "bw_compiler",
    "inference": "inference_compiler",
}


def _compile_aot_autograd(fn: Any, gm: torch.fx.GraphModule, example_inputs: list[Any], wrap: InnerWrapper) -> Any:
    kwargs = dict(fn.kwargs)
    kwargs.update({key: wrap(_aot_autograd_compiler(fn, role), role) for role, key in _COMPILER_KEYS.items()})
    return _torch.aot_autograd(**kwargs)(gm, example_inputs)


def _aot_autograd_compiler(fn: Any, role: Role) -> CompilerFn:
    """The compiler an aot_autograd backend hands `role` graphs to (AotAutograd's own fallbacks)."""
    forward = fn.kwargs["fw_compiler"]
    if role == "backward":
        return fn.kwargs.get("bw_compiler") or forward
    if role == "inference":
        return fn.kwargs.get("inference_compiler") or forward
    return forward


def _is_aot_eager(fn: Any) -> bool:
    return fn is _torch.lookup_backend("aot_eager")


def _describe(fn: Any) -> str:
    return repr(getattr(fn, "compiler_name", None) or getattr(fn, "__name__", None) or fn)


# -- compiling a captured post-AOT graph again ----------------------------------------


@attrs.frozen
class InnerCall:
    """How AOT Autograd handed one graph to the backend's inner compiler, as plain data.

    `role`: the forward, backward or inference graph. `static_inputs`: the
    placeholders Inductor was told stay at fixed addresses (parameters, buffers,
    the forward's fixed arguments), by name, so they stay right when the minifier
    drops or adds inputs. `cudagraphs`: whether Inductor's cudagraphs box was on
    for this graph.
    """

    role: Role
    static_inputs: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    cudagraphs: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "static_inputs": list(self.static_inputs), "cudagraphs": self.cudagraphs}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> InnerCall:
        return cls(values["role"], tuple(values.get("static_inputs", ())), bool(values.get("cudagraphs", False)))

    def static_input_idxs(self, gm: torch.fx.GraphModule) -> list[int]:
        """Positions of the static inputs among `gm`'s placeholders."""
        return [i for i, node in enumerate(_placeholders(gm)) if node.name in self.static_inputs]


def inner_call(gm: torch.fx.GraphModule, role: Role | None, kwargs: Mapping[str, Any]) -> InnerCall:
    """The `InnerCall` of the inner compiler receiving `gm` with `kwargs` (`role` None: Inductor's, read from them)."""
    if role is None:
        role = "backward" if kwargs.get("is_backward") else "inference" if kwargs.get("is_inference") else "forward"
    names = [node.name for node in _placeholders(gm)]
    static = [names[i] for i in kwargs.get("static_input_idxs", ()) if 0 <= i < len(names)]
    return InnerCall(role, tuple(static), bool(kwargs.get("cudagraphs")))


def inner_example_inputs(gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> list[Any]:
    """The example inputs the inner compiler gets for `gm`, made from the saved real `inputs`.

    Inputs captured with static sizes are passed as they are: real tensors
    with the sizes, strides, storage offsets, dtypes and devices AOT Autograd
    handed over (Inductor fakes them itself, as its own after-AOT repros do).
    """
    return list(inputs)


def compile_inner(spec: BackendSpec, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Callable[..., Any]:
    """Compile the post-AOT graph `gm` as AOT Autograd handed it to `spec`'s inner compiler.

    `spec.inner` says how; bugs injected at stage "aot" are planted first, as
    they were then. The result is called as `compiled(*inputs)` and runs with
    grad mode off, as AOT Autograd runs compiled graphs.
    """
    call = spec.inner
    assert call is not None, "compile_inner needs a spec captured after AOT (spec.inner)"
    ops = spec.inject_ops if spec.inject_stage == "aot" else {}
    check_injection(ops, spec.inject_stage if ops else "aot")
    compiler = injecting(inner_compiler(spec.fn, call.role), ops)
    kwargs = inductor_arguments(call, gm) if is_inductor(spec.fn) else {}
    compiled = compiler(*inner_graph_and_inputs(gm, inputs), **kwargs)
    return _unboxed(compiled)


def inner_graph_and_inputs(gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> tuple[torch.fx.GraphModule, list[Any]]:
    """(a copy of `gm`, its example inputs) for the inner compiler, from the saved real `inputs`.

    A copy, because the inner compiler rewrites the graph it is given (Inductor's
    passes). A graph traced with symbolic sizes gets fake inputs with the same
    dims symbolic under a fresh ShapeEnv, and its nodes' metadata propagated
    from them (`compdebug.symbolic.symbolic_graph`), as AOT Autograd handed it
    over; any other graph gets `inner_example_inputs`.
    """
    if symbolic.is_symbolic(gm):
        return symbolic.symbolic_graph(gm, inputs)
    return copy_graph_module(gm), inner_example_inputs(gm, inputs)


def inner_compiler(fn: Any, role: Role) -> CompilerFn:
    """The compiler backend `fn` hands `role` graphs to after AOT Autograd."""
    if is_inductor(fn):
        return _torch.compile_fx_inner()
    if isinstance(fn, _torch.aot_autograd_class()):
        return _aot_autograd_compiler(fn, role)
    if _is_aot_eager(fn):
        return _torch.boxed_nop()
    raise BackendError(
        f"cannot compile a graph captured after AOT Autograd with the backend {_describe(fn)}: "
        f"repro_after='aot' supports {SUPPORTED}."
    )


def inductor_arguments(call: InnerCall, gm: torch.fx.GraphModule) -> dict[str, Any]:
    """The keyword arguments Inductor's inner compiler got for this graph (compile_fx's forward/backward calls)."""
    return {
        "static_input_idxs": call.static_input_idxs(gm),
        "is_backward": call.role == "backward",
        "is_inference": call.role == "inference",
        "cudagraphs": _torch.boxed_bool(call.cudagraphs),
    }


def _unboxed(compiled: Any) -> Callable[..., Any]:
    """`compiled` (boxed: takes one list, as AOT Autograd calls it) as a function of the inputs."""
    boxed = bool(getattr(compiled, "_boxed_call", False))

    def run(*args: Any) -> Any:
        with torch.no_grad():
            out = compiled(list(args)) if boxed else compiled(*args)
        return tuple(out) if isinstance(out, list) else out

    return run


def _placeholders(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return list(gm.graph.find_nodes(op="placeholder"))


# -- the graph as Inductor sees it --------------------------------------------------------


def as_inner_compiler_sees(
    spec: BackendSpec, gm: torch.fx.GraphModule, example_inputs: Sequence[Any]
) -> torch.fx.GraphModule:
    """`gm` as the inner compiler works on it: with views turned into reshapes where Inductor does it.

    Inductor may give activations a layout of its own (channels-last for
    convolutions) and AOT Autograd then hands the backward graph inputs with
    those strides, while the graph's `view`s were traced for the eager ones:
    run eagerly on the real inputs they fail. Inductor's first step turns every
    view into a reshape; so does this, for such graphs only (and not when an
    injected bug targets views), so that the graph also runs eagerly (minifier
    values, accuracy reference) and compiles exactly as before. Returns `gm`
    itself when nothing needs to change.
    """
    if not is_inductor(spec.fn) or not _restrided(gm, example_inputs):
        return gm
    modules = dict(gm.named_modules())
    views = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is torch.ops.aten.view.default]
    if not views or any(matches(n, op, modules) for n in views for op in spec.inject_ops):
        return gm
    for node in views:
        node.target = torch.ops.aten.reshape.default
    gm.recompile()
    log.info("%d view(s) of a graph whose inputs Inductor restrided are reshapes, as Inductor compiles them", len(views))
    return gm


def _restrided(gm: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> bool:
    """Whether some input's strides differ from those the graph was traced with."""
    for node, value in zip(_placeholders(gm), example_inputs):
        traced = node.meta.get("val")
        if isinstance(traced, torch.Tensor) and isinstance(value, torch.Tensor):
            if tuple(traced.stride()) != tuple(value.stride()):
                return True
    return False


# -- repro scripts ---------------------------------------------------------------------


def inner_compile_source(
    spec: BackendSpec, gm: torch.fx.GraphModule, example_inputs: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """(import lines, statements) for a repro script: `compiled = ...` calling the inner compiler as
    `compile_inner` does, on `gm` (a name bound in the script) and `inputs`; then `run(*inputs)` calls it.

    `example_inputs`, if given, are statements that rebind `gm` and bind `example_inputs`
    (what the inner compiler gets instead of `list(inputs)`: symbolic fakes, see
    `compdebug.symbolic.symbolic_graph_lines`)."""
    call = spec.inner
    assert call is not None
    imports, name = _compiler_import(spec.fn, call.role)
    ops = dict(spec.inject_ops) if spec.inject_stage == "aot" else {}
    if ops:
        imports.append("from compdebug.backends.inject import injecting")
        name = f"injecting({name}, {ops!r})"
    arguments = ""
    if is_inductor(spec.fn):
        kwargs = inductor_arguments(call, gm)
        parts = [f"static_input_idxs={kwargs['static_input_idxs']!r}"]
        parts += [f"{key}=True" for key in ("is_backward", "is_inference") if kwargs[key]]
        if call.cudagraphs:
            imports.append(f"from {_torch.BOXED_BOOL[0]} import {_torch.BOXED_BOOL[1]}")
            parts.append(f"cudagraphs={_torch.BOXED_BOOL[1]}(True)")
        arguments = ", " + ", ".join(parts)
    statements = [
        f"# the {call.role} graph, compiled as AOT Autograd handed it to the backend's inner compiler",
        "gm = torch.fx.symbolic_trace(mod)",
        *example_inputs,
        f"compiled = {name}(gm, {'example_inputs' if example_inputs else 'list(inputs)'}{arguments})",
        "",
        "",
        "def run(*args):",
        "    # AOT Autograd calls compiled graphs with one list of inputs, grad mode off",
        "    with torch.no_grad():",
        "        return compiled(list(args))" if _is_boxed_compiler(spec.fn)
        else "        return compiled(list(args)) if getattr(compiled, '_boxed_call', False) else compiled(*args)",
        "",
        "",
    ]
    return imports, statements


def _is_boxed_compiler(fn: Any) -> bool:
    return is_inductor(fn) or _is_aot_eager(fn)


def _compiler_import(fn: Any, role: Role) -> tuple[list[str], str]:
    """(imports, expression) naming the inner compiler of `fn` for `role` in a script."""
    if is_inductor(fn):
        module, name = _torch.COMPILE_FX_INNER
    elif _is_aot_eager(fn) or inner_compiler(fn, role) is _torch.boxed_nop():
        module, name = _torch.BOXED_NOP
    else:
        compiler = inner_compiler(fn, role)
        path = importable_path(compiler)
        if path is None:
            raise ReproError(
                f"the {role} compiler of the backend {_describe(fn)} ({compiler!r}) cannot be imported by a script "
                "(a lambda, a local function or one defined in __main__): define it at module level in an "
                "importable module, or re-run the checkpoint with python -m compdebug run DIR"
            )
        module, name = path.split(":")
        if "." in name:
            return [f"import {module}"], f"{module}.{name}"
    return [f"from {module} import {name}"], name

