"""Shared test set-up: a clean Dynamo and compdebug config around every test."""

from __future__ import annotations

import pytest
import torch

import compdebug

requires_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _clean_compile_state():
    torch._dynamo.reset()
    before = compdebug.config.to_dict()
    yield
    torch._dynamo.reset()
    assert compdebug.config.to_dict() == before, "a test left compdebug.config changed"


def pytest_collection_modifyitems(items):
    """Every test that needs a CUDA GPU carries the `gpu` marker, so `-m gpu` selects the GPU run."""
    for item in items:
        if any(m.name == "skipif" and m.kwargs.get("reason") == "needs a CUDA GPU" for m in item.iter_markers()):
            item.add_marker(pytest.mark.gpu)
