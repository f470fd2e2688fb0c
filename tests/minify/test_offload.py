"""compdebug.minify.offload.DiskValues: intermediate values on disk instead of in memory."""

from __future__ import annotations

import collections
import errno
import json
import os
import subprocess
import sys
import textwrap
from unittest import mock

import pytest
import torch

import compdebug.minify.offload as offload
from compdebug.errors import CheckpointError, CompdebugError, OffloadError
from compdebug.minify.offload import DiskValues
from tests.conftest import requires_gpu


@pytest.fixture
def store(tmp_path):
    values = DiskValues(tmp_path)
    yield values
    values.close()


def stored_files(values: DiskValues) -> list[str]:
    return sorted(f for f in os.listdir(values.path) if f.endswith(".bin"))


def _base() -> torch.Tensor:
    return torch.arange(60, dtype=torch.float32).reshape(6, 10)


TENSORS = {
    "contiguous": lambda: torch.randn(5, 7),
    "view_with_storage_offset": lambda: _base()[2:4, 3:8],
    "transposed": lambda: _base().t(),
    "strided_slice": lambda: _base()[:, ::2],
    "far_apart_rows": lambda: torch.randn(100, 4)[::25],  # span much larger than the elements
    "expanded": lambda: torch.randn(3, 1).expand(3, 5),
    "bool": lambda: torch.randn(4, 4) > 0,
    "int64": lambda: torch.arange(-5, 5, dtype=torch.int64) * 2**40,
    "float16": lambda: torch.randn(3, 3).half(),
    "bfloat16": lambda: torch.randn(3, 3).bfloat16(),
    "complex64": lambda: torch.randn(4, dtype=torch.complex64),
    "zero_dim": lambda: torch.tensor(3.5),
    "requires_grad": lambda: torch.randn(3, 2, requires_grad=True),
    "non_leaf_requires_grad": lambda: torch.randn(3, 2, requires_grad=True) * 2,
    "parameter": lambda: torch.nn.Parameter(torch.randn(2, 2)),
    "empty": lambda: torch.empty(0, 3),
}


def assert_same_tensor(got: torch.Tensor, want: torch.Tensor) -> None:
    assert type(got) is type(want)
    assert got.dtype == want.dtype and got.shape == want.shape and got.stride() == want.stride()
    assert got.device == want.device and got.requires_grad == want.requires_grad
    assert torch.equal(got.detach(), want.detach())


@pytest.mark.parametrize("kind", TENSORS)
def test_round_trip_keeps_values_and_layout(store, kind):
    value = TENSORS[kind]()
    store.put("v", value)
    assert_same_tensor(store.get("v"), value)


def test_round_trip_of_containers_and_plain_values(store):
    x = torch.randn(4, 3)
    values = {
        "tuple": (x, x * 2),
        "list_with_ints": [x, 3, None],
        "dict": {"a": x, "b": (x[0], 1.5)},
        "max": torch.max(x, dim=1),  # torch.return_types.max
        "named": collections.namedtuple("Pair", "left right")(x, 7),
        "int": 5,
        "none": None,
        "shape": (4, 3),
    }
    for name, value in values.items():
        store.put(name, value)
    for name, value in values.items():
        got = store.get(name)
        assert type(got) is type(value), name
        flat_got, _ = torch.utils._pytree.tree_flatten(got)
        flat_want, _ = torch.utils._pytree.tree_flatten(value)
        for g, w in zip(flat_got, flat_want, strict=True):
            if isinstance(w, torch.Tensor):
                assert_same_tensor(g, w)
            else:
                assert g == w


def test_get_returns_a_fresh_tensor_and_leaves_the_file_alone(store):
    store.put("x", torch.zeros(1000))
    first = store.get("x")
    first.add_(1)  # a candidate that mutates its input in place
    assert torch.equal(store.get("x"), torch.zeros(1000))


def test_equal_tensors_are_stored_once(store):
    x = torch.randn(256, 256)
    store.put("x", x)
    store.put("copy", x.clone())
    store.put("transposed_view", x.t())  # same bytes, other layout
    store.put("tuple", (x, x))
    assert store.bytes_written == x.numel() * 4
    assert len(stored_files(store)) == 1
    assert_same_tensor(store.get("transposed_view"), x.t())

    y = x.clone()
    y[100, 3] += 1  # same sampled fingerprint, other contents
    store.put("y", y)
    assert store.bytes_written == 2 * x.numel() * 4
    assert torch.equal(store.get("y"), y) and torch.equal(store.get("x"), x)


