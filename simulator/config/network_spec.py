"""Typed, frozen description of a network: links between vertices and the bandwidth-sharing model.

These are plain data. `simulator.config` validates user input and builds them; `simulator.network.Network`
turns them into a running model. Keeping them in their own small module lets the network be built and tested
without loading the whole scenario schema.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BROKER_SERVICE_DISTRIBUTIONS",
    "DUPLEX_MODES",
    "SHARING_MODELS",
    "BrokerSpec",
    "CompressionSpec",
    "LinkSpec",
    "NetworkSpec",
    "ProtocolSpec",
    "network_problems",
]

SHARING_MODELS: tuple[str, ...] = ("max-min", "rtt-weighted", "none")
"""Known bandwidth-sharing models: SimGrid-style max-min fairness, max-min weighted by 1 / route latency
(SimGrid's CM02), or contention-free links."""

DUPLEX_MODES: tuple[str, ...] = ("full", "half")
"""Known duplex modes of a link."""

BROKER_SERVICE_DISTRIBUTIONS: tuple[str, ...] = ("deterministic", "exponential")
"""Laws of a broker's time per message (its mean: ``service_s`` plus the per-megabyte part)."""


@dataclass(frozen=True)
class LinkSpec:
    """One physical link between two vertices (compute nodes or switches).

    Attributes:
        name: Unique name of the link; it labels the link's rows in result tables.
        endpoints: Names of the two vertices the link joins; order only sets which direction is "forward".
        latency_s: One-way propagation and switching delay in seconds, >= 0.
        bandwidth_bytes_per_s: Capacity in bytes per second, > 0; `math.inf` models a link that only adds
            latency.
        duplex: "full" gives each direction the whole bandwidth (two independent resources); "half" makes both
            directions share it (one resource).
    """

    name: str
    endpoints: tuple[str, str]
    latency_s: float
    bandwidth_bytes_per_s: float
    duplex: str = "full"


@dataclass(frozen=True)
class ProtocolSpec:
    """The cost every message pays on top of its payload (one message per transfer between distinct vertices).

    Attributes:
        header_bytes: Bytes added to each message (headers, framing), >= 0.
        latency_s: Fixed delay per message in seconds (connection set-up, request handling), >= 0; added to the
            route's latency.
        name: What the numbers stand for ("http", "grpc", "broker", ...); documentation only.
    """

    header_bytes: float = 0.0
    latency_s: float = 0.0
    name: str = ""


@dataclass(frozen=True)
class CompressionSpec:
    """Compression of every message's payload.

    Attributes:
        ratio: Bytes on the wire per byte of payload, in (0, 1].
        sender_s_per_mb: Seconds to compress one megabyte (1e6 bytes) of uncompressed payload, >= 0.
        receiver_s_per_mb: Seconds to decompress one megabyte of uncompressed payload, >= 0.
    """

    ratio: float = 1.0
    sender_s_per_mb: float = 0.0
    receiver_s_per_mb: float = 0.0


@dataclass(frozen=True)
class BrokerSpec:
    """A message broker: a vertex of the topology (linked like a switch) with a FIFO queue and its own servers.

    A message routed through it travels from its sender to the broker, waits for a free server, is served for
    ``service_s + payload / 1e6 x s_per_mb`` seconds (that mean, deterministic or exponential), then travels to
    its receiver (`simulator.network.brokers`).

    Attributes:
        name: The broker's vertex name (unique among nodes and switches).
        service_s: Time per message in seconds, >= 0.
        s_per_mb: Extra time per megabyte (1e6 bytes) of payload in seconds, >= 0.
        slots: Messages served at once (servers), >= 1.
        distribution: "deterministic" or "exponential" (with the mean above).
    """

    name: str
    service_s: float = 0.0
    s_per_mb: float = 0.0
    slots: int = 1
    distribution: str = "deterministic"


@dataclass(frozen=True)
class NetworkSpec:
    """The network of a scenario: extra switch vertices, the links, and how concurrent flows share links.

    Attributes:
        sharing: "max-min" shares each link fairly between the flows crossing it (progressive filling, as in
            SimGrid's flow model); "rtt-weighted" shares it in proportion to 1 / the route's latency (weighted
            max-min, as SimGrid's CM02 model; a route of zero latency is weighted as if its latency were the
            smallest positive link latency of the network, and when no link has a positive latency all flows
            weigh the same); "none" gives every flow its route's bottleneck bandwidth regardless of other
            flows.
        switches: Names of vertices that forward traffic but run no tasks; they are numbered after the
            compute nodes. A broker's vertex is one of them.
        links: The links of the topology.
        protocol: The per-message overhead; None: messages cost their payload only.
        compression: Compression of message payloads; None: payloads travel as they are.
        brokers: The message brokers (each named among ``switches``).
    """

    sharing: str = "max-min"
    switches: tuple[str, ...] = ()
    links: tuple[LinkSpec, ...] = ()
    protocol: ProtocolSpec | None = None
    compression: CompressionSpec | None = None
    brokers: tuple[BrokerSpec, ...] = ()


def network_problems(spec: NetworkSpec, vertices: Sequence[str]) -> list[tuple[str, str]]:
    """Everything that makes a network impossible, checked in one place for every way of building one (a
    scenario file, or a `NetworkSpec` made in code): an unknown sharing model or duplex mode, a switch named
    like a node or listed twice, a link without exactly two endpoints, to an unknown vertex or to itself, a
    negative or infinite latency, a bandwidth that is not positive, two links of the same name, a protocol
    overhead or compression cost that is negative or not finite, a compression ratio outside (0, 1].

    Args:
        spec: The network.
        vertices: Names of the compute nodes.

    Returns:
        ``(where, message)`` pairs: ``where`` is ``"sharing"``, ``"switches"``, ``"links.NAME"``,
        ``"protocol"`` or ``"compression"``.
    """
    problems: list[tuple[str, str]] = []
    if spec.sharing not in SHARING_MODELS:
        problems.append(("sharing", f"must be one of {', '.join(map(repr, SHARING_MODELS))}, got {spec.sharing!r}"))
    nodes = set(vertices)
    for name, count in Counter(vertices).items():
        if count > 1:
            problems.append(("nodes", f"name {name!r} is given {count} times (duplicate vertex name)"))
    for index, switch in enumerate(spec.switches):
        if switch in nodes:
            problems.append(("switches", f"name {switch!r} is already used by a node (duplicate vertex name)"))
        elif switch in spec.switches[:index]:
            problems.append(("switches", f"lists {switch!r} twice (duplicate vertex name)"))
    known = nodes | set(spec.switches)
    for link in spec.links:
        where = f"links.{link.name}"
        if len(link.endpoints) != 2:
            problems.append((where, f"must have exactly two endpoints, got {list(link.endpoints)}"))
            continue
        unknown = [end for end in link.endpoints if end not in known]
        for end in unknown:
            problems.append((where, f"joins unknown vertex {end!r}; known vertices: {', '.join(sorted(known))}"))
        if not unknown and link.endpoints[0] == link.endpoints[1]:
            problems.append((where, f"joins a vertex to itself: {list(link.endpoints)}"))
        if not (link.latency_s >= 0.0 and math.isfinite(link.latency_s)):
            problems.append((where, f"latency_s must be finite and >= 0, got {link.latency_s}"))
        if not link.bandwidth_bytes_per_s > 0.0:
            problems.append((where, f"bandwidth_bytes_per_s must be > 0, got {link.bandwidth_bytes_per_s}"))
        if link.duplex not in DUPLEX_MODES:
            problems.append((where, f"duplex must be one of {', '.join(map(repr, DUPLEX_MODES))}, "
                                    f"got {link.duplex!r}"))
    for name, count in Counter(link.name for link in spec.links).items():
        if count > 1:
            problems.append((f"links.{name}", f"is the name of {count} links (a duplicate link name; a group's "
                                              "member links are named LINK-MEMBER)"))
    problems.extend(_message_problems(spec))
    problems.extend(_broker_problems(spec))
    return problems


def _broker_problems(spec: NetworkSpec) -> list[tuple[str, str]]:
    """Problems of the brokers: a vertex that is not a switch, a negative or infinite time, no server, an unknown
    law."""
    problems: list[tuple[str, str]] = []
    for broker in spec.brokers:
        where = f"brokers.{broker.name}"
        if broker.name not in spec.switches:
            problems.append((where, f"is not a switch vertex (switches: {', '.join(spec.switches) or '(none)'})"))
        for field, value in (("service_s", broker.service_s), ("s_per_mb", broker.s_per_mb)):
            if not (value >= 0.0 and math.isfinite(value)):
                problems.append((where, f"{field} must be finite and >= 0 (seconds), got {value}"))
        if not broker.slots >= 1:
            problems.append((where, f"slots must be an integer >= 1, got {broker.slots}"))
        if broker.distribution not in BROKER_SERVICE_DISTRIBUTIONS:
            allowed = ", ".join(map(repr, BROKER_SERVICE_DISTRIBUTIONS))
            problems.append((where, f"distribution must be one of {allowed}, got {broker.distribution!r}"))
    return problems


def _message_problems(spec: NetworkSpec) -> list[tuple[str, str]]:
    """Problems of the per-message protocol overhead and compression."""
    problems: list[tuple[str, str]] = []
    costs: list[tuple[str, str, float, str]] = []
    if spec.protocol is not None:
        costs += [("protocol", "header_bytes", spec.protocol.header_bytes, "bytes"),
                  ("protocol", "latency_s", spec.protocol.latency_s, "seconds")]
    if spec.compression is not None:
        ratio = spec.compression.ratio
        if not 0.0 < ratio <= 1.0:
            problems.append(("compression", f"ratio must be in (0, 1] (bytes on the wire per byte of payload), "
                                            f"got {ratio}"))
        costs += [("compression", "sender_s_per_mb", spec.compression.sender_s_per_mb, "seconds per MB"),
                  ("compression", "receiver_s_per_mb", spec.compression.receiver_s_per_mb, "seconds per MB")]
    for where, field, value, unit in costs:
        if not (value >= 0.0 and math.isfinite(value)):
            problems.append((where, f"{field} must be finite and >= 0 ({unit}), got {value}"))
    return problems
