"""Components that fail and are repaired: failure processes (renewal sequences of up and repair times), scripted
outages, and the down counter of every node and link.

A component is down while at least one cause holds it down (its own failure process, a correlated group, an
outage), so the world changes only when a counter goes from 0 to 1 (the component fails) or back to 0 (it is
repaired). Every down period is recorded for availability and the observed time to repair.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import simpy

from simulator.cluster import Node
from simulator.config.specs import FailureProcessSpec, OutageSpec
from simulator.distributions import duration_sampler
from simulator.dynamics.watch import NodeWatch
from simulator.randomness import stream

DownIntervals = dict[str, list[list[float]]]
"""Per component name, its down periods as ``[start_s, end_s]`` (end NaN while still down)."""


class World:
    """The up or down state of every node and link, and the callbacks that act on a change.

    ``on_node(index, up)`` and ``on_link(name, up)`` are called on each 0 <-> 1 transition of a counter.
    """

    def __init__(self, env: simpy.Environment, node_names: Sequence[str], on_node: Callable[[int, bool], None],
                 on_link: Callable[[str, bool], None]) -> None:
        self.env = env
        self._node_index = {name: index for index, name in enumerate(node_names)}
        self._on_node = on_node
        self._on_link = on_link
        self._down: dict[str, int] = {}
        self.node_down: DownIntervals = {}
        self.link_down: DownIntervals = {}

    def take_down(self, nodes: Sequence[str], links: Sequence[str]) -> None:
        """One more cause holds these nodes and links down."""
        for kind, names in (("node", nodes), ("link", links)):
            for name in names:
                key = f"{kind}:{name}"
                self._down[key] = self._down.get(key, 0) + 1
                if self._down[key] == 1:
                    intervals = self.node_down if kind == "node" else self.link_down
                    intervals.setdefault(name, []).append([self.env.now, math.nan])
                    self._changed(kind, name, up=False)

    def bring_up(self, nodes: Sequence[str], links: Sequence[str]) -> None:
        """One cause fewer holds these nodes and links down; those no cause holds any more are repaired."""
        for kind, names in (("node", nodes), ("link", links)):
            for name in names:
                key = f"{kind}:{name}"
                self._down[key] -= 1
                if self._down[key] == 0:
                    intervals = self.node_down if kind == "node" else self.link_down
                    intervals[name][-1][1] = self.env.now
                    self._changed(kind, name, up=True)

    def _changed(self, kind: str, name: str, up: bool) -> None:
        if kind == "node":
            self._on_node(self._node_index[name], up)
        else:
            self._on_link(name, up)


class FailureProcess:
    """One `FailureProcessSpec`: draws a time to failure, takes its components down, draws a time to repair,
    brings them up, and starts over.

    With ``clock = "busy"`` the time to failure is a countdown that runs only while at least one of its nodes has
    work (`NodeWatch` reports the changes through `work_changed`): paused, it keeps what is left.
    """

    def __init__(self, env: simpy.Environment, world: World, spec: FailureProcessSpec, seed: int) -> None:
        rng = stream(seed, "failures", spec.table, spec.name)
        self.env = env
        self.world = world
        self.spec = spec
        self._time_to_failure = duration_sampler(spec.time_to_failure, rng)
        self._time_to_repair = duration_sampler(spec.time_to_repair, rng)
        self.busy_clock = spec.clock == "busy"
        self.working: set[str] = set()  # busy clock: the process's nodes that have work now
        self._remaining_s = 0.0
        self._running_since = math.nan  # busy clock: when the countdown last resumed (NaN: paused)
        self._generation = 0  # a pending failure event fires only if it is still this generation's
        self._down = False

    def start(self) -> None:
        self._remaining_s = self._time_to_failure()
        self._arm()

    def _arm(self) -> None:
        """Schedule the failure at the end of the remaining time, if the clock is running."""
        if self.busy_clock and not self.working:
            self._running_since = math.nan
            return
        self._running_since = self.env.now
        self._generation += 1
        self.env.timeout(self._remaining_s).callbacks.append(partial(self._fail, self._generation))

    def work_changed(self, node: str, working: bool) -> None:
        """Busy clock: a node of the process started or stopped having work; pause or resume the countdown."""
        was_running = bool(self.working)
        if working:
            self.working.add(node)
        else:
            self.working.discard(node)
        if self._down or was_running == bool(self.working):
            return
        if self.working:
            self._arm()
        else:
            self._remaining_s -= self.env.now - self._running_since
            self._running_since = math.nan
            self._generation += 1  # the pending failure is void

    def _fail(self, generation: int, _event: simpy.Event) -> None:
        if generation != self._generation:
            return
        self._down = True
        self.world.take_down(self.spec.nodes, self.spec.links)
        self.env.timeout(self._time_to_repair()).callbacks.append(self._repair)

    def _repair(self, _event: simpy.Event) -> None:
        self._down = False
        self.world.bring_up(self.spec.nodes, self.spec.links)
        self._remaining_s = self._time_to_failure()
        self._arm()


def _outage_starts(world: World, outage: OutageSpec, _event: simpy.Event) -> None:
    world.take_down(outage.nodes, outage.links)
    world.env.timeout(outage.duration_s).callbacks.append(lambda _: world.bring_up(outage.nodes, outage.links))


def start_failures(env: simpy.Environment, world: World, failures: Sequence[FailureProcessSpec],
                   outages: Sequence[OutageSpec], seed: int, nodes: Sequence[Node]) -> NodeWatch | None:
    """Start every failure process and schedule every outage; returns the watch of the nodes whose failure clock
    is busy time (None when no process has one)."""
    processes = [FailureProcess(env, world, spec, seed) for spec in failures]
    watch = None
    busy = [process for process in processes if process.busy_clock]
    if busy:
        index_of = {node.name: node.index for node in nodes}
        by_node: dict[int, list[FailureProcess]] = {}
        for process in busy:
            for name in process.spec.nodes:
                by_node.setdefault(index_of[name], []).append(process)

        def work_changed(index: int, working: bool) -> None:
            for process in by_node[index]:
                process.work_changed(nodes[index].name, working)

        watch = NodeWatch(nodes, sorted(by_node), work_changed)
    for process in processes:
        process.start()
    for outage in outages:
        env.timeout(outage.start_s).callbacks.append(partial(_outage_starts, world, outage))
    return watch
