"""What the network did: completed transfers (columnar, so a long run keeps no object per transfer), attempts of
transfers lost to a link failure, and, per bandwidth resource, the bytes carried, the time with at least one flow
transmitting, and its link's failures and down time."""

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
    """One transfer in flight; dropped once it completes (completed transfers live in columnar records).

    Attributes:
        src: Source vertex.
        dst: Destination vertex.
        n_bytes: Size in bytes.
        start_s: When the transfer was asked for.
        route: The route of the current attempt; no link while the flow waits for a route.
        on_done: Called once, when the last byte of the last attempt is in.
        sequence: Order of the transfer among those of the network (ties between flows are broken by it).
        timer: The pending event that moves the current attempt on (its latency, or its transmission when the
            sharing model times it); a failed attempt's timer is disarmed (its callbacks removed).
        attempt_start_s: When the current attempt began; None for the first one, which began at ``start_s``.
        failed_attempts: How many attempts a link failure ended.
    """

    src: int
    dst: int
    n_bytes: float
    start_s: float
    route: Route
    on_done: Callable[[], None]
    sequence: int
    timer: simpy.Event | None = None
    attempt_start_s: float | None = None
    failed_attempts: int = 0


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
        self.in_flight: dict[int, Flow] = {}
        """Transfers started and not completed (in latency, transmitting or waiting for a route), by sequence."""
        n_links = len(topology.spec.links)
        self._link_failures = [0] * n_links
        self._link_down_since_s = [0.0] * n_links
        self._link_down_s = [0.0] * n_links
        self._failed_src = array("q")
        self._failed_dst = array("q")
        self._failed_bytes = array("d")
        self._failed_bytes_sent = array("d")
        self._failed_start_s = array("d")
        self._failed_at_s = array("d")
        self._failed_link = array("q")
        self._failed_attempt = array("q")

    @property
    def n_in_flight(self) -> int:
        """Transfers started and not completed, including those still in latency or waiting for a route."""
        return len(self.in_flight)

    @property
    def n_failed(self) -> int:
        """Attempts of transfers that a link failure ended."""
        return len(self._failed_link)

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
        del self.in_flight[flow.sequence]
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

    def fail(self, flow: Flow, link_index: int, bytes_sent: float) -> None:
        """Record that a link failure ended the flow's current attempt after ``bytes_sent`` bytes (the flow stays
        in flight: it starts again or waits for a route)."""
        attempt_start_s = flow.attempt_start_s
        self._failed_src.append(flow.src)
        self._failed_dst.append(flow.dst)
        self._failed_bytes.append(flow.n_bytes)
        self._failed_bytes_sent.append(bytes_sent)
        self._failed_start_s.append(flow.start_s if attempt_start_s is None else attempt_start_s)
        self._failed_at_s.append(self._env.now)
        self._failed_link.append(link_index)
        self._failed_attempt.append(flow.failed_attempts + 1)

    def link_down(self, link_index: int) -> None:
        """The link went down now."""
        self._link_failures[link_index] += 1
        self._link_down_since_s[link_index] = self._env.now

    def link_up(self, link_index: int) -> None:
        """The link came back up now."""
        self._link_down_s[link_index] += self._env.now - self._link_down_since_s[link_index]

    # ------------------------------------------------------------------ observation and results

    def transfer_table(self) -> pd.DataFrame:
        """One row per completed transfer between distinct vertices, in completion order.

        Columns: ``src``, ``dst`` (vertex names), ``bytes``, ``start_s`` (when ``transfer`` was called),
        ``end_s`` (last byte arrived), ``duration_s`` and ``hops``. ``bytes`` are the bytes that crossed the
        network: a message's wire bytes (payload x compression ratio + protocol header) and ``start_s`` when
        they entered it, after compression and the protocol's delay (`simulator.network.messages`).
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

    def failed_transfer_table(self) -> pd.DataFrame:
        """One row per attempt of a transfer that a link failure ended, in the order they failed.

        Columns: ``src``, ``dst`` (vertex names), ``bytes`` (the transfer's size), ``bytes_sent`` (what the
        attempt had transmitted, lost: 0 when it failed in its latency), ``start_s`` (when the attempt began:
        the transfer's request, or the previous failure or the repair it waited for), ``fail_s``, ``link`` (the
        link whose failure ended it) and ``attempt`` (1 for the transfer's first attempt).
        """
        names = np.asarray(self._topology.vertex_names, dtype=object)
        link_names = np.asarray([link.name for link in self._topology.spec.links], dtype=object)
        return pd.DataFrame(
            {
                "src": names[np.frombuffer(self._failed_src, dtype=np.int64)],
                "dst": names[np.frombuffer(self._failed_dst, dtype=np.int64)],
                "bytes": np.frombuffer(self._failed_bytes, dtype=np.float64).copy(),
                "bytes_sent": np.frombuffer(self._failed_bytes_sent, dtype=np.float64).copy(),
                "start_s": np.frombuffer(self._failed_start_s, dtype=np.float64).copy(),
                "fail_s": np.frombuffer(self._failed_at_s, dtype=np.float64).copy(),
                "link": link_names[np.frombuffer(self._failed_link, dtype=np.int64)],
                "attempt": np.frombuffer(self._failed_attempt, dtype=np.int64).copy(),
            }
        )

    def link_table(self, duration_s: float) -> pd.DataFrame:
        """One row per bandwidth resource: each direction of a full-duplex link, or a half-duplex link.

        Columns: ``name`` (link), ``direction`` (``"a->b"``, or ``"a<->b"`` for half duplex), ``duplex``,
        ``latency_s``, ``bandwidth_bytes_per_s``, ``bytes`` (of completed transfers), ``busy_s`` (time with at
        least one flow transmitting, up to now), ``busy_fraction`` (``busy_s / duration_s``) and
        ``utilization`` (``bytes / (bandwidth * duration_s)``, the mean share of capacity used; 0 for infinite
        bandwidth), and the link's ``failures`` (times it went down) and ``down_s`` (time down, up to now).

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
        down_s = list(self._link_down_s)
        for link_index in range(len(links)):
            if not self._topology.link_is_up(link_index):
                down_s[link_index] += now - self._link_down_since_s[link_index]
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
                "failures": [self._link_failures[link_of[resource]] for resource in range(len(capacity))],
                "down_s": [down_s[link_of[resource]] for resource in range(len(capacity))],
            }
        )
