"""Failure predicates ("oracles"): does a graph fail, and how?

An oracle observes one graph and reports the `Signature` of the failure it saw
(or None). The minifier keeps the signature of the original graph and accepts a
candidate only when it fails the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs
import torch
import torch.fx

from compdebug.backends.spec import BackendSpec, importable_path, resolve_backend
from compdebug.errors import BadInputError
from compdebug.minify.tensors import fresh_inputs
from compdebug.repro.target import ReproTarget

# "crash" and "timeout": the query's process died or hung (only an isolating executor sees those)
Stage = Literal["compile", "runtime", "accuracy", "predicate", "predicate_error", "crash", "timeout"]

_MAX_MESSAGE = 4000  # characters of a normalised message kept for the repro's header


@attrs.frozen
class Signature:
    """How a graph failed: the stage, the exception's type and its normalised first line.

    Two signatures are equal when those three are; `text` (the raw error, for
    messages) and `full_message` (for the repro) do not take part.
    """

    stage: Stage
    error_type: str | None = None  # module-qualified class name
    message: str | None = None
    text: str = attrs.field(default="", eq=False)
    full_message: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def of_error(cls, stage: Stage, error: BaseException) -> Signature:
        kind = type(error)
        raw = str(error)
        return cls(
            stage,
            f"{kind.__module__}.{kind.__qualname__}",
            normalize_message(_first_line(raw)),
            f"{kind.__name__}: {raw}"[:_MAX_MESSAGE],
            normalize_message(raw)[:_MAX_MESSAGE],
        )

    @property
    def error_name(self) -> str | None:
        return self.error_type.rsplit(".", 1)[-1] if self.error_type else None

    def describe(self) -> str:
        where = {
            "compile": "while compiling",
            "runtime": "while running the compiled code",
            "accuracy": "compiled and eager results differ",
            "predicate": "the predicate returned True",
            "predicate_error": "the predicate raised",
        }.get(self.stage, self.stage)
        if self.error_type is None:
            return where
        return f"{where}: {_first_line(self.text)[:300]}"


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:\\|/)[^\s'\"`,;:()\[\]{}<>]+")
_HASH = re.compile(r"\b(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{20,}\b")
_TEMP = re.compile(r"\btmp[\w\-]{3,}")
_NUMBER = re.compile(r"\d+")
_SPACE = re.compile(r"[ \t]+")


def normalize_message(text: str) -> str:
    """`text` without what changes between runs of the same failure.

    Memory addresses, file paths, temporary and hashed names, and numbers
    (node suffixes, buffer indices, shapes, line numbers) are replaced by
    placeholders; runs of spaces collapse; leading and trailing blanks go.
    """
    text = _ADDRESS.sub("<address>", text)
    text = _PATH.sub("<path>", text)
    text = _HASH.sub("<hash>", text)
    text = _TEMP.sub("<temp>", text)
    text = _NUMBER.sub("N", text)
    text = "\n".join(_SPACE.sub(" ", line).rstrip() for line in text.strip().splitlines())
    return text


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


@runtime_checkable
class Oracle(Protocol):
    """What the minifier needs of a failure predicate."""

    kind: str
    # whether the answer may depend on input values, not only on their shapes and
    # dtypes (if not, candidates equal up to input values share one cached answer)
    value_sensitive: bool

    def observe(self, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        """The failure `gm` shows on `inputs` (which it must not change), or None."""
        ...

    def repro_target(self, signature: Signature) -> ReproTarget: ...

    def describe(self) -> str: ...


@attrs.frozen
class CompileFailure:
    """The graph fails when `backend` compiles it (any exception while compiling)."""

    backend: BackendSpec = attrs.field(converter=resolve_backend)
    kind: str = attrs.field(default="compile", init=False)
    value_sensitive: bool = attrs.field(default=False, init=False)

    def observe(self, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        try:
            self.backend.compile(gm, fresh_inputs(inputs))
        except Exception as error:
            return Signature.of_error("compile", error)
        return None

    def repro_target(self, signature: Signature) -> ReproTarget:
        return _error_target(self.kind, self.backend, signature)

    def describe(self) -> str:
        return f"CompileFailure({self.backend.label})"


@attrs.frozen
class RuntimeFailure:
    """Code compiled by `backend` raises when it runs (an error while compiling is a different failure)."""

    backend: BackendSpec = attrs.field(converter=resolve_backend)
    kind: str = attrs.field(default="runtime", init=False)
    value_sensitive: bool = attrs.field(default=True, init=False)

    def observe(self, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        try:
            compiled = self.backend.compile(gm, fresh_inputs(inputs))
        except Exception as error:
            return Signature.of_error("compile", error)
        try:
            compiled(*fresh_inputs(inputs))
        except Exception as error:
            return Signature.of_error("runtime", error)
        return None

    def repro_target(self, signature: Signature) -> ReproTarget:
        return _error_target(self.kind, self.backend, signature)

    def describe(self) -> str:
        return f"RuntimeFailure({self.backend.label})"


def _is_bool(_: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise BadInputError(f"AccuracyFailure({attribute.name}=...) must be a bool; got {value!r}")


def _positive_number(_: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise BadInputError(f"AccuracyFailure({attribute.name}=...) must be a positive number; got {value!r}")


@attrs.frozen
class AccuracyFailure:
    """Code compiled by `backend` runs but computes values too far from eager (see `compdebug.accuracy`).

    An exception while compiling or running is a different failure, not an
    accuracy failure.
    """

    backend: BackendSpec = attrs.field(converter=resolve_backend)
    strict: bool = attrs.field(default=False, validator=_is_bool)
    fp64_reference: bool = attrs.field(default=True, validator=_is_bool)
    tolerance: float = attrs.field(default=1e-3, validator=_positive_number)
    kind: str = attrs.field(default="accuracy", init=False)
    value_sensitive: bool = attrs.field(default=True, init=False)

    def observe(self, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        from compdebug.accuracy import check_accuracy

        eager = copy_graph_module(gm)  # compilers may rewrite the graph they are given
        try:
            compiled = self.backend.compile(gm, fresh_inputs(inputs))
        except Exception as error:
            return Signature.of_error("compile", error)
        try:
            ok, detail = check_accuracy(
                eager, compiled, inputs,
                fp64_reference=self.fp64_reference, strict=self.strict, tolerance=self.tolerance,
            )
        except Exception as error:
            return Signature.of_error("runtime", error)
        return None if ok else Signature("accuracy", text=f"AccuracyError: {detail}"[:_MAX_MESSAGE])

    def repro_target(self, signature: Signature) -> ReproTarget:
        return ReproTarget(
            kind="accuracy",
            backend=self.backend,
            error_type="AccuracyError",
            error_message=normalize_message(signature.text.removeprefix("AccuracyError: "))[:_MAX_MESSAGE],
            error_text=signature.text.removeprefix("AccuracyError: ") or None,
            strict=self.strict,
            fp64_reference=self.fp64_reference,
            tolerance=self.tolerance,
        )

    def describe(self) -> str:
        return (
            f"AccuracyFailure({self.backend.label}, strict={self.strict}, "
            f"fp64_reference={self.fp64_reference}, tolerance={self.tolerance})"
        )


@attrs.frozen
class PredicateFailure:
    """A user's callable `(gm, inputs) -> bool`: True means the graph fails.

    An exception raised by the callable counts as a different failure.
    """

    fn: Callable[[torch.fx.GraphModule, list[Any]], bool]
    kind: str = attrs.field(default="predicate", init=False)
    value_sensitive: bool = attrs.field(default=True, init=False)

    def observe(self, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        try:
            failed = self.fn(gm, fresh_inputs(inputs))
        except Exception as error:
            return Signature.of_error("predicate_error", error)
        return Signature("predicate") if failed else None

    def repro_target(self, signature: Signature) -> ReproTarget:
        return ReproTarget(kind="predicate", predicate_path=importable_path(self.fn))

    def describe(self) -> str:
        return f"the predicate {getattr(self.fn, '__qualname__', repr(self.fn))}"


def as_oracle(failure: Any) -> Oracle:
    """`failure` as an oracle: one of ours as it is, a callable `(gm, inputs) -> bool` wrapped."""
    if isinstance(failure, (CompileFailure, RuntimeFailure, AccuracyFailure, PredicateFailure)):
        return failure
    if isinstance(failure, Oracle):
        return failure
    if callable(failure):
        return PredicateFailure(failure)
    raise BadInputError(
        f"the failure to minify must be CompileFailure(backend), RuntimeFailure(backend), "
        f"AccuracyFailure(backend, ...) or a callable (gm, inputs) -> bool; got {failure!r}"
    )


def copy_graph_module(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A GraphModule with its own copy of `gm`'s graph, sharing its parameters and submodules."""
    graph = torch.fx.Graph()
    output = graph.graph_copy(gm.graph, {})
    graph.output(output)
    return torch.fx.GraphModule(gm, graph)


