"""Arrival processes: each yields the absolute times of successive job arrivals of one stream.

Poisson, deterministic, MMPP (bursty; `on_off` is the two-state MMPP with one silent state), diurnal (a
sinusoidal rate, sampled exactly by thinning, Lewis & Shedler 1979) and trace replay.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np

from simulator.randomness import buffered_draws
from simulator.scenario import ArrivalSpec


def _exponentials(rng: np.random.Generator) -> Callable[[], float]:
    """Unit-mean exponential variates, buffered; divide by a rate to get inter-arrival times."""
    return buffered_draws(rng, lambda generator, n: generator.standard_exponential(n))


def poisson_times(rate_per_s: float, start_s: float, rng: np.random.Generator, block: int = 4096
                  ) -> Iterator[float]:
    """Poisson arrivals, generated a block at a time as cumulative sums of exponential gaps (chained, so
    taking the next arrival runs no Python code)."""

    def blocks() -> Iterator[list[float]]:
        time = start_s
        while True:
            times = time + np.cumsum(rng.standard_exponential(block) / rate_per_s)
            yield times.tolist()
            time = float(times[-1])

    return itertools.chain.from_iterable(blocks())


def deterministic_times(rate_per_s: float, start_s: float) -> Iterator[float]:
    count = 0
    while True:
        count += 1
        yield start_s + count / rate_per_s


def mmpp_times(rates_per_s: tuple[float, ...], mean_sojourn_s: tuple[float, ...], start_s: float,
               rng: np.random.Generator) -> Iterator[float]:
    """Markov-modulated Poisson process whose states are visited in cyclic order with exponential sojourns.

    With two states this is the general two-state MMPP. Memorylessness lets us redraw the candidate arrival
    whenever the state changes.
    """
    draws = _exponentials(rng)
    state = 0
    time = start_s
    state_end = time + draws() * mean_sojourn_s[0]
    while True:
        rate = rates_per_s[state]
        candidate = time + draws() / rate if rate > 0 else math.inf
        if candidate < state_end:
            time = candidate
            yield time
        else:
            time = state_end
            state = (state + 1) % len(rates_per_s)
            state_end = time + draws() * mean_sojourn_s[state]


def diurnal_times(rate_per_s: float, amplitude: float, period_s: float, phase_s: float, start_s: float,
                  rng: np.random.Generator) -> Iterator[float]:
    """Rate ``rate_per_s * (1 + amplitude * sin(2 pi (t - phase_s) / period_s))``, by thinning."""
    draws = _exponentials(rng)
    uniforms = buffered_draws(rng, lambda generator, n: generator.random(n))
    peak = rate_per_s * (1 + amplitude)
    time = start_s
    omega = 2 * math.pi / period_s
    while True:
        time += draws() / peak
        rate = rate_per_s * (1 + amplitude * math.sin(omega * (time - phase_s)))
        if uniforms() * peak <= rate:
            yield time


def arrival_times(spec: ArrivalSpec, rng: np.random.Generator) -> Iterator[float]:
    """Arrival times of one stream, stopping at its ``stop_s``."""
    params = spec.params
    times: Iterator[float]
    if spec.process == "poisson":
        times = poisson_times(params["rate_per_s"], spec.start_s, rng)
    elif spec.process == "deterministic":
        times = deterministic_times(params["rate_per_s"], spec.start_s)
    elif spec.process == "mmpp":
        times = mmpp_times(params["rates_per_s"], params["mean_sojourn_s"], spec.start_s, rng)
    elif spec.process == "on_off":
        times = mmpp_times((params["rate_per_s"], 0.0), (params["mean_on_s"], params["mean_off_s"]),
                           spec.start_s, rng)
    elif spec.process == "diurnal":
        times = diurnal_times(params["rate_per_s"], params["amplitude"], params["period_s"], params["phase_s"],
                              spec.start_s, rng)
    elif spec.process == "trace":
        times = (spec.start_s + t for t in spec.trace_times_s)
    else:
        raise ValueError(f"unknown arrival process {spec.process!r}")
    stop = spec.stop_s
    return times if math.isinf(stop) else itertools.takewhile(lambda time: time <= stop, times)