def test_same_bytes_under_another_dtype_share_the_file(store):
    x = torch.randn(64)
    store.put("float", x)
    store.put("as_int", x.view(torch.int32))
    assert store.bytes_written == 256
    assert_same_tensor(store.get("as_int"), x.view(torch.int32))


def test_files_are_removed_on_close(tmp_path):
    values = DiskValues(tmp_path)
    values.put("x", torch.randn(100))
    kept = values.get("x")
    assert len(stored_files(values)) == 1
    values.close()
    assert not os.path.exists(values.path)
    assert kept.sum().isfinite()  # tensors handed out stay valid
    values.close()  # a second close does nothing
    with pytest.raises(OffloadError, match="closed"):
        values.get("x")


def test_files_are_removed_when_the_store_is_dropped(tmp_path):
    values = DiskValues(tmp_path)
    values.put("x", torch.randn(100))
    path = values.path
    del values
    assert not os.path.exists(path)


def test_keep_leaves_files_and_an_index(tmp_path):
    with DiskValues(tmp_path, keep=True) as values:
        values.put("x", torch.randn(3, 4).t())
        values.put("n", 3)
    index = json.loads(open(os.path.join(values.path, "index.json")).read())
    assert index["x"][0]["shape"] == [4, 3] and index["x"][0]["stride"] == [1, 4]
    assert index["n"] == [{"in_memory": "3"}]
    assert os.path.exists(os.path.join(values.path, index["x"][0]["file"]))


def test_directory_under_a_file_is_refused_at_construction(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(OffloadError, match="cannot write offloaded values under") as caught:
        DiskValues(blocker / "values")
    assert isinstance(caught.value, CheckpointError) and isinstance(caught.value, CompdebugError)


@pytest.fixture
def tiny_mount(tmp_path):
    """A real 1 MiB tmpfs (needs root and mount rights; skipped otherwise)."""
    mounted = []

    def mount(options: str):
        path = tmp_path / f"mnt{len(mounted)}"
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options},size=1m", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", str(path)], check=True)


def test_read_only_filesystem_is_refused_at_construction(tiny_mount):
    with pytest.raises(OffloadError, match="Read-only file system"):
        DiskValues(tiny_mount("ro"))


def test_too_little_free_space_is_refused_at_construction(tmp_path):
    small = os.statvfs_result((4096, 4096, 1000, 10, 10, 100, 50, 50, 0, 255))
    with mock.patch.object(offload.os, "statvfs", return_value=small):
        with pytest.raises(OffloadError, match=r"only 0 MiB free .* needs at least 256 MiB"):
            DiskValues(tmp_path)
    assert os.listdir(tmp_path) == [], "the refused folder is removed"


def test_really_small_disk(tiny_mount):
    disk = tiny_mount("rw")
    with pytest.raises(OffloadError, match="only 1 MiB free"):
        DiskValues(disk)
    values = DiskValues(disk, min_free_bytes=0)
    values.put("fits", torch.zeros(1000))
    with pytest.raises(OffloadError, match="is full"):
        values.put("too_big", torch.randn(2**19))  # 2 MiB
    assert stored_files(values) == ["000000.bin"], "the partial file is removed"
    assert torch.equal(values.get("fits"), torch.zeros(1000))
    values.close()


