"""The dynamic world (docs/dynamics.md): components that fail and recover, what failures do to the work on a node,
retries, job timeouts, and the dispatcher that places tasks only on nodes that are available.

Built by `simulator.simulation.Simulation` only when `Scenario.is_dynamic`; a static run never imports it.
"""

from simulator.dynamics.dispatcher import AvailableView, DynamicDispatcher
from simulator.dynamics.failures import DownIntervals, World, start_failures
from simulator.dynamics.recovery import Recovery
from simulator.dynamics.watch import NodeWatch

__all__ = ["AvailableView", "DownIntervals", "DynamicDispatcher", "NodeWatch", "Recovery", "World",
           "start_failures"]