def reproduces(observed: Signature | None, target: ReproTarget) -> bool:
    """Whether `observed` is the failure `target` records: same kind, and for errors the same
    exception class and normalised first line (a crash or hang: the same signal or time-out)."""
    if observed is None or observed.stage != target.kind:
        return False
    if target.kind in ("compile", "runtime"):
        first = normalize_message(_first_line(target.error_message or ""))
        return observed.error_name == target.error_type and (not first or observed.message == first)
    if target.kind in ("crash", "timeout"):
        return observed.error_type == target.error_type
    return True


def describe_target(target: ReproTarget) -> str:
    """The failure `target` records, as `Signature.describe` would say it."""
    where = Signature(target.kind).describe()  # type: ignore[arg-type]
    message = _first_line(target.error_text or target.error_message or "")
    if target.error_type is None or target.kind == "accuracy":
        return where
    return f"{where}: {target.error_type}: {message[:300]}" if message else f"{where}: {target.error_type}"


def _error_target(kind: str, backend: BackendSpec, signature: Signature) -> ReproTarget:
    return ReproTarget(
        kind=kind,  # type: ignore[arg-type]
        backend=backend,
        error_type=signature.error_name,
        error_message=signature.full_message,
        error_text=signature.text.removeprefix(f"{signature.error_name}: ") or None,
    )
