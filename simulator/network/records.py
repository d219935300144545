"""What the network did: completed transfers (columnar, so a long run keeps no object per transfer) and, per
bandwidth resource, the bytes carried and the time with at least one flow transmitting."""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from simulator.network.topology import Route, Topology

__all__ = ["Flow", "TransferRecords"]


@dataclass(slots=True, eq=False)
class Flow:
    """One transfer in flight; dropped once it completes (completed transfers live in columnar records)."""

    src: int
    dst: int
    n_bytes: float
    start_s: float
    route: Route
    on_done: Callable[[], None]
    sequence: int


class TransferRecords:
    """Accounting of transfers and link use for one network."""

    def __init__(self, env: simpy.Environment, topology: Topology) -> None:
        self._env = env
        self._topology = topology
        n_resources = len(topology.capacities)
        self._resource_bytes = [0.0] * n_resources
        self.n_transmitting = [0] * n_resources
        """Flows transmitting through each resource now."""
        self._resource_busy_since_s = [0.0] * n_resources
        self._resource_busy_s = [0.0] * n_resources
        self._record_src = array("q")
        self._record_dst = array("q")
        self._record_hops = array("q")
        self._record_bytes = array("d")
        self._record_start_s = array("d")
        self._record_end_s = array("d")
        self.bytes_transferred = 0.0
        """Total bytes of completed transfers between distinct vertices."""
        self.n_in_flight = 0
        """Transfers started and not completed, including those still in latency."""

    def start_transmitting(self, flow: Flow) -> None:
        now = self._env.now
        n_transmitting = self.n_transmitting
        for resource in flow.route.resources:
            if n_transmitting[resource] == 0:
                self._resource_busy_since_s[resource] = now
            n_transmitting[resource] += 1

    def stop_transmitting(self, flow: Flow) -> None:
        now = self._env.now
        n_transmitting = self.n_transmitting
        for resource in flow.route.resources:
            n_transmitting[resource] -= 1
            if n_transmitting[resource] == 0:
                self._resource_busy_s[resource] += now - self._resource_busy_since_s[resource]

    def complete(self, flow: Flow) -> None:
        """Record a finished transfer (the caller runs its ``on_done``)."""
        self.n_in_flight -= 1
        n_bytes = flow.n_bytes
        self.bytes_transferred += n_bytes
        resource_bytes = self._resource_bytes
        for resource in flow.route.resources:
            resource_bytes[resource] += n_bytes
        self._record_src.append(flow.src)
        self._record_dst.append(flow.dst)
        self._record_hops.append(flow.route.hops)
        self._record_bytes.append(n_bytes)
        self._record_start_s.append(flow.start_s)
        self._record_end_s.append(self._env.now)

    # ------------------------------------------------------------------ observation and results

    def transfer_table(self) -> pd.DataFrame:
        """One row per completed transfer between distinct vertices, in completion order.

        Columns: ``src``, ``dst`` (vertex names), ``bytes``, ``start_s`` (when ``transfer`` was called),
        ``end_s`` (last byte arrived), ``duration_s`` and ``hops``.
        """
        names = np.asarray(self._topology.vertex_names, dtype=object)
        start_s = np.frombuffer(self._record_start_s, dtype=np.float64).copy()
        end_s = np.frombuffer(self._record_end_s, dtype=np.float64).copy()
        return pd.DataFrame(
            {
                "src": names[np.frombuffer(self._record_src, dtype=np.int64)],
                "dst": names[np.frombuffer(self._record_dst, dtype=np.int64)],
                "bytes": np.frombuffer(self._record_bytes, dtype=np.float64).copy(),
                "start_s": start_s,
                "end_s": end_s,
                "duration_s": end_s - start_s,
                "hops": np.frombuffer(self._record_hops, dtype=np.int64).copy(),
            }
        )

    def link_table(self, duration_s: float) -> pd.DataFrame:
        """One row per bandwidth resource: each direction of a full-duplex link, or a half-duplex link.

        Columns: ``name`` (link), ``direction`` (``"a->b"``, or ``"a<->b"`` for half duplex), ``duplex``,
        ``latency_s``, ``bandwidth_bytes_per_s``, ``bytes`` (of completed transfers), ``busy_s`` (time with at
        least one flow transmitting, up to now), ``busy_fraction`` (``busy_s / duration_s``) and
        ``utilization`` (``bytes / (bandwidth * duration_s)``, the mean share of capacity used; 0 for infinite
        bandwidth).

        Args:
            duration_s: Length of the observation window, normally the run's simulated duration; fractions are
                NaN when it is 0.

        Raises:
            ValueError: If ``duration_s`` is negative or NaN.
        """
        if not duration_s >= 0.0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s}")
        now = self._env.now
        busy_s = list(self._resource_busy_s)
        for resource, n_transmitting in enumerate(self.n_transmitting):
            if n_transmitting > 0:
                busy_s[resource] += now - self._resource_busy_since_s[resource]
        links = self._topology.spec.links
        link_of = self._topology.resource_link
        capacity = np.asarray(self._topology.capacities, dtype=np.float64)
        carried = np.asarray(self._resource_bytes, dtype=np.float64)
        busy = np.asarray(busy_s, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            busy_fraction = busy / duration_s if duration_s > 0 else np.full(len(busy), math.nan)
            utilization = (
                np.where(np.isinf(capacity), 0.0, carried / (capacity * duration_s))
                if duration_s > 0
                else np.full(len(busy), math.nan)
            )
        return pd.DataFrame(
            {
                "name": [links[link_of[resource]].name for resource in range(len(capacity))],
                "direction": list(self._topology.resource_direction),
                "duplex": [links[link_of[resource]].duplex for resource in range(len(capacity))],
                "latency_s": [float(links[link_of[resource]].latency_s) for resource in range(len(capacity))],
                "bandwidth_bytes_per_s": capacity,
                "bytes": carried,
                "busy_s": busy,
                "busy_fraction": busy_fraction,
                "utilization": utilization,
            }
        )
