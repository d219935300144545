"""The network: topology and routes (`topology`), bandwidth sharing models (`sharing`), what was transferred
(`records`), the `Network` that puts them together for a run (`network`), and messages with a protocol overhead
and compression (`messages`), and message brokers (`brokers`)."""

from simulator.network.messages import MessageNetwork, build_network
from simulator.network.network import Network
from simulator.network.sharing import max_min_rates
from simulator.network.topology import Route, Topology

__all__ = ["MessageNetwork", "Network", "Route", "Topology", "build_network", "max_min_rates"]
