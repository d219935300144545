"""Message brokers: a vertex of the topology with a FIFO queue and servers of its own, between two stages.

A message sent through a broker travels from its sender to the broker's vertex over the network (an ordinary
transfer: route latency, bytes at the sharing model's rate, and the protocol's costs where the scenario sets
them), waits in the broker's FIFO queue for one of its ``slots`` servers, is served for ``service_s + payload /
1e6 x s_per_mb`` seconds (that mean, deterministic or exponential), then travels from the broker to its receiver
as a second transfer. The broker is thus a multi-server FIFO queue (an M/D/c or M/M/c station when messages
arrive as a Poisson stream) placed in the network; it holds no slot of any compute node.

Only transfers of stages that name a broker (`StageSpec.broker`) go through it (`simulator.streaming`); every
other flow may still cross its vertex as it would a switch's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import simpy

from simulator.config.network_spec import BrokerSpec
from simulator.network.network import Network
from simulator.randomness import stream

__all__ = ["BROKER_COLUMNS", "Broker", "broker_table", "build_brokers"]

BYTES_PER_MB = 1e6

BROKER_COLUMNS = ("broker", "slots", "messages", "wait_mean_s", "wait_max_s", "service_mean_s", "utilization",
                  "queue_length_max")
"""The columns of `broker_table`."""


class _Message:
    """One message at a broker: where it goes, its payload, what to call when it has arrived, and its times."""

    __slots__ = ("arrival_s", "dst", "n_bytes", "on_done")

    def __init__(self, dst: int, n_bytes: float, on_done: Callable[[], None], arrival_s: float) -> None:
        self.dst = dst
        self.n_bytes = n_bytes
        self.on_done = on_done
        self.arrival_s = arrival_s


class Broker:
    """A FIFO multi-server queue at a vertex of the network (see the module's docstring).

    Args:
        env: The run's environment.
        spec: The broker's service and servers.
        vertex: The broker's vertex index in ``network``.
        network: The network its messages travel over, to it and from it.
        rng: The broker's own random stream (drawn only for an exponential service).
    """

    def __init__(self, env: simpy.Environment, spec: BrokerSpec, vertex: int, network: Network,
                 rng: np.random.Generator) -> None:
        self.spec = spec
        self.vertex = vertex
        self._env = env
        self._network = network
        self._rng = rng
        self._s_per_byte = spec.s_per_mb / BYTES_PER_MB
        self._free = spec.slots
        self._queue: deque[_Message] = deque()
        self._queue_length_max = 0
        self._rows: list[tuple[float, float, float]] = []
        """(arrival_s, start_s, service_s) of every message served or in service."""

    def mean_service_s(self, n_bytes: float) -> float:
        """Expected time to serve a message of ``n_bytes`` of payload."""
        return self.spec.service_s + n_bytes * self._s_per_byte

    def expected_delay_s(self, n_bytes: float) -> float:
        """What a message of ``n_bytes`` arriving now expects to spend at the broker: the messages waiting ahead of
        it spread over the servers (each at this message's mean), then its own service."""
        ahead = len(self._queue) + self.spec.slots - self._free
        waiting_s = 0.0 if ahead < self.spec.slots else (ahead - self.spec.slots + 1) / self.spec.slots
        return (1.0 + waiting_s) * self.mean_service_s(n_bytes)

    def send(self, src: int, dst: int, n_bytes: float, on_done: Callable[[], None]) -> None:
        """Send ``n_bytes`` from vertex ``src`` to vertex ``dst`` through the broker; ``on_done()`` once it has
        arrived at ``dst``."""
        self._network.transfer(src, self.vertex, n_bytes, partial(self._arrived, dst, n_bytes, on_done))

    def _arrived(self, dst: int, n_bytes: float, on_done: Callable[[], None]) -> None:
        message = _Message(dst, n_bytes, on_done, self._env.now)
        if self._free:
            self._free -= 1
            self._serve(message)
        else:
            self._queue.append(message)
            self._queue_length_max = max(self._queue_length_max, len(self._queue))

    def _serve(self, message: _Message) -> None:
        mean_s = self.mean_service_s(message.n_bytes)
        service_s = mean_s if self.spec.distribution == "deterministic" else float(self._rng.exponential(mean_s))
        self._rows.append((message.arrival_s, self._env.now, service_s))
        self._env.timeout(service_s).callbacks.append(partial(self._served, message))

    def _served(self, message: _Message, _event: simpy.Event) -> None:
        """Served: the message leaves for its receiver, and the server takes the next message waiting."""
        self._network.transfer(self.vertex, message.dst, message.n_bytes, message.on_done)
        if self._queue:
            self._serve(self._queue.popleft())
        else:
            self._free += 1

    def row(self, warmup_s: float, end_s: float) -> dict[str, float | int | str]:
        """The broker's row of `broker_table`: messages that arrived in [warmup_s, end_s) and started service by
        the end, their mean and largest wait for a server, their mean service time; the servers' busy fraction in
        that window (service cut at its edges); the longest queue seen."""
        rows = np.array(self._rows, dtype=float).reshape(-1, 3)
        measured = rows[(rows[:, 0] >= warmup_s) & (rows[:, 0] < end_s)]
        waits = measured[:, 1] - measured[:, 0]
        busy_s = float(np.clip(np.minimum(rows[:, 1] + rows[:, 2], end_s) - np.maximum(rows[:, 1], warmup_s),
                               0.0, None).sum())
        window_s = end_s - warmup_s
        return {"broker": self.spec.name, "slots": self.spec.slots, "messages": len(measured),
                "wait_mean_s": float(waits.mean()) if len(waits) else float("nan"),
                "wait_max_s": float(waits.max()) if len(waits) else float("nan"),
                "service_mean_s": float(measured[:, 2].mean()) if len(measured) else float("nan"),
                "utilization": busy_s / (window_s * self.spec.slots) if window_s > 0 else float("nan"),
                "queue_length_max": self._queue_length_max}


def broker_table(brokers: list[Broker], warmup_s: float, end_s: float) -> pd.DataFrame:
    """One row per broker (see `Broker.row`); empty, with the columns, when the run has none."""
    return pd.DataFrame([broker.row(warmup_s, end_s) for broker in brokers], columns=list(BROKER_COLUMNS))


def build_brokers(env: simpy.Environment, network: Network, seed: int) -> dict[str, Broker]:
    """The network's brokers by name, each with its own random stream (``"broker"``, its name)."""
    return {spec.name: Broker(env, spec, network.vertex_index(spec.name), network, stream(seed, "broker", spec.name))
            for spec in network.spec.brokers}
