"""save_tensors / load_tensors: real values come back with strides, offsets, sharing and autograd flags."""

from __future__ import annotations

import pytest
import torch

from compdebug.errors import BadInputError
from compdebug.repro import load_tensors, save_tensors
from compdebug.repro.tensors import set_module_tensors
from tests.conftest import requires_gpu


def same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (
        a.shape == b.shape
        and a.stride() == b.stride()
        and a.storage_offset() == b.storage_offset()
        and a.dtype == b.dtype
        and a.device == b.device
        and a.requires_grad == b.requires_grad
        and a.is_leaf == b.is_leaf
        and torch.equal(a.detach(), b.detach())
    )


def test_round_trip_keeps_layout_sharing_and_plain_values(tmp_path):
    base = torch.randn(6, 5)
    values = [
        base[1:, ::2],  # strided view with a storage offset
        base.t(),  # same storage as the first
        torch.randn(1, 3).expand(4, 3),  # stride 0
        torch.randn(2, 3, 4, 4).to(memory_format=torch.channels_last),
        torch.randn(3, requires_grad=True),
        torch.randn(3, requires_grad=True) + 1,  # a non-leaf
        torch.tensor([True, False]),
        torch.arange(4, dtype=torch.int32),
        torch.randn(2, dtype=torch.bfloat16),
        torch.empty(0, 3),
        7,
        2.5,
        None,
        True,
    ]
    save_tensors(tmp_path / "t.pt", values)
    loaded = load_tensors(tmp_path / "t.pt")
    assert len(loaded) == len(values)
    for original, back in zip(values, loaded):
        if isinstance(original, torch.Tensor):
            assert same_layout(original, back), (original, back)
        else:
            assert back == original and type(back) is type(original)
    loaded[0][0, 0] = 100.0  # the two views of `base` still share one storage
    assert loaded[1][0, 1] == 100.0


def test_file_loads_without_pickled_code(tmp_path):
    save_tensors(tmp_path / "t.pt", [torch.randn(2, 2)])
    saved = torch.load(tmp_path / "t.pt", weights_only=True)  # would raise on arbitrary pickled objects
    assert saved["format"] == "repro-tensors/1"


def test_a_small_view_of_a_large_tensor_does_not_save_the_rest(tmp_path):
    big = torch.randn(1_000_000)
    save_tensors(tmp_path / "t.pt", [big[:10]])
    assert (tmp_path / "t.pt").stat().st_size < 10_000
    assert torch.equal(load_tensors(tmp_path / "t.pt")[0], big[:10])


def test_unsupported_value_is_refused(tmp_path):
    with pytest.raises(BadInputError, match="object"):
        save_tensors(tmp_path / "t.pt", [object()])
    assert not (tmp_path / "t.pt").exists()


def test_set_module_tensors_keeps_parameters_parameters():
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    weight = torch.ones(2, 2)
    set_module_tensors(module, ["0.weight", "1.running_mean"], [weight, torch.full((2,), 3.0)])
    assert isinstance(module[0].weight, torch.nn.Parameter) and torch.equal(module[0].weight, weight)
    assert "running_mean" in dict(module[1].named_buffers()) and module[1].running_mean[0] == 3.0


@pytest.mark.gpu
@requires_gpu
def test_round_trip_keeps_cuda_and_cpu_devices(tmp_path):
    values = [torch.randn(3, 4, device="cuda")[:, 1:], torch.randn(2)]
    save_tensors(tmp_path / "t.pt", values)
    for original, back in zip(values, load_tensors(tmp_path / "t.pt")):
        assert same_layout(original, back)
