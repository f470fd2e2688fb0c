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
