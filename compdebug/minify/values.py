"""The eager values of a graph's nodes: one run of the original graph, kept in a store.

A node the minifier turns into an input holds the value it had in that run.
`ValueStore` is the protocol; `InMemoryValues` keeps values in memory,
`compdebug.minify.offload.DiskValues` on disk.
"""

from __future__ import annotations

import logging
import operator
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
import torch
import torch.fx

from compdebug import _torch
from compdebug.minify.effects import Effect, static_effect
from compdebug.minify.tensors import ValueMeta, fresh_copy, fresh_inputs

log = logging.getLogger("compdebug.minify")

COMPUTE_OPS = ("call_function", "call_method", "call_module")


@runtime_checkable
class ValueStore(Protocol):
    """Where node values wait until a candidate needs them.

    `put` receives detached tensors (or plain numbers). A store may keep the
    tensor itself (in memory) or a copy (on disk): `record_values` notices a
    later in-place write into a tensor the store still holds and stops using
    that value. `get` returns the value (tensors may be fresh objects); callers
    never write into what `get` returns. `bytes_written` counts bytes put on
    disk (0 for a store in memory).
    """

    bytes_written: int

    def put(self, name: str, value: Any) -> None: ...

    def get(self, name: str) -> Any: ...

    def close(self) -> None: ...


