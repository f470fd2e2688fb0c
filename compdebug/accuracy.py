"""Judge whether compiled code computes what eager code computes.

Imports only the standard library and torch, on purpose: repro scripts paste
this whole file so that they judge accuracy exactly as compdebug does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch

# The compiled result may be this many times farther from the float64
# reference than eager is: two roundings of the same math (different op order,
# fused kernels) err by comparable amounts, and RMSE of a small tensor is noisy.
MULTIPLIER = 2.0
# Tensor methods that cast to a lower precision; the float64 reference runs `double`.
_NARROWING_METHODS = ("half", "float", "bfloat16")


def check_accuracy(
    gm: Callable[..., Any],
    compiled_fn: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    fp64_reference: bool = True,
    strict: bool = False,
    tolerance: float = 1e-3,
) -> tuple[bool, str]:
    """Run `gm` eagerly and `compiled_fn` on copies of `inputs`; return (ok, detail).

    Both are called as `fn(*inputs)`; exceptions they raise propagate. Outputs
    are compared leaf by leaf (tuples, lists and dicts are walked). A leaf fails on:
    a shape, dtype or device mismatch; a NaN/inf in compiled output that eager
    (and the float64 reference) does not have at that position, or a NaN/inf in
    eager that compiled "repairs" without a finite float64 reference backing it;
    and, over the positions where every result is finite:

    - with `fp64_reference` (gm copied and run in float64, giving r):
      ``RMSE(compiled, r) > 2 * RMSE(eager, r) + tolerance * (1 + RMS(r)) + eps * RMS(r)``
      where eps is `torch.finfo(dtype).eps` of the output dtype (one rounding
      step). If the float64 run fails, eager is the reference and the rule below
      applies; `detail` says so.
    - without: any ``|compiled - eager| > tolerance + tolerance * |eager|``
      (torch.allclose with atol = rtol = tolerance).

    Anything within allclose(atol=rtol=tolerance) of eager also passes the RMSE
    rule. Without `strict`, a floating output in which eager has NaN where the
    float64 reference has too (math undefined there, like log1p(-2)) is not judged:
    eager itself gives no usable reference for it (torch's own check ignores a
    NaN reference error the same way); with `strict` it is judged as above. Non-floating outputs (bool/int) are ignored unless `strict`, then they
    must be equal.
    """
    eager = _leaves(gm(*clone_inputs(inputs)))
    compiled = _leaves(compiled_fn(*clone_inputs(inputs)))
    if [path for path, _ in eager] != [path for path, _ in compiled]:
        return False, f"outputs differ in structure: eager {_paths(eager)}, compiled {_paths(compiled)}"
    references, note = [None] * len(eager), "judged against eager"
    if fp64_reference:
        references, note = _fp64_references(gm, inputs, eager)
    problems = []
    for (path, e), (_, c), r in zip(eager, compiled, references):
        problem = _compare(e, c, r, strict, tolerance)
        if problem:
            problems.append(f"{path}: {problem}")
    if problems:
        return False, f"accuracy failure ({note}): " + "; ".join(problems)
    return True, f"{len(eager)} output(s) within tolerance {tolerance} ({note})"


def clone_inputs(inputs: Sequence[Any]) -> list[Any]:
    """Copy tensors keeping shape, strides, dtype, device and requires_grad."""
    return [_clone(x) for x in inputs]


def storage_span(t: torch.Tensor) -> int:
    """Number of storage elements `t` reaches, counted from its storage offset."""
    if t.numel() == 0:
        return 0
    return 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()))


def _clone(x: Any) -> Any:
    if not isinstance(x, torch.Tensor):
        return x
    if x.layout != torch.strided:
        return x.detach().clone().requires_grad_(x.requires_grad)
    # copy the storage span, not just the elements, so that strides (also
    # overlapping ones, from expand) survive: compiled code may rely on them
    span = x.detach().as_strided((storage_span(x),), (1,), x.storage_offset()).clone()
    y = span.as_strided(x.shape, x.stride(), 0).detach()
    return y.requires_grad_(x.requires_grad)


def _leaves(out: Any, path: str = "output") -> list[tuple[str, Any]]:
    """Flatten nested tuples, lists and dicts into (path, leaf) pairs."""
    if isinstance(out, (tuple, list)):
        return [leaf for i, item in enumerate(out) for leaf in _leaves(item, f"{path}[{i}]")]
    if isinstance(out, dict):
        return [leaf for key, item in out.items() for leaf in _leaves(item, f"{path}[{key!r}]")]
    return [(path, out)]


def _paths(leaves: list[tuple[str, Any]]) -> str:
    return "[" + ", ".join(path for path, _ in leaves) + "]"


# ---- the float64 reference ---------------------------------------------------


def _fp64_references(gm: Callable[..., Any], inputs: Sequence[Any], eager: list) -> tuple[list, str]:
    """Float64 results per output leaf (None where unusable), and a note saying which reference was used."""
    try:
        model = fp64_copy(gm)
        wide_inputs = [_widen_tensor(x) for x in clone_inputs(inputs)]
        default = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # factory calls without dtype (torch.ones(3)) compute in float64 too
        try:
            reference = _leaves(model(*wide_inputs))
        finally:
            torch.set_default_dtype(default)
    except Exception as error:  # any failure of the reference run means: no reference
        return [None] * len(eager), f"float64 reference failed ({type(error).__name__}: {error}); judged against eager"
    if [path for path, _ in reference] != [path for path, _ in eager]:
        return [None] * len(eager), "float64 reference has other outputs; judged against eager"
    usable = [_usable_reference(e, r) for (_, e), (_, r) in zip(eager, reference)]
    if any(u is None and _is_floating(e) for u, (_, e) in zip(usable, eager)):
        return usable, "against float64 reference where usable, else eager"
    return usable, "against float64 reference"


def fp64_copy(gm: Callable[..., Any]) -> Any:
    """Deep copy of `gm` computing in float64: floating tensors and dtype arguments widened."""
    model = copy.deepcopy(gm)
    if not isinstance(model, torch.nn.Module):
        return model
    for module in model.modules():
        for name, t in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            wide = _widen_tensor(t)
            if wide is not t:
                setattr(module, name, torch.nn.Parameter(wide, t.requires_grad) if isinstance(t, torch.nn.Parameter) else wide)
    if isinstance(model, torch.fx.GraphModule):
        _widen_graph(model)
    return model


def _widen_graph(gm: torch.fx.GraphModule) -> None:
    """Widen tensor constants held as plain attributes, dtype arguments and narrowing method calls."""
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            owner_name, _, attr = node.target.rpartition(".")
            owner = gm.get_submodule(owner_name)
            value = getattr(owner, attr)
            if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
                setattr(owner, attr, _widen_tensor(value))
        elif node.op in ("call_function", "call_method"):
            node.args = torch.fx.node.map_aggregate(node.args, _widen_dtype_arg)
            node.kwargs = torch.fx.node.map_aggregate(node.kwargs, _widen_dtype_arg)
            if node.op == "call_method" and node.target in _NARROWING_METHODS:
                node.target = "double"
    gm.recompile()


def _widen_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype.is_complex:
        return torch.complex128
    return torch.float64 if dtype.is_floating_point else dtype


def _widen_dtype_arg(arg: Any) -> Any:
    return _widen_dtype(arg) if isinstance(arg, torch.dtype) else arg


def _widen_tensor(x: Any) -> Any:
    if not isinstance(x, torch.Tensor) or _widen_dtype(x.dtype) == x.dtype:
        return x
    return x.detach().to(_widen_dtype(x.dtype)).requires_grad_(x.requires_grad)


def _usable_reference(e: Any, r: Any) -> Any:
    """The float64 result if it can judge eager's output `e` (same kind and shape), else None."""
    if isinstance(e, float) and isinstance(r, float):
        return torch.tensor(r, dtype=torch.float64)
    if isinstance(e, torch.Tensor) and isinstance(r, torch.Tensor) and r.shape == e.shape and _is_floating(r):
        return r.detach()
    return None


