"""The network: topology and routes (`topology`), bandwidth sharing models (`sharing`), what was transferred
(`records`), and the `Network` that puts them together for a run (`network`)."""

from simulator.network.network import Network
from simulator.network.sharing import max_min_rates
from simulator.network.topology import Route, Topology

__all__ = ["Network", "Route", "Topology", "max_min_rates"]