class _FullDiskFile:
    def __init__(self, path, mode):
        self.file = open(path, mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_during_put_is_a_clear_error(store):
    store.put("first", torch.ones(10))
    with mock.patch.object(offload, "open", _FullDiskFile, create=True):
        with pytest.raises(OffloadError, match="is full .* free some space or offload to another directory"):
            store.put("second", torch.randn(10))
    assert stored_files(store) == ["000000.bin"]
    assert store.bytes_written == 40


@pytest.mark.gpu
@requires_gpu
def test_cuda_tensors_come_back_to_their_device(store):
    x = torch.randn(64, 32, device="cuda").t()
    store.put("x", x)
    store.put("cpu_copy", x.cpu())
    assert_same_tensor(store.get("x"), x)
    assert store.bytes_written == x.numel() * 4
    for kind in ("expanded", "far_apart_rows", "requires_grad", "bool"):
        value = TENSORS[kind]().cuda()
        store.put(kind, value)
        assert_same_tensor(store.get(kind), value)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys, tempfile, time
    import torch
    from compdebug.minify.offload import DiskValues
    from compdebug.minify.values import InMemoryValues, record_values

    def chain(x):
        for i in range(30):
            x = torch.sin(x) if i % 2 else x * 1.0001
        return x

    gm = torch.fx.symbolic_trace(chain)
    x = torch.randn(2048, 2048)  # 16 MiB; 30 intermediates: 480 MiB
    gm(x)  # warm up kernels and the allocator outside the measurement
    store = DiskValues(tempfile.gettempdir()) if sys.argv[1] == "disk" else InMemoryValues()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    record_values(gm, [x], store)
    seconds = time.perf_counter() - start
    names = [n.name for n in gm.graph.nodes if n.op == "call_function"]
    got = [store.get(name) for name in names[::10]]
    assert all(isinstance(g, torch.Tensor) and g.shape == x.shape for g in got)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(grown * 1024, seconds, store.bytes_written)
    store.close()
    """
)


def _peak_growth(kind: str, tmp_path) -> tuple[int, float, int]:
    script = tmp_path / "memory.py"
    script.write_text(MEMORY_SCRIPT)
    done = subprocess.run([sys.executable, str(script), kind], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    grown, seconds, written = done.stdout.split()
    return int(grown), float(seconds), int(written)


@pytest.mark.slow
def test_offload_keeps_peak_memory_below_half_of_in_memory(tmp_path):
    in_memory, memory_seconds, _ = _peak_growth("memory", tmp_path)
    on_disk, disk_seconds, written = _peak_growth("disk", tmp_path)
    print(f"peak growth: in memory {in_memory / 2**20:.0f} MiB in {memory_seconds:.2f} s, "
          f"on disk {on_disk / 2**20:.0f} MiB in {disk_seconds:.2f} s ({written / 2**20:.0f} MiB written)")
    # 30 intermediates of 16 MiB (480 MiB); the warm-up run already raised the peak by a few of
    # them and the allocator reuses what it freed, so the growth seen varies (278 to 430 MiB)
    assert in_memory > 10 * 16 * 2**20, "the in-memory store holds many intermediates at once"
    assert on_disk < in_memory / 2


def sin_sin_cos_relu(x):
    x = torch.sin(x)
    x = torch.sin(x)
    x = torch.cos(x)
    x = torch.relu(x)
    return x


def longer_program(x, w):
    y = torch.sin(x) @ w
    z = torch.relu(y * 2 + 1)
    return (z.cos() + y).sum(dim=1), torch.tanh(x).mean()


def dynamo_graph_and_inputs(fn, *inputs):
    captured = []

    def capture(gm, example_inputs):
        captured.append((gm, list(example_inputs)))
        return gm.forward

    torch.compile(fn, backend=capture, fullgraph=True)(*inputs)
    return captured[0]


@pytest.fixture
def count_offloaded(monkeypatch):
    """Bytes each DiskValues wrote, recorded when the minifier closes it."""
    written = []
    close = DiskValues.close

    def recording_close(self):
        written.append((self.bytes_written, self.path))
        close(self)

    monkeypatch.setattr(DiskValues, "close", recording_close)
    return written


def test_offload_to_disk(tmp_path, count_offloaded):
    """Port of the seed test_offload_to_disk: a relu accuracy bug behind sin, sin, cos."""
    import compdebug

    gm, inputs = dynamo_graph_and_inputs(sin_sin_cos_relu, torch.randn(20, 20))
    failure = compdebug.AccuracyFailure("compdebug_relu_accuracy_error")
    result = compdebug.Minifier(gm, inputs, failure, offload_to_disk=True, save_dir=tmp_path, progress=False).minify()
    ops = [n.target for n in result.graph_module.graph.nodes if n.op == "call_function"]
    assert ops == [torch.relu]
    assert len(count_offloaded) == 1 and count_offloaded[0][0] > 0, "values went to disk"
    assert list(tmp_path.iterdir()) == [], "the offloaded files are removed at the end"


def test_minify_gives_the_same_result_with_and_without_offload(tmp_path, count_offloaded):
    import compdebug

    gm, inputs = dynamo_graph_and_inputs(longer_program, torch.randn(8, 6), torch.randn(6, 5))
    failure = compdebug.AccuracyFailure("compdebug_relu_accuracy_error")
    results = [
        compdebug.Minifier(gm, inputs, failure, offload_to_disk=offload, save_dir=tmp_path, progress=False).minify()
        for offload in (False, True)
    ]
    in_memory, on_disk = results
    assert on_disk.repro_module() == in_memory.repro_module()
    assert on_disk.final_nodes == in_memory.final_nodes < in_memory.original_nodes
    assert len(on_disk.inputs) == len(in_memory.inputs)
    for a, b in zip(on_disk.inputs, in_memory.inputs):
        if isinstance(a, torch.Tensor):
            assert_same_tensor(a, b)
        else:
            assert a == b
    assert len(count_offloaded) == 1 and count_offloaded[0][0] > 0
