"""Arrival processes: each yields the absolute times of successive job arrivals of one stream.

Poisson, deterministic, MMPP (bursty; `on_off` is the two-state MMPP with one silent state), diurnal (a
sinusoidal rate, sampled exactly by thinning, Lewis & Shedler 1979) and trace replay.

Every loop here advances the clock or yields within a bounded number of steps: the scenario's ranges keep
rates, sojourns and periods where a step moves time forward, an MMPP that keeps switching states without an
arrival stops with an error, and diurnal thinning bounds the rate per part of the period, so a deep trough
costs few rejected candidates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np

from simulator.config import ArrivalSpec
from simulator.errors import UserInputError
from simulator.randomness import buffered_draws

MAX_CYCLES_WITHOUT_ARRIVAL = 1_000_000
"""An MMPP that goes through its cycle of states this often in a row without an arrival is stopped with an
error. The scenario requires at least 1e-3 expected arrivals per cycle, so a valid stream gets there with
probability about exp(-1000)."""
DIURNAL_SEGMENTS = 64
"""Diurnal thinning bounds the rate by its maximum over each 1/64 of the period (when a period holds many
candidates), so that rejected candidates stay a small multiple of the arrivals even at a silent trough."""


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
               rng: np.random.Generator, name: str = "mmpp") -> Iterator[float]:
    """Markov-modulated Poisson process whose states are visited in cyclic order with exponential sojourns.

    With two states this is the general two-state MMPP. Memorylessness lets us redraw the candidate arrival
    whenever the state changes.

    Raises:
        UserInputError: After `MAX_CYCLES_WITHOUT_ARRIVAL` cycles through the states without an arrival
            (rates and sojourns so small that the stream would spin without producing jobs).
    """
    draws = _exponentials(rng)
    state = 0
    time = start_s
    state_end = time + draws() * mean_sojourn_s[0]
    changes = 0
    max_changes = MAX_CYCLES_WITHOUT_ARRIVAL * len(rates_per_s)
    while True:
        rate = rates_per_s[state]
        candidate = time + draws() / rate if rate > 0 else math.inf
        if candidate < state_end:
            time = candidate
            changes = 0
            yield time
        else:
            changes += 1
            if changes > max_changes:
                raise UserInputError([
                    f"arrivals.{name}: no arrival in {MAX_CYCLES_WITHOUT_ARRIVAL:,} cycles of its states in a row "
                    f"(rates {list(rates_per_s)} per s, mean sojourns {list(mean_sojourn_s)} s); raise the rates "
                    "or the sojourns of the states with arrivals"])
            time = state_end
            state = (state + 1) % len(rates_per_s)
            state_end = time + draws() * mean_sojourn_s[state]


def diurnal_times(rate_per_s: float, amplitude: float, period_s: float, phase_s: float, start_s: float,
                  rng: np.random.Generator) -> Iterator[float]:
    """Rate ``rate_per_s * (1 + amplitude * sin(2 pi (t - phase_s) / period_s))``, by thinning.

    When a period holds few candidates (peak rate x period <= 4 x `DIURNAL_SEGMENTS`) every candidate is drawn
    at the peak rate; otherwise at the rate's maximum over the current 1/`DIURNAL_SEGMENTS` of the period,
    restarting the (memoryless) candidate at each segment boundary. Either way the work per arrival is bounded
    whatever the depth of the trough.
    """
    draws = _exponentials(rng)
    uniforms = buffered_draws(rng, lambda generator, n: generator.random(n))
    peak = rate_per_s * (1 + amplitude)
    time = start_s
    omega = 2 * math.pi / period_s
    if peak * period_s <= 4 * DIURNAL_SEGMENTS:
        while True:
            time += draws() / peak
            rate = rate_per_s * (1 + amplitude * math.sin(omega * (time - phase_s)))
            if uniforms() * peak <= rate:
                yield time
    segment_s = period_s / DIURNAL_SEGMENTS
    bounds = []
    for segment in range(DIURNAL_SEGMENTS):
        low, high = segment / DIURNAL_SEGMENTS, (segment + 1) / DIURNAL_SEGMENTS
        top = 1.0 if low <= 0.25 <= high else max(math.sin(2 * math.pi * low), math.sin(2 * math.pi * high))
        bounds.append(rate_per_s * (1 + amplitude * top))
    index = math.floor((start_s - phase_s) / segment_s)  # the segment holding `time`, counted from phase_s
    while True:
        end = phase_s + (index + 1) * segment_s
        bound = bounds[index % DIURNAL_SEGMENTS]
        candidate = time + draws() / bound if bound > 0 else math.inf
        if candidate > end:
            time = max(time, end)
            index += 1
            continue
        time = candidate
        rate = rate_per_s * (1 + amplitude * math.sin(omega * (time - phase_s)))
        if uniforms() * bound <= rate:
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
        times = mmpp_times(params["rates_per_s"], params["mean_sojourn_s"], spec.start_s, rng, spec.name)
    elif spec.process == "on_off":
        times = mmpp_times((params["rate_per_s"], 0.0), (params["mean_on_s"], params["mean_off_s"]),
                           spec.start_s, rng, spec.name)
    elif spec.process == "diurnal":
        times = diurnal_times(params["rate_per_s"], params["amplitude"], params["period_s"], params["phase_s"],
                              spec.start_s, rng)
    elif spec.process == "trace":
        times = (spec.start_s + t for t in spec.trace_times_s)
    else:
        raise ValueError(f"unknown arrival process {spec.process!r}")
    stop = spec.stop_s
    return times if math.isinf(stop) else itertools.takewhile(lambda time: time <= stop, times)