class InMemoryValues:
    """A `ValueStore` in memory: it keeps the tensors it is given (views keep sharing their base's memory)."""

    def __init__(self) -> None:
        self.bytes_written = 0
        self._values: dict[str, Any] = {}

    def put(self, name: str, value: Any) -> None:
        self._values[name] = value

    def get(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def close(self) -> None:
        self._values.clear()


@attrs.frozen
class EagerFacts:
    """What one eager run of the original graph showed."""

    metas: Mapping[str, ValueMeta]  # the value of every node that ran (placeholders included)
    stored: frozenset[str]  # nodes whose value the store holds: those that may become inputs
    # node -> every node sharing memory with it (views, their bases, in-place writers), for nodes that share
    alias_groups: Mapping[str, frozenset[str]] = attrs.field(factory=dict)
    mutating: frozenset[str] = frozenset()  # nodes that changed an argument in place
    # stored node -> the first later node that wrote into its memory (its stored value is from before)
    first_write: Mapping[str, str] = attrs.field(factory=dict)
    failed_at: str | None = None  # the node whose eager run raised, if any
    error: str | None = None

    @property
    def aliasing(self) -> frozenset[str]:
        """Nodes that share memory with another node."""
        return frozenset(self.alias_groups)


def record_values(gm: torch.fx.GraphModule, inputs: Sequence[Any], store: ValueStore) -> None:
    """Run `gm` eagerly once on copies of `inputs`, putting into `store` every node value that may become an input.

    Values are dropped from the run as soon as no later node needs them, so
    with a store on disk peak memory stays at the values live at one time.
    """
    run_eager(gm, inputs, store)


def run_eager(gm: torch.fx.GraphModule, inputs: Sequence[Any], store: ValueStore) -> EagerFacts:
    """`record_values`, returning what the run showed. An error in the run is recorded, not raised."""
    recorder = _Recorder(gm, store)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    env = dict(zip(placeholders, fresh_inputs(inputs)))
    for node, value in env.items():
        recorder.metas[node.name] = ValueMeta.of(value)
    failed_at = error = None
    try:
        recorder.run(initial_env=env, enable_io_processing=False)
    except Exception as caught:  # the graph itself fails eagerly: keep what ran
        failed_at = recorder.current
        error = f"{type(caught).__name__}: {str(caught).splitlines()[0] if str(caught) else ''}"
        log.warning(
            "the graph raised %s when run eagerly at node %s; nodes from there on cannot become inputs",
            error, failed_at,
        )
    finally:
        del env
    return EagerFacts(
        metas=dict(recorder.metas),
        stored=frozenset(recorder.unchanged_values()),
        alias_groups=recorder.groups.groups(),
        mutating=frozenset(recorder.mutating),
        first_write=dict(recorder.first_write),
        failed_at=failed_at,
        error=error,
    )


class _Recorder(torch.fx.Interpreter):
    """An interpreter that stores each node's value as it is made and watches for shared memory and in-place writes.

    A value is stored as it was when its node ran. Before a node that writes
    in place (by its schema) runs, stored tensors it may write into are
    copied; a write nothing announced is caught by the version counter, and
    that value is not used.
    """

    def __init__(self, gm: torch.fx.GraphModule, store: ValueStore) -> None:
        super().__init__(gm, garbage_collect_values=True)
        self.store = store
        self.metas: dict[str, ValueMeta] = {}
        self.groups = _Groups()
        self.mutating: set[str] = set()
        self.first_write: dict[str, str] = {}
        self.current: str | None = None
        # the tensors put, to notice later writes (weak: a store that copied them lets them go)
        self._put: dict[str, list[tuple[weakref.ref[torch.Tensor], int | None]]] = {}
        self._by_storage: dict[tuple[str, int], set[str]] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        self.current = n.name
        inputs = {a.name: _tensors_in(self.env[a]) for a in n.all_input_nodes if a in self.env}
        if n.op in COMPUTE_OPS and static_effect(n, self.module) == Effect.MUTATES:
            self._copy_stored_sharing(inputs)
        versions = {name: [_version(t) for t in ts] for name, ts in inputs.items()}
        result = super().run_node(n)
        if n.op == "output":
            return result
        self.metas[n.name] = meta = ValueMeta.of(result)
        written = [name for name, ts in inputs.items() if [_version(t) for t in ts] != versions[name]]
        for partner in [*written, *self._shares_memory_with(n, result, inputs)]:
            self.groups.join(n.name, partner)
        if written:
            self.mutating.add(n.name)
            for earlier in self.groups.members(n.name) - {n.name}:
                self.first_write.setdefault(earlier, n.name)
        if n.op in COMPUTE_OPS and meta.can_be_input:
            self._put_value(n.name, result.detach() if isinstance(result, torch.Tensor) else result)
        return result

    def _put_value(self, name: str, value: Any) -> None:
        self.store.put(name, value)
        tensors = _tensors_in(value)
        self._put[name] = [(weakref.ref(t), _version(t)) for t in tensors]
        for key in _storages(tensors):
            self._by_storage.setdefault(key, set()).add(name)

    def _shares_memory_with(self, n: torch.fx.Node, result: Any, inputs: dict[str, list[torch.Tensor]]) -> list[str]:
        """The input nodes whose tensors share memory with `result`."""
        source = n.args[0] if n.args else None
        if n.target is operator.getitem and isinstance(source, torch.fx.Node) and self.metas.get(source.name) \
                and self.metas[source.name].kind == "other":
            # an element of a tuple result shares memory exactly when its producer's results do
            return [source.name] if source.name in self.groups else []
        produced = _storages(_tensors_in(result))
        return [name for name, ts in inputs.items() if produced & _storages(ts)]

    def _copy_stored_sharing(self, inputs: dict[str, list[torch.Tensor]]) -> None:
        """Before an in-place write: put private copies of stored tensors that share memory with `inputs`."""
        targets = _storages(t for ts in inputs.values() for t in ts)
        for name in sorted({name for key in targets for name in self._by_storage.get(key, ())}):
            held = [ref() for ref, _ in self._put[name]]
            if any(t is not None and _storages([t]) & targets for t in held):  # the store holds it, not a copy
                self._put_value(name, _torch.tree_map(fresh_copy, self.store.get(name)))

    def unchanged_values(self) -> list[str]:
        """Stored nodes whose stored value is still the one they made (no write nothing announced)."""
        return [name for name, refs in self._put.items()
                if all((t := ref()) is None or _version(t) == version for ref, version in refs)]


class _Groups:
    """Union-find over node names: which nodes share memory."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def _root(self, name: str) -> str:
        while self._parent.get(name, name) != name:
            name = self._parent[name]
        return name

    def __contains__(self, name: object) -> bool:
        return name in self._parent

    def join(self, a: str, b: str) -> None:
        self._parent.setdefault(a, a)
        self._parent.setdefault(b, b)
        self._parent[self._root(a)] = self._root(b)

    def members(self, name: str) -> set[str]:
        root = self._root(name)
        return {other for other in self._parent if self._root(other) == root}

    def groups(self) -> dict[str, frozenset[str]]:
        members: dict[str, set[str]] = {}
        for name in self._parent:
            members.setdefault(self._root(name), set()).add(name)
        return {name: frozenset(group) for group in members.values() if len(group) > 1 for name in group}


def _tensors_in(value: Any) -> list[torch.Tensor]:
    return [x for x in _torch.tree_leaves(value) if isinstance(x, torch.Tensor)]


def _version(t: torch.Tensor) -> int | None:
    return _torch.tensor_version(t)


def _storages(tensors: Iterable[torch.Tensor]) -> set[tuple[str, int]]:
    keys = set()
    for t in tensors:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # tensors without storage (sparse, subclasses)
            continue
        if storage.nbytes() > 0:
            keys.add((str(t.device), storage.data_ptr()))
    return keys
