"""Service-time model: how long a stage takes on a node.

The simulator asks a `ServiceTimeModel` two things: the mean time of a model on a device kind (what policies
estimate with) and a sampler that draws actual times (what the simulation uses). `CostTable` answers from the
scenario's `[models]` table (mean and a distribution with a coefficient of variation); calibrated profiles of
real models plug in behind the same interface.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np

from simulator.randomness import BufferedDraws, stream
from simulator.scenario import ModelSpec, ServiceSpec

Sampler = Callable[[], float]


class ServiceTimeModel(Protocol):
    """Where service times come from."""

    def mean_s(self, model: str, device_kind: str) -> float:
        """Mean service time in seconds; ``math.inf`` when the model cannot run on that kind."""
        ...

    def sampler(self, model: str, device_kind: str, seed: int, replication: int = 0) -> Sampler:
        """A function drawing service times (seconds) for ``model`` on ``device_kind``."""
        ...


def _block_drawer(spec: ServiceSpec) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A function drawing ``n`` service times at once from the distribution of ``spec``."""
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
    if spec.distribution == "deterministic":
        return lambda rng, n: np.full(n, mean)
    raise ValueError(f"unknown distribution {spec.distribution!r}")


def service_sampler(spec: ServiceSpec, rng: np.random.Generator) -> Sampler:
    """A sampler of ``spec``'s distribution; deterministic times need no random draws at all."""
    if spec.distribution == "deterministic":
        mean = spec.mean_s
        return lambda: mean
    return BufferedDraws(rng, _block_drawer(spec)).next


class CostTable:
    """Service times from the scenario's cost table: model x device kind -> mean and distribution."""

    def __init__(self, models: Mapping[str, ModelSpec]) -> None:
        self.models = models

    def spec(self, model: str, device_kind: str) -> ServiceSpec | None:
        entry = self.models.get(model)
        return entry.devices.get(device_kind) if entry else None

    def mean_s(self, model: str, device_kind: str) -> float:
        spec = self.spec(model, device_kind)
        return spec.mean_s if spec else math.inf

    def sampler(self, model: str, device_kind: str, seed: int, replication: int = 0) -> Sampler:
        spec = self.spec(model, device_kind)
        if spec is None:
            raise KeyError(f"model {model!r} has no cost on device kind {device_kind!r}")
        return service_sampler(spec, stream(seed, "service", model, device_kind, replication=replication))
