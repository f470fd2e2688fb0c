"""Culprit marker ops: unique, real torch ops that the cheap oracles look for.

They are registered once per process as custom ops (`torch.ops.cdbench.*`), so
both minifiers see ordinary op overloads that run eagerly, deep-copy and print.
"""

from __future__ import annotations

import torch
import torch.fx as fx


def _register(name: str) -> torch._ops.OpOverload:
    """Define `cdbench::NAME(Tensor x) -> Tensor` computing x * 0.5 + 0.25 (a fresh tensor)."""

    @torch.library.custom_op(f"cdbench::{name}", mutates_args=())
    def marker(x: torch.Tensor) -> torch.Tensor:
        return x * 0.5 + 0.25

    @marker.register_fake
    def _(x: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x)

    return getattr(torch.ops.cdbench, name).default


CULPRIT = _register("culprit")
CULPRIT_A = _register("culprit_a")
CULPRIT_B = _register("culprit_b")


def count_calls(gm: fx.GraphModule, target: object) -> int:
    """How many call_function nodes of `gm` call `target`."""
    return sum(1 for node in gm.graph.nodes if node.op == "call_function" and node.target is target)


def contains(*targets: object):
    """A cheap oracle: the graph fails when it calls every one of `targets`."""

    def graph_has_culprits(gm: fx.GraphModule, inputs: list) -> bool:
        return all(count_calls(gm, target) for target in targets)

    graph_has_culprits.__qualname__ = "contains(" + ", ".join(str(t) for t in targets) + ")"
    return graph_has_culprits


def runs_and_contains(target: object):
    """An oracle that runs the candidate eagerly (so stored values are read) and then looks for `target`."""

    def runs_with_culprit(gm: fx.GraphModule, inputs: list) -> bool:
        gm(*inputs)
        if any(isinstance(x, torch.Tensor) and x.is_cuda for x in inputs):
            torch.cuda.synchronize()  # the run counts only once its kernels are done
        return count_calls(gm, target) > 0

    return runs_with_culprit


def mark_after(gm: fx.GraphModule, node: fx.Node, target: object = CULPRIT) -> fx.Node:
    """Insert `target(node)` right after `node` and make every user of `node` read it instead."""
    with gm.graph.inserting_after(node):
        mark = gm.graph.call_function(target, (node,))
    mark.meta.update({k: v for k, v in node.meta.items() if k in ("val", "example_value", "tensor_meta")})
    node.replace_all_uses_with(mark, delete_user_cb=lambda user: user is not mark)
    gm.graph.lint()
    gm.recompile()
    return mark
