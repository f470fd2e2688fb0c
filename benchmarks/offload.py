"""Disk offload: peak memory, time and disk bytes of minifying a graph with ~1 GB of intermediates.

Each configuration runs in its own child process (`python -m benchmarks.offload
CONFIG ...`), which reports the peak growth over its own baseline taken after
set-up: resident memory (VmHWM after resetting it through /proc/self/clear_refs),
and on CUDA torch.cuda.max_memory_allocated. On CPU some configurations run a
second time with malloc's mmap threshold fixed, to separate tensors from malloc.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import threading
import time
from typing import Any

import torch

from benchmarks.child import run_json_child

MiB = 2**20
CONFIGS = ("eager_run", "compdebug_memory", "compdebug_offload", "torch_memory", "torch_offload")
# glibc keeps freed 16 MiB blocks once its dynamic mmap threshold has grown past them, so resident
# memory overstates what tensors need; a fixed threshold returns every block at once (MALLOC_MMAP_THRESHOLD_)
MALLOC_SETTINGS = {"default": {}, "mmap threshold 1 MiB": {"MALLOC_MMAP_THRESHOLD_": str(2**20)}}
FIXED_THRESHOLD_CONFIGS = ("eager_run", "compdebug_offload")
# the shape of the issue's own measurement (torch, 40 ops on 4096x4096 float32) fits a GPU; the CPU
# default stays at ~1 GB of intermediates, which 2 cores can minify in minutes
DEFAULT_SHAPE = {"cpu": (60, 2048), "cuda": (40, 4096)}


def _status_mib(*keys: str) -> dict[str, float]:
    """Fields of /proc/self/status (kB values) in MiB."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in keys:
                found[key] = int(value.split()[0]) / 1024
    return found


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class DiskWatch:
    """Sample the bytes under `path` every `every` seconds; remember the largest total seen."""

    def __init__(self, path: str, every: float = 0.1) -> None:
        self.path, self.every, self.peak = path, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> int:
        total = 0
        for folder, _, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_size
                except OSError:
                    pass  # removed while we looked
        self.peak = max(self.peak, total)
        return total

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()


def measure(config: str, ops: int, side: int, device: str, limit_s: float) -> dict[str, Any]:
    """Run one configuration in this process and return its figures (call in a fresh child process)."""
    from benchmarks.corpus import Built, offload_chain
    from benchmarks.runners import run_compdebug, run_torch

    gm, inputs, predicate = offload_chain(ops, side, device)
    _warm_up(gm, device)
    built = Built(gm, inputs, predicate, f"culprit near the end of {ops} ops")
    save_dir = tempfile.mkdtemp(prefix=f"cdbench_{config}_")
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    cuda_base = torch.cuda.memory_allocated() if device == "cuda" else 0
    reset_ok = _reset_peak_rss()
    base = _status_mib("VmRSS", "VmHWM")
    base_rss = base["VmRSS"] if reset_ok else base["VmHWM"]
    offload = config.endswith("_offload")
    with DiskWatch(save_dir) as disk:
        if config == "eager_run":
            start = time.perf_counter()
            with torch.no_grad():
                predicate(gm, inputs)
            run = {"tool": "eager", "seconds": time.perf_counter() - start}
        else:
            runner = run_compdebug if config.startswith("compdebug") else run_torch
            run = runner(built, limit_s=limit_s, offload_to_disk=offload, save_dir=save_dir if offload else None).to_dict()
        if device == "cuda":
            torch.cuda.synchronize()
        disk_after = disk.sample()
    peak = _status_mib("VmHWM")["VmHWM"]
    shutil.rmtree(save_dir, ignore_errors=True)
    element = torch.empty((), dtype=inputs[0].dtype).element_size()
    return {
        "config": config, "device": device, "ops": ops, "shape": [side, side],
        "intermediate_mib": side * side * element / MiB, "intermediates_total_mib": ops * side * side * element / MiB,
        "rss_growth_mib": peak - base_rss, "rss_baseline_mib": base_rss, "peak_reset": reset_ok,
        "cuda_growth_mib": (torch.cuda.max_memory_allocated() - cuda_base) / MiB if device == "cuda" else None,
        "disk_peak_mib": disk.peak / MiB, "disk_left_mib": disk_after / MiB, "run": run,
    }


def _warm_up(gm: torch.fx.GraphModule, device: str) -> None:
    """Run every op once on a tiny tensor, so first-call costs (code pages, kernels) fall before the baseline."""
    with torch.no_grad():
        gm(torch.randn(4, 4, device=device))


def run_config(config: str, ops: int, side: int, device: str, limit_s: float, malloc: str = "default") -> dict[str, Any]:
    """Measure `config` in a fresh child process; a child that fails or overruns is reported, not raised."""
    args = [config, "--ops", str(ops), "--side", str(side), "--device", device, "--limit", str(limit_s)]
    result = run_json_child("benchmarks.offload", args, timeout=limit_s + 120, env=MALLOC_SETTINGS[malloc])
    return dict(result, config=config, malloc=malloc)


def run_all(device: str, *, ops: int | None = None, side: int | None = None, limit_s: float = 600,
            log: Any = None) -> list[dict[str, Any]]:
    """Every configuration, each in its own child process; on CPU also the fixed-threshold reruns."""
    default_ops, default_side = DEFAULT_SHAPE[device]
    ops, side = ops or default_ops, side or default_side
    plan = [(config, "default") for config in CONFIGS]
    if device == "cpu":
        plan += [(config, "mmap threshold 1 MiB") for config in FIXED_THRESHOLD_CONFIGS]
    results = []
    for config, malloc in plan:
        if log:
            log(f"offload: {config} ({ops} ops on {side}x{side}, {device}, malloc {malloc})")
        results.append(run_config(config, ops, side, device, limit_s, malloc))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="measure one offload configuration (a child of python -m benchmarks)")
    parser.add_argument("config", choices=CONFIGS)
    parser.add_argument("--ops", type=int, default=60)
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--limit", type=float, default=600)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.config, args.ops, args.side, args.device, args.limit)))


if __name__ == "__main__":
    main()