# ---- comparing one output ----------------------------------------------------


def _is_floating(x: Any) -> bool:
    return isinstance(x, float) or (isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex()))


def _compare(e: Any, c: Any, r: torch.Tensor | None, strict: bool, tolerance: float) -> str | None:
    """Why compiled leaf `c` is not acceptable next to eager leaf `e` (None if it is)."""
    if isinstance(e, float) and isinstance(c, float):
        e, c = torch.tensor(e, dtype=torch.float64), torch.tensor(c, dtype=torch.float64)
    if not isinstance(e, torch.Tensor) or not isinstance(c, torch.Tensor):
        if isinstance(e, torch.Tensor) or isinstance(c, torch.Tensor) or type(e) is not type(c):
            return f"eager gave {type(e).__name__}, compiled gave {type(c).__name__}"
        return f"{c!r} != eager {e!r}" if strict and c != e else None
    for what in ("shape", "dtype", "device"):
        if getattr(e, what) != getattr(c, what):
            return f"{what} {getattr(c, what)} != eager {getattr(e, what)}"
    if not _is_floating(e):
        if strict and not torch.equal(e, c):
            return f"{int((e != c).sum())} of {e.numel()} values differ (strict)"
        return None
    eps = torch.finfo(e.dtype).eps
    if e.is_complex():
        e, c = torch.view_as_real(e.detach()), torch.view_as_real(c.detach())
        r = None if r is None else torch.view_as_real(r.to(torch.complex128))
    return _compare_floating(e.detach().double(), c.detach().double(), r, tolerance, eps, strict)


