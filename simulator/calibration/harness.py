"""The micro-benchmark harness: measure real models (PyTorch) on the local CPU or GPU and produce profile rows.

For every model and batch size: inputs of a realistic shape are made on the device, the model runs
``warmup_reps`` times untimed and then at least ``min_reps`` times timed (see `TimingPlan`), under
``torch.inference_mode()``. On a GPU each call is timed with CUDA events recorded around it (the device
synchronised before the next call); on a CPU with ``time.perf_counter``. The row stores every sample, the
mean, spread and quantiles, peak memory, the bytes of the input and output tensors, and the provenance
(device name, driver, torch version, dtype, threads, date). Once per model the harness also measures the load
time (weights from the page cache onto the device) and, on a GPU, the host-to-device copy bandwidth.

Cold calls: a model server between two requests is idle, and other work may take its caches; calls made back
to back find the weights in cache. ``TimingPlan.pause_s`` idles before each timed call and
``flush_cache_bytes`` overwrites a buffer that size (larger than the last-level cache) before each timed call,
as cold-cache benchmarks do (on a GPU a device buffer, which evicts its L2). The row's ``timing`` column says
which was used.

Peak memory: on a GPU ``torch.cuda.max_memory_allocated`` around one call (exact for the caching allocator); on
a CPU the process's resident-set high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) over one
call, above the resident set before it, plus the weights: an approximation (the C allocator keeps freed
memory), NaN where ``/proc`` is unavailable.
"""

from __future__ import annotations

import datetime
import importlib.util
import io
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from simulator.calibration.profile import ProfileRow
from simulator.calibration.timing import LatencyStats, Timer, TimingPlan, WallTimer, measure
from simulator.calibration.zoo import ModelRecipe

__all__ = ["CudaEventTimer", "Environment", "calibrate", "calibrate_model", "environment", "h2d_bandwidth",
           "missing_requirements"]

Progress = Callable[[str], None]


INSTALL_HINT = "calibration needs torch and transformers: pip install '.[calibrate]'"


def missing_requirements(device: str = "cpu") -> str | None:
    """Why calibration cannot run here (torch or transformers not installed, no such device), or None.

    Checked before any model is built, so the command line can say it in one line.
    """
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{INSTALL_HINT} ({' and '.join(missing)} not installed)"
    if device != "cpu" and not (device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())):
        return f"--device must be cpu, cuda or cuda:N, got {device!r}"
    if device.startswith("cuda"):
        torch = _torch()
        if not torch.cuda.is_available():
            return f"--device {device} was asked for, but torch sees no CUDA device"
        index, count = (int(device[5:]) if ":" in device else 0), torch.cuda.device_count()
        if index >= count:
            return f"--device {device}: torch sees {count} CUDA devices (cuda:0 .. cuda:{count - 1})"
    return None


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return torch


def torch_dtype(name: str) -> Any:
    torch = _torch()
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


class CudaEventTimer:
    """Times one call on a GPU with a pair of CUDA events recorded on the current stream around it; the device is
    synchronised before the call (so earlier work is not counted) and the end event waited for."""

    def __init__(self) -> None:
        torch = _torch()
        self._torch = torch
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def time(self, function: Callable[[], object]) -> float:
        self._torch.cuda.synchronize()
        self._start.record()
        function()
        self._end.record()
        self._end.synchronize()
        return float(self._start.elapsed_time(self._end)) / 1000.0


