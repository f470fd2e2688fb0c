"""The typed configuration tree of compdebug, and `config.patch`.

Every key has a type, a default and a docstring (`describe()` lists them).
Values are process-global, like torch's own config: a patch made in one thread
is seen by all threads while it is active.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import pprint
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import attrs

from compdebug.errors import ConfigError

INJECT_KINDS = ("compile_error", "runtime_error", "accuracy")
INJECT_STAGES = ("dynamo", "aot", "codegen")
# Inductor has code-generation bugs built in for these ops and kinds only
# (torch._inductor.config.cpp/triton.inject_*_bug_TESTING_ONLY).
CODEGEN_BUGS = {"relu": INJECT_KINDS, "log1p": ("accuracy",)}


@attrs.frozen
class _Rule:
    """What a key allows: a checker and the words that describe it."""

    allowed: str
    check: Callable[[Any], bool]


def _choice(*choices: Any) -> _Rule:
    return _Rule(" or ".join(repr(c) for c in choices), lambda v: any(v is c or (type(v) is type(c) and v == c) for c in choices))


def _bool() -> _Rule:
    return _Rule("a bool", lambda v: isinstance(v, bool))


def _number(kind: type, optional: bool, positive: bool = True) -> _Rule:
    types = (int, float) if kind is float else (int,)

    def check(v: Any) -> bool:
        if v is None:
            return optional
        return isinstance(v, types) and not isinstance(v, bool) and (v > 0 or not positive)

    words = f"a positive {'number' if kind is float else 'int'}"
    return _Rule(words + (" or None" if optional else ""), check)


def _optional_str() -> _Rule:
    return _Rule("a str or None", lambda v: v is None or isinstance(v, str))


def _inject_ops() -> _Rule:
    def check(v: Any) -> bool:
        # op names are bare identifiers ("relu", "log1p"), matched in every form the op takes
        return isinstance(v, Mapping) and all(
            isinstance(k, str) and k.isidentifier() and kind in INJECT_KINDS for k, kind in v.items()
        )

    return _Rule(f"a dict of op name (a bare name like 'relu') -> one of {INJECT_KINDS}", check)


def _refuse_assignment(instance: Any, attribute: attrs.Attribute, value: Any) -> Any:
    raise ConfigError(
        f"set config values with compdebug.config.patch(KEY, {value!r}) (key ending in {attribute.name!r}), "
        "not by assignment"
    )


_tree = functools.partial(attrs.define, on_setattr=_refuse_assignment)


def _key(default: Any, rule: _Rule, doc: str) -> Any:
    if isinstance(default, dict):
        return attrs.field(factory=dict, metadata={"rule": rule, "doc": doc})
    return attrs.field(default=default, metadata={"rule": rule, "doc": doc})


@_tree
class AccuracyConfig:
    """How compiled results are judged against eager ones."""

    fp64_reference: bool = _key(True, _bool(), "judge accuracy against a float64 eager reference (RMSE)")
    strict: bool = _key(False, _bool(), "also compare non-floating outputs (bool/int) exactly")
    tolerance: float = _key(1e-3, _number(float, optional=False), "tolerance of the comparison")


@_tree
class MinifierConfig:
    """Defaults of the minifier run after a capture (and of `Minifier`)."""

    offload_to_disk: bool = _key(False, _bool(), "keep intermediate values on disk, not in memory")
    max_queries: int | None = _key(None, _number(int, optional=True), "stop after this many oracle evaluations")
    max_seconds: float | None = _key(None, _number(float, optional=True), "stop after this many seconds")
    isolate: bool = _key(False, _bool(), "run each oracle query in a child process (survives crashes)")
    query_timeout: float | None = _key(
        None, _number(float, optional=True), "seconds one oracle query may take before it counts as a 'timeout'"
    )


@_tree
class InjectConfig:
    """Known bugs to inject into compiled graphs, for testing debugging tools."""

    ops: dict[str, str] = _key({}, _inject_ops(), "op name -> 'compile_error', 'runtime_error' or 'accuracy'")
    stage: str = _key("dynamo", _choice(*INJECT_STAGES), "where the injected bug lives: 'dynamo', 'aot' or 'codegen'")


@_tree
class Settings:
    """The whole tree of values (the state that `Config` guards)."""

    repro_after: str | None = _key(
        None, _choice(None, "dynamo", "aot"), "capture failing graphs after Dynamo or after AOT Autograd"
    )
    repro_accuracy: bool = _key(False, _bool(), "also treat a compiled-vs-eager mismatch as a failure (AccuracyError)")
    repro_dir: str | None = _key(None, _optional_str(), "where checkpoints and repro.py go; None = ./compdebug_repro/<fresh>")
    minify_on_failure: bool = _key(True, _bool(), "minify in-process right after capture; False = only checkpoint")
    accuracy: AccuracyConfig = attrs.field(factory=AccuracyConfig)
    minifier: MinifierConfig = attrs.field(factory=MinifierConfig)
    inject: InjectConfig = attrs.field(factory=InjectConfig)


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, attrs.Attribute, Any]]:
    """Yield (dotted key, attrs field, owning object) for every leaf key."""
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        if attrs.has(type(value)):
            yield from _leaves(value, prefix + field.name + ".")
        else:
            yield prefix + field.name, field, obj


def _check_combination(values: Mapping[str, Any]) -> None:
    """Refuse combinations of keys that cannot work together."""
    if values["inject.stage"] != "codegen":
        return
    for op, kind in values["inject.ops"].items():
        if op not in CODEGEN_BUGS:
            raise ConfigError(
                f"inject.stage='codegen' cannot inject into {op!r}: inductor's code generation "
                f"has built-in bugs for {sorted(CODEGEN_BUGS)} only. Use inject.stage='dynamo' or 'aot' for other ops."
            )
        if kind not in CODEGEN_BUGS[op]:
            raise ConfigError(
                f"inject.stage='codegen' cannot make {op!r} a {kind!r} bug: inductor supports "
                f"{CODEGEN_BUGS[op]} for {op!r}. Use inject.stage='dynamo' or 'aot' for that kind."
            )


class Config:
    """The configuration tree: read keys as attributes, change them with `patch`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_settings", Settings())

    # -- reading ---------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._settings, name)
        except AttributeError:
            raise ConfigError(_unknown_key_message(name, self.keys())) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise ConfigError(f"set config values with compdebug.config.patch({name!r}, {value!r}), not by assignment")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {f.name for f in attrs.fields(Settings)})

    def keys(self) -> list[str]:
        return [key for key, _, _ in _leaves(self._settings)]

    def to_dict(self) -> dict[str, Any]:
        """Every key (dotted) with its current value; values are plain Python data."""
        return {key: _copy(getattr(owner, field.name)) for key, field, owner in _leaves(self._settings)}

    def defaults(self) -> dict[str, Any]:
        return Config().to_dict()

    def describe(self) -> str:
        """One line per key: name, default and docstring."""
        lines = []
        for key, field, _ in _leaves(Settings()):
            lines.append(f"{key} = {field.default if not isinstance(field.default, attrs.Factory) else {}!r}: "
                         f"{field.metadata['doc']} ({field.metadata['rule'].allowed})")
        return "\n".join(lines)

    def codegen(self) -> str:
        """Python source that restores the current values (repro scripts embed it)."""
        defaults = self.defaults()
        changed = {k: v for k, v in self.to_dict().items() if v != defaults[k]}
        return f"import compdebug\ncompdebug.config.load({pprint.pformat(changed, sort_dicts=True)})\n"

    # -- changing --------------------------------------------------------
    def load(self, values: Mapping[str, Any]) -> None:
        """Reset every key to its default, then apply `values` (as `codegen` emits)."""
        new = self.defaults()
        new.update(self._validated(values, base=new))
        self._apply(new)

    def patch(self, arg1: str | Mapping[str, Any] | None = None, arg2: Any = None, **kwargs: Any) -> _Patch:
        """Change keys for a `with` block, a decorated function or a decorated test method.

        `patch("a.b", v)`, `patch({"a.b": v, "c": w})` or `patch(c=w)`. The values are
        checked now: a bad key or value raises `ConfigError` and changes nothing.
        """
        if isinstance(arg1, str):
            changes = {arg1: arg2}
        elif arg1 is None:
            changes = {}
        elif isinstance(arg1, Mapping):
            changes = dict(arg1)
        else:
            raise ConfigError(f"config.patch takes a key and a value, a dict, or keywords; got {arg1!r}")
        for key in kwargs:
            if key not in {f.name for f in attrs.fields(Settings)}:
                raise ConfigError(
                    f"config.patch(**kwargs) takes top-level keys only; use config.patch({key!r}, value) for dotted keys. "
                    + _unknown_key_message(key, self.keys())
                )
        changes.update(kwargs)
        self._validated(changes, base=self.to_dict())
        return _Patch(self, changes)

    def _validated(self, changes: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
        keys = self.keys()
        rules = {key: field.metadata["rule"] for key, field, _ in _leaves(self._settings)}
        for key, value in changes.items():
            if key not in rules:
                # a sub-tree name like "accuracy" is not a key of its own
                raise ConfigError(_unknown_key_message(key, keys))
            if not rules[key].check(value):
                raise ConfigError(f"config key {key!r} cannot be {value!r}: it must be {rules[key].allowed}")
        merged = {**base, **changes}
        _check_combination(merged)
        return {key: _copy(value) for key, value in changes.items()}

    def _apply(self, values: Mapping[str, Any]) -> None:
        for key, field, owner in _leaves(self._settings):
            if key in values:
                object.__setattr__(owner, field.name, _copy(values[key]))


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def _unknown_key_message(key: str, keys: list[str]) -> str:
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
    if not close:
        # a leaf name without its section ("strict" for "accuracy.strict")
        close = [k for k in keys if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]][:3]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown config key {key!r}.{hint} Valid keys: {', '.join(keys)}"


