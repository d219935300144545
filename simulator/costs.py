"""Service-time model: how long a stage takes on a node.

The simulator asks a `ServiceTimeModel` two things: the mean time of a model on a device kind (what policies
estimate with) and a sampler that draws actual times (what the simulation uses). `CostTable` answers from the
scenario's `[models]` table (a mean with a distribution given by its coefficient of variation or its shape
(pareto, weibull), or a device's hand-given samples) and, for a model that names
a calibrated profile, from the latencies measured for it (`simulator.calibration.ProfileCostModel`). Batching
nodes also ask for a batch curve (`BatchServiceTimeModel`): a profile's measured one, or for a cost given by hand
the rule ``batch_scaling`` = alpha: a batch of ``b`` tasks takes one draw of the single-task time x ``b ** alpha``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np

from simulator.calibration.cost_model import BatchSampler, ProfileCostModel
from simulator.config import EMPIRICAL, ModelSpec, ServiceSpec
from simulator.config.schema import SAMPLES
from simulator.config.specs import DurationSpec
from simulator.distributions import block_drawer
from simulator.randomness import buffered_draws, stream

Sampler = Callable[[], float]

UNBOUNDED_BATCH_SIZE = sys.maxsize
"""The largest batch of a model whose batch rule is ``batch_scaling``: no limit but the node's ``max_batch_size``."""


class ServiceTimeModel(Protocol):
    """Where service times come from."""

    def mean_s(self, model: str, device_kind: str) -> float:
        """Mean service time in seconds; ``math.inf`` when the model cannot run on that kind."""
        ...

    def sampler(self, model: str, device_kind: str, seed: int, replication: int = 0) -> Sampler:
        """A function drawing service times (seconds) for ``model`` on ``device_kind``."""
        ...


class BatchServiceTimeModel(ServiceTimeModel, Protocol):
    """A service-time model that also knows how long a batch of tasks of one model takes (for batching nodes)."""

    def max_batch_size(self, model: str, device_kind: str) -> int:
        """The largest batch ``model`` may form on ``device_kind`` (1: no batching)."""
        ...

    def batch_mean_s(self, model: str, device_kind: str, batch_size: int) -> float:
        """Mean time (seconds) of one batch of ``batch_size`` tasks."""
        ...

    def batch_sampler(self, model: str, device_kind: str, seed: int, replication: int = 0) -> BatchSampler:
        """A function drawing the time (seconds) of one batch of a given size."""
        ...


def service_duration(spec: ServiceSpec) -> DurationSpec:
    """``spec``'s distribution in the parameters `block_drawer` draws from: a pareto's scale (its minimum) is
    ``mean (shape - 1) / shape``, a weibull's ``mean / Gamma(1 + 1/shape)``; samples are drawn as empirical."""
    if spec.distribution == "pareto":
        return DurationSpec("pareto", spec.mean_s, shape=spec.shape,
                            scale_s=spec.mean_s * (spec.shape - 1.0) / spec.shape)
    if spec.distribution == "weibull":
        return DurationSpec("weibull", spec.mean_s, shape=spec.shape,
                            scale_s=spec.mean_s / math.gamma(1.0 + 1.0 / spec.shape))
    if spec.distribution == SAMPLES:
        return DurationSpec("empirical", spec.mean_s, samples_s=spec.samples_s)
    return DurationSpec(spec.distribution, spec.mean_s, spec.cv)


def _block_drawer(spec: ServiceSpec) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A function drawing ``n`` service times at once from the distribution of ``spec``."""
    return block_drawer(service_duration(spec))


def service_sampler(spec: ServiceSpec, rng: np.random.Generator) -> Sampler:
    """A sampler of ``spec``'s distribution; deterministic times need no random draws at all."""
    if spec.distribution == "deterministic":
        mean = spec.mean_s
        return lambda: mean
    return buffered_draws(rng, _block_drawer(spec))


class CostTable:
    """Service times from the scenario's cost table: model x device kind -> mean and distribution, or the
    calibrated profile the model names (distribution ``empirical``), which also gives batch curves."""

    def __init__(self, models: Mapping[str, ModelSpec]) -> None:
        self.models = models
        self._profiles: dict[str, ProfileCostModel] = {}

    def _profiled(self, model: str, device_kind: str) -> ProfileCostModel | None:
        """The profile behind ``model`` on ``device_kind``, or None when its cost there is given by hand."""
        entry = self.models.get(model)
        spec = entry.devices.get(device_kind) if entry else None
        if entry is None or entry.profile is None or spec is None or spec.distribution != EMPIRICAL:
            return None
        if model not in self._profiles:
            binding = entry.profile
            self._profiles[model] = ProfileCostModel(binding.path, dtype=binding.dtype, names={model: binding.model})
        return self._profiles[model]

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
        profiled = self._profiled(model, device_kind)
        if profiled is not None:
            return profiled.sampler(model, device_kind, seed, replication)
        return service_sampler(spec, stream(seed, "service", model, device_kind, replication=replication))

    def max_batch_size(self, model: str, device_kind: str) -> int:
        """The profile's largest measured batch size; unbounded for a cost given by hand with ``batch_scaling``;
        1 (no batching) for one without."""
        profiled = self._profiled(model, device_kind)
        if profiled is not None:
            return profiled.max_batch_size(model, device_kind)
        spec = self.spec(model, device_kind)
        return UNBOUNDED_BATCH_SIZE if spec is not None and spec.batch_scaling is not None else 1

    def batch_mean_s(self, model: str, device_kind: str, batch_size: int) -> float:
        """Mean time (seconds) of one batch: the profile's curve, or ``mean_s * batch_size ** batch_scaling``."""
        profiled = self._profiled(model, device_kind)
        if profiled is not None:
            return profiled.batch_mean_s(model, device_kind, batch_size)
        spec = self.spec(model, device_kind)
        if batch_size == 1 or (spec is not None and spec.batch_scaling is not None):
            return self.mean_s(model, device_kind) * _batch_factor(spec, batch_size)
        raise KeyError(f"model {model!r} has no batch curve on device kind {device_kind!r} (no profile, no "
                       "batch_scaling)")

    def batch_sampler(self, model: str, device_kind: str, seed: int, replication: int = 0) -> BatchSampler:
        """Draws the time of one batch of a given size: from the profile's batch curve, or one draw of the
        single-task time x ``batch_size ** batch_scaling`` (from the stream (``service``, model, device kind,
        ``batch``))."""
        profiled = self._profiled(model, device_kind)
        if profiled is not None:
            return profiled.batch_sampler(model, device_kind, seed, replication)
        spec = self.spec(model, device_kind)
        if spec is None or spec.batch_scaling is None:
            raise KeyError(f"model {model!r} has no batch curve on device kind {device_kind!r} (no profile, no "
                           "batch_scaling)")
        single = service_sampler(spec, stream(seed, "service", model, device_kind, "batch", replication=replication))
        alpha = spec.batch_scaling
        return lambda batch_size: single() * batch_size ** alpha


def _batch_factor(spec: ServiceSpec | None, batch_size: int) -> float:
    """``batch_size ** batch_scaling``: how much longer a batch takes than one task under a hand-given cost."""
    if batch_size == 1 or spec is None or spec.batch_scaling is None:
        return 1.0
    return float(batch_size) ** spec.batch_scaling
