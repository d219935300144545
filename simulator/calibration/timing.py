"""Timing a callable properly: warm-up, synchronisation, many repetitions, and the statistics of the samples.

Nothing here imports torch: a `Timer` times one call (the harness supplies one that synchronises the GPU or
uses CUDA events), `measure` decides how many calls to make, and `LatencyStats` summarises the samples. The
tests drive all of it with a fake model and a fake clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["LatencyStats", "Timer", "TimingPlan", "WallTimer", "latency_stats", "measure"]


class Timer(Protocol):
    """Times one call of a function, in seconds, with the device synchronised before and after."""

    def time(self, function: Callable[[], object]) -> float:
        ...


class WallTimer:
    """Wall-clock timing of one call: ``synchronize()`` (if given) before starting and before stopping the clock,
    so asynchronous device work is inside the measured interval.

    Args:
        clock: A monotonic clock in seconds (default ``time.perf_counter``).
        synchronize: Waits for the device to finish queued work (``torch.cuda.synchronize`` on a GPU).
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter,
                 synchronize: Callable[[], object] | None = None) -> None:
        self.clock = clock
        self.synchronize = synchronize

    def time(self, function: Callable[[], object]) -> float:
        synchronize = self.synchronize
        if synchronize is not None:
            synchronize()
        started = self.clock()
        function()
        if synchronize is not None:
            synchronize()
        return self.clock() - started


@dataclass(frozen=True)
class TimingPlan:
    """How many times to call a function.

    Attributes:
        warmup_reps: Untimed calls first (allocator, kernel selection, caches, lazy initialisation).
        min_reps: Timed calls at least.
        max_reps: Timed calls at most.
        max_time_s: Stop adding timed calls (once ``min_reps`` are done) when they add up to this many seconds.
        pause_s: Idle time before each timed call (0: back to back). A server between requests is idle, and its
            caches may have been taken by other work; back-to-back calls find the weights in cache.
    """

    warmup_reps: int = 3
    min_reps: int = 10
    max_reps: int = 200
    max_time_s: float = 10.0
    pause_s: float = 0.0

    def __post_init__(self) -> None:
        if (self.warmup_reps < 0 or self.min_reps < 1 or self.max_reps < self.min_reps or not self.max_time_s > 0
                or not 0 <= self.pause_s <= 3600):
            raise ValueError(f"invalid timing plan {self}: need warmup_reps >= 0, 1 <= min_reps <= max_reps, "
                             "max_time_s > 0 and pause_s in [0, 3600] seconds")


@dataclass(frozen=True)
class LatencyStats:
    """Summary of latency samples (seconds): mean, spread and quantiles, with the samples themselves.

    Quantiles use linear interpolation between order statistics (numpy's default); ``std_s`` is the sample
    standard deviation (n - 1), 0 for one sample.
    """

    samples_s: tuple[float, ...]
    mean_s: float
    std_s: float
    min_s: float
    p50_s: float
    p90_s: float
    p95_s: float
    p99_s: float
    max_s: float

    @property
    def n_reps(self) -> int:
        return len(self.samples_s)

    @property
    def cv(self) -> float:
        """Coefficient of variation, standard deviation / mean."""
        return self.std_s / self.mean_s if self.mean_s > 0 else math.nan

    @property
    def spread(self) -> float:
        """(p95 - p50) / p50: how far the slow tail reaches above the median."""
        return (self.p95_s - self.p50_s) / self.p50_s if self.p50_s > 0 else math.nan


def latency_stats(samples_s: Sequence[float]) -> LatencyStats:
    """Summarise latency samples; raises ``ValueError`` for no samples or a negative or non-finite one."""
    values = np.asarray(samples_s, dtype=float)
    if values.size == 0:
        raise ValueError("no latency samples")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("latency samples must be finite and >= 0")
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
    return LatencyStats(
        samples_s=tuple(float(v) for v in values),
        mean_s=float(values.mean()),
        std_s=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        min_s=float(values.min()),
        p50_s=float(p50), p90_s=float(p90), p95_s=float(p95), p99_s=float(p99),
        max_s=float(values.max()),
    )


_DEFAULT_PLAN = TimingPlan()


def measure(function: Callable[[], object], timer: Timer, plan: TimingPlan = _DEFAULT_PLAN,
            before_each: Callable[[], object] | None = None, sleep: Callable[[float], object] = time.sleep,
            ) -> LatencyStats:
    """Call ``function`` ``plan.warmup_reps`` times untimed, then time calls until ``plan.min_reps`` are done and
    either ``plan.max_reps`` are done or the timed calls add up to ``plan.max_time_s``. Before each timed call,
    untimed: ``before_each()`` (e.g. evict the caches), then a pause of ``plan.pause_s``."""
    for _ in range(plan.warmup_reps):
        function()
    samples: list[float] = []
    total_s = 0.0
    while len(samples) < plan.max_reps and (len(samples) < plan.min_reps or total_s < plan.max_time_s):
        if before_each is not None:
            before_each()
        if plan.pause_s > 0:
            sleep(plan.pause_s)
        elapsed = timer.time(function)
        samples.append(elapsed)
        total_s += elapsed
    return latency_stats(samples)