class Environment(dict[str, str]):
    """Provenance of a measurement: device name, driver, versions, threads, date (all strings)."""


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_driver() -> str:
    try:
        output = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20, check=True).stdout
        return output.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def environment(device: str) -> Environment:
    """Where and with what a measurement is made."""
    torch = _torch()
    try:
        import transformers

        transformers_version = transformers.__version__
    except ImportError:
        transformers_version = ""
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
        driver = f"NVIDIA {_nvidia_driver()}, CUDA {torch.version.cuda}"
    else:
        name = _cpu_name()
        driver = f"{platform.system()} {platform.release()}"
    return Environment(
        device="cuda" if device.startswith("cuda") else "cpu", device_name=name, driver=driver,
        threads=str(torch.get_num_threads()), torch_version=torch.__version__,
        transformers_version=transformers_version,
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def h2d_bandwidth(device: str, n_bytes: int = 256 * 2**20, reps: int = 5) -> float:
    """Host-to-device copy bandwidth in bytes/s: the median of ``reps`` copies of ``n_bytes`` from pinned host
    memory, timed with CUDA events. NaN on a CPU (there is no copy)."""
    if not device.startswith("cuda"):
        return math.nan
    torch = _torch()
    host = torch.empty(n_bytes, dtype=torch.uint8).pin_memory()
    target = torch.empty(n_bytes, dtype=torch.uint8, device=device)
    timer = CudaEventTimer()
    stats = measure(lambda: target.copy_(host, non_blocking=True), timer,
                    TimingPlan(warmup_reps=2, min_reps=reps, max_reps=reps))
    return n_bytes / stats.p50_s


def _tensor_bytes(values: Any) -> int:
    torch = _torch()
    if isinstance(values, torch.Tensor):
        return int(values.numel() * values.element_size())
    if isinstance(values, dict):
        return sum(_tensor_bytes(v) for v in values.values())
    if isinstance(values, list | tuple):
        return sum(_tensor_bytes(v) for v in values)
    return 0


def weights_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers: what must be resident on the device to serve it."""
    return _tensor_bytes(list(module.parameters())) + _tensor_bytes(list(module.buffers()))


def load_time_s(module: Any, device: str, reps: int = 3) -> float:
    """Median time to load the module's weights onto the device: ``torch.load`` of its serialized state dict
    (an in-memory file, as from a warm page cache) with ``map_location=device``, then ``load_state_dict``."""
    torch = _torch()
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    timer = WallTimer(synchronize=torch.cuda.synchronize if device.startswith("cuda") else None)

    def load() -> None:
        buffer.seek(0)
        state = torch.load(buffer, map_location=device, weights_only=True)
        module.load_state_dict(state)

    return measure(load, timer, TimingPlan(warmup_reps=1, min_reps=reps, max_reps=reps)).p50_s


def _resident_bytes(field: str) -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return math.nan


def peak_memory_bytes(call: Callable[[], object], device: str, weights: float) -> float:
    """Peak device memory (bytes) during one call; see the module docstring for how on a CPU."""
    torch = _torch()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        call()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated(device))
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset the peak resident set size
    except OSError:
        return math.nan
    before = _resident_bytes("VmRSS")
    call()
    return max(_resident_bytes("VmHWM") - before, 0.0) + weights


def cache_flusher(device: str, n_bytes: int) -> Callable[[], None] | None:
    """A function that overwrites ``n_bytes`` of memory on ``device`` (evicting its caches); None for 0 bytes."""
    if n_bytes <= 0:
        return None
    torch = _torch()
    buffer = torch.empty(n_bytes, dtype=torch.uint8, device=device)

    def flush() -> None:
        buffer.add_(1)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return flush


def timing_description(plan: TimingPlan, flush_cache_bytes: int) -> str:
    """How each timed call was made, for the profile's ``timing`` column."""
    parts = [f"pause {plan.pause_s:g} s" if plan.pause_s > 0 else "back to back"]
    if flush_cache_bytes > 0:
        parts.append(f"caches flushed ({flush_cache_bytes / 2**20:g} MiB written) before each call")
    return "; ".join(parts)


def calibrate_model(recipe: ModelRecipe, device: str, dtype: str, batch_sizes: Sequence[int],
                    plan: TimingPlan, device_kind: str | None = None, timer: Timer | None = None,
                    progress: Progress | None = None, env: Environment | None = None,
                    flush_cache_bytes: int = 0) -> list[ProfileRow]:
    """Measure one model at each batch size; returns one profile row per batch size that fitted in memory."""
    torch = _torch()
    progress = progress or (lambda message: None)
    env = env or environment(device)
    kind = device_kind or env["device"]
    started = time.perf_counter()
    module = recipe.build().eval().to(device=device, dtype=torch_dtype(dtype))
    progress(f"{recipe.name}: built in {time.perf_counter() - started:.1f} s")
    weights = float(weights_bytes(module))
    loading = load_time_s(module, device)
    bandwidth = h2d_bandwidth(device)
    if timer is None:
        timer = CudaEventTimer() if device.startswith("cuda") else WallTimer()
    flush = cache_flusher(device, flush_cache_bytes)
    env = Environment(env, timing=timing_description(plan, flush_cache_bytes))
    rows = []
    for batch_size in batch_sizes:
        try:
            rows.append(_measure_batch(recipe, module, device, dtype, batch_size, plan, timer, weights, loading,
                                       bandwidth, kind, env, progress, flush))
        except torch.cuda.OutOfMemoryError:
            progress(f"{recipe.name}: batch size {batch_size} does not fit in device memory; skipped")
            torch.cuda.empty_cache()
            break
    del module
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return rows


def _measure_batch(recipe: ModelRecipe, module: Any, device: str, dtype: str, batch_size: int, plan: TimingPlan,
                   timer: Timer, weights: float, loading: float, bandwidth: float, kind: str, env: Environment,
                   progress: Progress, flush: Callable[[], None] | None) -> ProfileRow:
    torch = _torch()
    with torch.inference_mode():
        inputs = recipe.make_inputs(module, batch_size, torch.device(device), torch_dtype(dtype))
        sent = {key: inputs[key] for key in recipe.input_keys} if recipe.input_keys else inputs

        def call() -> Any:
            return recipe.run(module, inputs)

        peak = peak_memory_bytes(call, device, weights)
        output_bytes = _tensor_bytes(recipe.result(call()))
        stats: LatencyStats = measure(call, timer, plan, before_each=flush)
    progress(f"{recipe.name}: batch {batch_size:>3}: {stats.n_reps:>4} reps, mean {stats.mean_s * 1e3:9.3f} ms, "
             f"p50 {stats.p50_s * 1e3:9.3f} ms, p99 {stats.p99_s * 1e3:9.3f} ms, cv {stats.cv:.3f}")
    return ProfileRow(
        model=recipe.name, device_kind=kind, batch_size=batch_size, mean_s=stats.mean_s, dtype=dtype,
        samples_s=stats.samples_s, n_reps=stats.n_reps, std_s=stats.std_s, min_s=stats.min_s, p50_s=stats.p50_s,
        p90_s=stats.p90_s, p95_s=stats.p95_s, p99_s=stats.p99_s, max_s=stats.max_s, peak_memory_bytes=peak,
        weights_bytes=weights, input_bytes=float(_tensor_bytes(sent)), output_bytes=float(output_bytes),
        load_time_s=loading, h2d_bytes_per_s=bandwidth, **env,
    )


def calibrate(recipes: Sequence[ModelRecipe], device: str = "cpu", dtype: str = "float32",
              batch_sizes: Sequence[int] = (1, 2, 4, 8), plan: TimingPlan | None = None,
              device_kind: str | None = None, threads: int | None = None,
              progress: Progress | None = None, flush_cache_bytes: int = 0) -> list[ProfileRow]:
    """Measure every model at every batch size on ``device`` (``"cpu"``, ``"cuda"`` or ``"cuda:N"``).

    Args:
        recipes: The models (see `simulator.calibration.zoo.RECIPES`).
        device: Where to run.
        dtype: ``float32``, ``float16`` or ``bfloat16``.
        batch_sizes: Batch sizes to measure; on a GPU, sizes past the first that runs out of memory are skipped.
        plan: Warm-up and repetitions (default `TimingPlan()`).
        device_kind: The device kind written in the profile (what scenario nodes name); default ``cpu``/``cuda``.
        threads: ``torch.set_num_threads`` for a CPU (default: leave torch's setting).
        progress: Called with one line per measured point.
        flush_cache_bytes: Overwrite this many bytes before each timed call (cold caches; 0: do not).
    """
    torch = _torch()
    plan = plan or TimingPlan()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    env = environment(device)
    rows: list[ProfileRow] = []
    for recipe in recipes:
        rows.extend(calibrate_model(recipe, device, dtype, batch_sizes, plan, device_kind, progress=progress,
                                    env=env, flush_cache_bytes=flush_cache_bytes))
    return rows