PatchHook = Callable[[Mapping[str, Any]], AbstractContextManager[Any]]
_patch_hooks: list[PatchHook] = []


def add_patch_hook(hook: PatchHook) -> None:
    """Have `hook(changes)` called as each patch begins, once its values are in force.

    The context manager it returns is exited when that patch ends, after the
    values are restored, with the exception the patch's body raised, if any.
    For compdebug's own modules (config.py imports none of them, so they
    register here); adding a hook twice adds it once.
    """
    if hook not in _patch_hooks:
        _patch_hooks.append(hook)


def remove_patch_hook(hook: PatchHook) -> None:
    if hook in _patch_hooks:
        _patch_hooks.remove(hook)


class _Patch:
    """One patch: a context manager, a function decorator and a TestCase-method decorator."""

    def __init__(self, config: Config, changes: dict[str, Any]) -> None:
        self._config = config
        self._changes = changes
        self._saved: list[dict[str, Any]] = []
        self._hooks: list[contextlib.ExitStack] = []

    def __enter__(self) -> _Patch:
        # validate again: another patch may have changed a related key since
        base = self._config.to_dict()
        self._config._validated(self._changes, base=base)
        saved = {key: base[key] for key in self._changes}
        self._config._apply(self._changes)
        hooks = contextlib.ExitStack()
        try:
            for hook in list(_patch_hooks):
                hooks.enter_context(hook(dict(self._changes)))
        except BaseException:
            self._config._apply(saved)
            hooks.close()
            raise
        self._saved.append(saved)
        self._hooks.append(hooks)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._config._apply(self._saved.pop())
        self._hooks.pop().__exit__(*exc)  # what the hooks return cannot swallow the body's exception

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isclass(fn):
            raise ConfigError("config.patch decorates functions and test methods, not classes")
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _Patch(self._config, self._changes):
                    return await fn(*args, **kwargs)
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # a fresh _Patch per call, so recursion and threads nest correctly
            with _Patch(self._config, self._changes):
                return fn(*args, **kwargs)

        return wrapper


config = Config()
