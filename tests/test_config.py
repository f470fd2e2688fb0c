"""config: typed keys, patch in all its forms, clear errors, to_dict/codegen round trip."""

from __future__ import annotations

import importlib
import json
import threading
import unittest

import pytest

import compdebug
from compdebug import CompdebugError, config

API_KEYS = {
    "repro_after": None,
    "repro_accuracy": False,
    "repro_dir": None,
    "minify_on_failure": True,
    "accuracy.fp64_reference": True,
    "accuracy.strict": False,
    "accuracy.tolerance": 1e-3,
    "minifier.offload_to_disk": False,
    "minifier.max_queries": None,
    "minifier.max_seconds": None,
    "minifier.isolate": False,
    "inject.ops": {},
    "inject.stage": "dynamo",
}


def test_every_api_key_exists_with_its_default():
    values = config.to_dict()
    for key, default in API_KEYS.items():
        assert values[key] == default, key


def test_attribute_reading_matches_to_dict():
    assert config.repro_after is None
    assert config.accuracy.strict is False
    assert config.minifier.max_queries is None
    assert config.inject.stage == "dynamo"


def test_patch_as_context_manager_with_key_value_dict_and_kwargs():
    with config.patch("accuracy.strict", True):
        assert config.accuracy.strict is True
        with config.patch({"repro_after": "aot", "accuracy.tolerance": 0.5}):
            assert (config.repro_after, config.accuracy.tolerance) == ("aot", 0.5)
            with config.patch(repro_accuracy=True, repro_after="dynamo"):
                assert config.repro_accuracy is True and config.repro_after == "dynamo"
            assert config.repro_after == "aot" and config.repro_accuracy is False
        assert config.repro_after is None
    assert config.accuracy.strict is False


def test_patch_restores_when_the_body_raises():
    with pytest.raises(ZeroDivisionError):
        with config.patch("minifier.max_queries", 7):
            1 / 0
    assert config.minifier.max_queries is None


def test_patch_as_function_decorator_applies_per_call():
    @config.patch("inject.ops", {"relu": "accuracy"})
    def read():
        return dict(config.inject.ops)

    assert config.inject.ops == {}
    assert read() == {"relu": "accuracy"}
    assert config.inject.ops == {}


def test_patch_decorated_function_restores_on_exception():
    @config.patch(repro_after="dynamo")
    def boom():
        raise ValueError("x")

    with pytest.raises(ValueError):
        boom()
    assert config.repro_after is None


class PatchedTestCase(unittest.TestCase):
    @config.patch("accuracy.strict", True)
    def test_method_sees_patch(self):
        self.assertTrue(config.accuracy.strict)


def test_patch_decorates_unittest_methods():
    result = unittest.TextTestRunner(stream=open("/dev/null", "w")).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(PatchedTestCase)
    )
    assert result.wasSuccessful() and result.testsRun == 1
    assert config.accuracy.strict is False


def test_same_patch_object_nests_with_itself():
    p = config.patch("minifier.max_seconds", 2.5)
    with p:
        with p:
            assert config.minifier.max_seconds == 2.5
        assert config.minifier.max_seconds == 2.5
    assert config.minifier.max_seconds is None


def test_unknown_key_names_the_key_and_the_closest_valid_keys():
    with pytest.raises(CompdebugError) as info:
        config.patch("accuracy.strikt", True)
    message = str(info.value)
    assert "'accuracy.strikt'" in message and "'accuracy.strict'" in message


def test_unknown_leaf_name_without_section_suggests_the_full_key():
    with pytest.raises(CompdebugError, match="'accuracy.tolerance'"):
        config.patch("tolerance", 0.1)


def test_kwargs_take_top_level_keys_only():
    with pytest.raises(CompdebugError, match="top-level"):
        config.patch(strict=True)


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("repro_after", "inductor", "'dynamo' or 'aot'"),
        ("accuracy.strict", 1, "a bool"),
        ("accuracy.tolerance", "small", "a positive number"),
        ("minifier.max_queries", 0, "a positive int or None"),
        ("minifier.max_queries", 2.5, "a positive int or None"),
        ("inject.stage", "ptx", "'dynamo' or 'aot' or 'codegen'"),
        ("inject.ops", {"relu": "segfault"}, "compile_error"),
        ("inject.ops", ["relu"], "a dict"),
        ("inject.ops", {"torch.relu": "accuracy"}, "bare name"),
        ("repro_dir", 3, "a str or None"),
    ],
)
def test_bad_value_names_key_value_and_what_is_allowed(key, value, allowed):
    with pytest.raises(CompdebugError) as info:
        config.patch(key, value)
    message = str(info.value)
    assert repr(key) in message and repr(value) in message and allowed in message


def test_refused_patch_changes_nothing():
    before = config.to_dict()
    with pytest.raises(CompdebugError):
        config.patch({"repro_after": "aot", "accuracy.strict": "yes"})
    assert config.to_dict() == before


