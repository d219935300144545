"""Service times from a calibrated profile: a `ServiceTimeModel` with batch curves.

An unbatched stage takes one draw at batch size 1: a bootstrap from the latencies measured for that model on
that device kind. A batch of ``b`` tasks takes one draw at batch size ``b``, interpolated between the measured
batch sizes around it (see `BatchCurve.draw`). Draws come from the run's named streams, so common random numbers
hold as for the scenario's own cost table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from simulator.calibration.profile import BatchCurve, Profile, ProfileError, load_profile
from simulator.randomness import buffered_draws, stream

__all__ = ["BatchSampler", "ProfileCostModel"]

BatchSampler = Callable[[int], float]
"""Draws the service time (seconds) of one batch of the given size."""


class ProfileCostModel:
    """Service times of models on device kinds, read from a profile.

    Args:
        profile: A `Profile` or the path of a profile CSV.
        dtype: Which rows to use.
        names: Scenario model name -> model name in the profile, where they differ.
    """

    def __init__(self, profile: Profile | str | Path, dtype: str = "float32",
                 names: Mapping[str, str] | None = None) -> None:
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.dtype = dtype
        self.names = dict(names or {})

    def curve(self, model: str, device_kind: str) -> BatchCurve:
        """The batch curve of a scenario model on a device kind; `ProfileError` naming the file, the model, the
        device kind and what the profile has, when it has none."""
        return self.profile.curve(self.names.get(model, model), device_kind, self.dtype)

    def _curve_or_none(self, model: str, device_kind: str) -> BatchCurve | None:
        try:
            return self.curve(model, device_kind)
        except ProfileError:
            return None

    def mean_s(self, model: str, device_kind: str) -> float:
        curve = self._curve_or_none(model, device_kind)
        return curve.mean_s(1) if curve is not None else math.inf

    def batch_mean_s(self, model: str, device_kind: str, batch_size: int) -> float:
        """Mean latency of one batch of ``batch_size`` items (seconds)."""
        return self.curve(model, device_kind).mean_s(batch_size)

    def max_batch_size(self, model: str, device_kind: str) -> int:
        """The largest measured batch size (batches are never larger: no extrapolation)."""
        curve = self._curve_or_none(model, device_kind)
        return curve.max_batch_size if curve is not None else 1

    def footprint(self, model: str, device_kind: str) -> tuple[float, float]:
        """(bytes that must be resident, seconds to load them); (0, 0) where the profile does not say."""
        curve = self.curve(model, device_kind)
        memory = 0.0 if math.isnan(curve.weights_bytes) else curve.weights_bytes
        load = 0.0 if math.isnan(curve.load_time_s) else curve.load_time_s
        return memory, load

    def sampler(self, model: str, device_kind: str, seed: int, replication: int = 0) -> Callable[[], float]:
        curve = self.curve(model, device_kind)
        rng = stream(seed, "service", model, device_kind, replication=replication)
        return buffered_draws(rng, lambda generator, n: curve.draw(generator, 1, n))

    def batch_sampler(self, model: str, device_kind: str, seed: int, replication: int = 0) -> BatchSampler:
        """A function drawing the service time of one batch of a given size; each size draws from its own buffer
        of one stream (``service``, model, device kind, ``batch``)."""
        curve = self.curve(model, device_kind)
        rng = stream(seed, "service", model, device_kind, "batch", replication=replication)
        buffers: dict[int, Callable[[], float]] = {}

        def draw(batch_size: int) -> float:
            buffer = buffers.get(batch_size)
            if buffer is None:
                def block(generator: np.random.Generator, n: int, size: int = batch_size) -> np.ndarray:
                    return curve.draw(generator, size, n)

                buffer = buffers[batch_size] = buffered_draws(rng, block, block=256)
            return buffer()

        return draw
