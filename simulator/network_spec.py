"""Typed, frozen description of a network: links between vertices and the bandwidth-sharing model.

These are plain data. `simulator.scenario` validates user input and builds them; `simulator.network.Network`
turns them into a running model. Keeping them in their own small module lets the network be built and tested
without loading the whole scenario schema.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DUPLEX_MODES", "SHARING_MODELS", "LinkSpec", "NetworkSpec"]

SHARING_MODELS: tuple[str, ...] = ("max-min", "rtt-weighted", "none")
"""Known bandwidth-sharing models: SimGrid-style max-min fairness, max-min weighted by 1 / route latency
(SimGrid's CM02), or contention-free links."""

DUPLEX_MODES: tuple[str, ...] = ("full", "half")
"""Known duplex modes of a link."""


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
            compute nodes.
        links: The links of the topology.
    """

    sharing: str = "max-min"
    switches: tuple[str, ...] = ()
    links: tuple[LinkSpec, ...] = ()