def _same(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a == b) | (a.isnan() & b.isnan())


def _compare_floating(
    e: torch.Tensor, c: torch.Tensor, r: torch.Tensor | None, tolerance: float, eps: float, strict: bool
) -> str | None:
    """Judge float64 copies of one floating output (see check_accuracy for the rule)."""
    ref = e if r is None else r.to(device=e.device, dtype=torch.float64)
    if not strict and r is not None and (e.isnan() & ref.isnan()).any():
        return None  # undefined math (log1p(-2)): eager is no reference here; strict judges it
    new_nonfinite = ~c.isfinite() & ~_same(c, e) & ~_same(c, ref)
    repaired = ~e.isfinite() & c.isfinite() & ~ref.isfinite()  # ref is e without a reference
    if new_nonfinite.any():
        return f"{int(new_nonfinite.sum())} NaN/inf value(s) where eager has finite values or other ones"
    if repaired.any():
        return f"{int(repaired.sum())} finite value(s) where eager has NaN/inf and no finite reference says that is right"
    finite = e.isfinite() & c.isfinite() & ref.isfinite()
    if not finite.any():
        return None
    if r is None:
        excess = torch.where(finite, (c - e).abs() - tolerance * (1 + e.abs()), 0)
        if (excess > 0).any():
            worst = float(torch.where(finite, (c - e).abs(), 0).max())
            return f"{int((excess > 0).sum())} of {e.numel()} values beyond atol=rtol={tolerance} (max abs diff {worst:.4g})"
        return None
    count = int(finite.sum())

    def rms(x: torch.Tensor) -> float:
        return float(torch.where(finite, x, 0).square().sum().div(count).sqrt())

    err_compiled, err_eager, scale = rms(c - ref), rms(e - ref), rms(ref)
    allowed = MULTIPLIER * err_eager + tolerance * (1 + scale) + eps * scale
    if err_compiled > allowed:
        return (
            f"RMSE(compiled, fp64) = {err_compiled:.4g} > allowed {allowed:.4g} "
            f"[RMSE(eager, fp64) = {err_eager:.4g}, RMS(fp64) = {scale:.4g}]"
        )
    return None