def test_codegen_stage_refuses_ops_inductor_cannot_break():
    with pytest.raises(CompdebugError, match="relu"):
        config.patch({"inject.stage": "codegen", "inject.ops": {"sin": "accuracy"}})
    with pytest.raises(CompdebugError, match="log1p"):
        config.patch({"inject.stage": "codegen", "inject.ops": {"log1p": "compile_error"}})
    with config.patch({"inject.stage": "codegen", "inject.ops": {"relu": "runtime_error", "log1p": "accuracy"}}):
        assert config.inject.stage == "codegen"


def test_a_combination_refused_by_a_nested_patch_keeps_the_outer_one():
    with config.patch("inject.stage", "codegen"):
        with pytest.raises(CompdebugError):
            config.patch("inject.ops", {"cos": "accuracy"})
        assert config.inject.ops == {}


def test_assignment_is_refused_with_a_pointer_to_patch():
    with pytest.raises(CompdebugError, match="patch"):
        config.accuracy.strict = True
    with pytest.raises(CompdebugError, match="patch"):
        config.repro_after = "dynamo"
    assert config.accuracy.strict is False and config.repro_after is None


def test_to_dict_is_json_safe_and_a_copy():
    values = config.to_dict()
    json.dumps(values)
    values["inject.ops"]["relu"] = "accuracy"
    assert config.inject.ops == {}


def test_codegen_round_trips():
    changes = {
        "repro_after": "aot",
        "accuracy.tolerance": 0.25,
        "inject.ops": {"relu": "accuracy", "sin": "compile_error"},
        "minifier.max_seconds": 9.5,
    }
    with config.patch(changes):
        source = config.codegen()
        expected = config.to_dict()
    assert config.to_dict() != expected
    try:
        exec(source, {})
        assert config.to_dict() == expected
    finally:
        config.load({})
    assert "import compdebug" in source


def test_codegen_of_defaults_restores_defaults():
    source = config.codegen()
    with config.patch("accuracy.strict", True):
        exec(source, {})
        assert config.accuracy.strict is False
        config.load({"accuracy.strict": True})  # so the patch's own restore is exercised


def test_describe_lists_every_key_with_its_doc():
    text = config.describe()
    for key in API_KEYS:
        assert key in text


def test_patch_is_seen_by_other_threads():
    seen = []
    with config.patch("repro_after", "dynamo"):
        thread = threading.Thread(target=lambda: seen.append(config.repro_after))
        thread.start()
        thread.join()
    assert seen == ["dynamo"]


def test_top_level_name_is_the_config_object():
    assert compdebug.config is config
    importlib.import_module("compdebug.config")  # a later import of the module must not shadow the object

    assert compdebug.config is config


# -- patch hooks (how backends/ learns that a patch ended, config.py importing none of it) --


@pytest.fixture
def patch_hook():
    """A registered hook that records what it saw at each patch's start and end."""
    import contextlib

    from compdebug.config import add_patch_hook, remove_patch_hook

    seen = []

    @contextlib.contextmanager
    def hook(changes):
        seen.append(("start", dict(changes), config.repro_dir))
        try:
            yield
        except BaseException as error:
            seen.append(("end by", type(error).__name__, config.repro_dir))
            raise
        seen.append(("end", dict(changes), config.repro_dir))

    add_patch_hook(hook)
    add_patch_hook(hook)  # twice: still called once
    yield seen, hook
    remove_patch_hook(hook)


def test_a_hook_sees_each_patch_start_with_its_values_and_end_after_they_are_restored(patch_hook):
    seen, _ = patch_hook
    with config.patch(repro_dir="/tmp/outer"):
        with config.patch(repro_dir="/tmp/inner"):
            pass
    assert seen == [
        ("start", {"repro_dir": "/tmp/outer"}, "/tmp/outer"),
        ("start", {"repro_dir": "/tmp/inner"}, "/tmp/inner"),
        ("end", {"repro_dir": "/tmp/inner"}, "/tmp/outer"),
        ("end", {"repro_dir": "/tmp/outer"}, None),
    ]


def test_a_hook_is_told_the_bodys_error_and_cannot_swallow_it(patch_hook):
    seen, _ = patch_hook

    @config.patch(repro_dir="/tmp/x")
    def fails():
        raise KeyError("body")

    with pytest.raises(KeyError, match="body"):
        fails()
    assert seen[-1] == ("end by", "KeyError", None)


def test_a_hook_failing_at_the_start_leaves_config_as_it_was():
    from compdebug.config import add_patch_hook, remove_patch_hook

    def broken(changes):
        raise RuntimeError("hook bug")

    add_patch_hook(broken)
    try:
        with pytest.raises(RuntimeError, match="hook bug"):
            with config.patch(repro_dir="/tmp/never"):
                pass
    finally:
        remove_patch_hook(broken)
    assert config.repro_dir is None
