"""Distributions of durations (times to failure, times to repair): samplers drawn from a `DurationSpec`.

Each family is parameterised as researchers usually give it: exponential and deterministic by their mean,
lognormal and gamma by mean and coefficient of variation (as the cost table's service times), Weibull by shape and
scale (NumPy's ``weibull`` is the unit-scale form, multiplied here by the scale), empirical by its samples, drawn
uniformly with replacement. Pareto (service times only, `simulator.costs`) is the classical Pareto by shape and scale,
support ``>= scale``: NumPy's ``pareto`` draws the Lomax (Pareto II, support ``>= 0``), so a draw is
``scale x (1 + lomax)``. Draws come in blocks (`simulator.randomness.buffered_draws`), so the sequence a seed
gives does not depend on how many draws a run makes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from simulator.config.specs import DurationSpec
from simulator.randomness import buffered_draws

__all__ = ["DRAWN_DISTRIBUTIONS", "DURATION_DISTRIBUTIONS", "block_drawer", "duration_mean_s", "duration_sampler"]

DURATION_DISTRIBUTIONS = ("exponential", "deterministic", "lognormal", "gamma", "weibull", "empirical")
"""The families of a time to failure or to repair."""
DRAWN_DISTRIBUTIONS = (*DURATION_DISTRIBUTIONS, "pareto")
"""The families `block_drawer` draws: the durations' and the heavy-tailed service times' Pareto."""


def duration_mean_s(distribution: str, mean_s: float = math.nan, cv: float = 0.0, shape: float = 1.0,
                    scale_s: float = 0.0, samples_s: tuple[float, ...] = ()) -> float:
    """The mean of a duration distribution given by its file parameters (Weibull: scale x Gamma(1 + 1/shape))."""
    if distribution == "weibull":
        return scale_s * math.gamma(1.0 + 1.0 / shape)
    if distribution == "empirical":
        return float(np.mean(samples_s)) if samples_s else math.nan
    return mean_s


def block_drawer(spec: DurationSpec) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A function drawing ``n`` values of ``spec`` at once (also the service times of the cost table)."""
    mean, cv = spec.mean_s, spec.cv
    if spec.distribution == "exponential":
        return lambda rng, n: rng.exponential(mean, n)
    if spec.distribution == "lognormal":
        sigma = math.sqrt(math.log1p(cv * cv))
        mu = math.log(mean) - sigma * sigma / 2
        return lambda rng, n: rng.lognormal(mu, sigma, n)
    if spec.distribution == "gamma":
        shape = 1.0 / (cv * cv)
        return lambda rng, n: rng.gamma(shape, mean / shape, n)
    if spec.distribution == "weibull":
        weibull_shape, scale = spec.shape, spec.scale_s
        return lambda rng, n: scale * rng.weibull(weibull_shape, n)
    if spec.distribution == "empirical":
        samples = np.asarray(spec.samples_s, dtype=float)
        return lambda rng, n: rng.choice(samples, n)
    if spec.distribution == "pareto":
        pareto_shape, minimum = spec.shape, spec.scale_s
        return lambda rng, n: minimum * (1.0 + rng.pareto(pareto_shape, n))
    raise ValueError(f"unknown distribution {spec.distribution!r}; known: {DRAWN_DISTRIBUTIONS}")


def duration_sampler(spec: DurationSpec, rng: np.random.Generator) -> Callable[[], float]:
    """A function returning one draw of ``spec`` per call (seconds); a deterministic duration draws nothing."""
    if spec.distribution == "deterministic" or (spec.distribution == "lognormal" and spec.cv == 0.0):
        mean = spec.mean_s
        return lambda: mean
    return buffered_draws(rng, block_drawer(spec), block=256)
