"""Messages: every transfer between distinct vertices is one message, which pays a protocol's per-message overhead
and, when payloads are compressed, the compression's CPU time and saves its bytes.

A message of ``n`` payload bytes: the sender compresses it (``n / 1e6 x sender_s_per_mb`` seconds), the protocol's
fixed delay passes (``latency_s``), then ``n x ratio + header_bytes`` bytes travel as one flow over the route (route
latency, then the bytes at the sharing model's rate), and the receiver decompresses it (``n / 1e6 x
receiver_s_per_mb``). A lone message thus takes ``send + protocol latency + route latency + wire bytes /
bottleneck + receive``, which is what the estimates give policies.

The compression time delays the message but occupies no slot of either node: it models a codec on a core the
tasks do not use (a sidecar, a NIC offload, a spare core), which keeps one message from holding back the node's
queue. A scenario where it competes with tasks needs it modelled as a stage of the application instead.

The flow on the network is the wire part only: the transfer table's ``bytes`` are wire bytes (payload x ratio +
header) and its ``start_s`` is when they are handed to the network, after compression and the protocol's delay.
A link failure restarts the flow's bytes and route latency; the message's own costs are paid once.

A scenario without ``[network.protocol]`` and ``[network.compression]`` gets the plain `Network`: none of this
runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import simpy

from simulator.config.network_spec import CompressionSpec, NetworkSpec, ProtocolSpec
from simulator.network.network import Network

__all__ = ["MessageNetwork", "build_network"]

BYTES_PER_MB = 1e6


class MessageNetwork(Network):
    """A `Network` whose transfers between distinct vertices are messages with a protocol overhead and optional
    compression (see the module's docstring); a hand-over on one vertex stays free."""

    def __init__(self, env: simpy.Environment, spec: NetworkSpec, vertices: Sequence[str]) -> None:
        super().__init__(env, spec, vertices)
        protocol = spec.protocol or ProtocolSpec()
        compression = spec.compression or CompressionSpec()
        self._header_bytes = protocol.header_bytes
        self._protocol_latency_s = protocol.latency_s
        self._ratio = compression.ratio
        self._send_s_per_byte = compression.sender_s_per_mb / BYTES_PER_MB
        self._receive_s_per_byte = compression.receiver_s_per_mb / BYTES_PER_MB

    def wire_bytes(self, n_bytes: float) -> float:
        """Bytes on the wire for a payload of ``n_bytes``: compressed payload plus the protocol's header."""
        return n_bytes * self._ratio + self._header_bytes

    def _before_s(self, n_bytes: float) -> float:
        """Delay before the bytes leave: compression, then the protocol's fixed delay."""
        return n_bytes * self._send_s_per_byte + self._protocol_latency_s

    def estimate_s(self, src: int, dst: int, n_bytes: float) -> float:
        """Contention-free time of a message: its delays plus the wire bytes' time over the route (`Network`)."""
        if src == dst:
            return super().estimate_s(src, dst, n_bytes)
        return (self._before_s(n_bytes) + super().estimate_s(src, dst, self.wire_bytes(n_bytes))
                + n_bytes * self._receive_s_per_byte)

    def estimate_shared_s(self, src: int, dst: int, n_bytes: float) -> float:
        """Time of a message if the flows now transmitting keep going: its delays plus the wire bytes at a new
        flow's first share (`Network.estimate_shared_s`)."""
        wire = self.wire_bytes(n_bytes)
        if src == dst or wire == 0 or not self._shares_bandwidth:
            return self.estimate_s(src, dst, n_bytes)
        return (self._before_s(n_bytes) + super().estimate_shared_s(src, dst, wire)
                + n_bytes * self._receive_s_per_byte)

    def transfer(self, src: int, dst: int, n_bytes: float, on_done: Callable[[], None]) -> None:
        """Send ``n_bytes`` of payload from ``src`` to ``dst`` as one message; ``on_done()`` once it is
        decompressed at ``dst``. ``src == dst`` is a free local hand-over, as in `Network.transfer`.

        Raises:
            IndexError: If a vertex index is out of range.
            ValueError: As `Network.transfer`.
        """
        if src == dst:
            super().transfer(src, dst, n_bytes, on_done)
            return
        if not (n_bytes >= 0.0 and math.isfinite(n_bytes)):
            raise ValueError(f"n_bytes must be finite and >= 0, got {n_bytes}")
        self.topology.check_vertex(src)
        self.topology.check_vertex(dst)
        receive_s = n_bytes * self._receive_s_per_byte
        done = on_done if receive_s == 0.0 else partial(self._decompress, receive_s, on_done)
        before_s = self._before_s(n_bytes)
        if before_s == 0.0:
            super().transfer(src, dst, self.wire_bytes(n_bytes), done)
        else:
            self._env.timeout(before_s).callbacks.append(
                partial(self._send, src, dst, self.wire_bytes(n_bytes), done))

    def _send(self, src: int, dst: int, wire_bytes: float, on_done: Callable[[], None], _event: simpy.Event) -> None:
        """Compressed, protocol delay over: the wire bytes start over the route."""
        super().transfer(src, dst, wire_bytes, on_done)

    def _decompress(self, receive_s: float, on_done: Callable[[], None]) -> None:
        """The last wire byte is in: ``on_done`` runs once the receiver has decompressed the payload."""
        self._env.timeout(receive_s).callbacks.append(partial(_call, on_done))


def _call(on_done: Callable[[], None], _event: simpy.Event) -> None:
    on_done()


def build_network(env: simpy.Environment, spec: NetworkSpec, vertices: Sequence[str]) -> Network:
    """The run's network: a `MessageNetwork` when the spec has a protocol or compression, else the plain
    `Network`, so that a run without them executes exactly the plain transfer code."""
    if spec.protocol is None and spec.compression is None:
        return Network(env, spec, vertices)
    return MessageNetwork(env, spec, vertices)
