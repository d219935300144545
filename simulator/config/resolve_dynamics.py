"""The tables of a dynamic world resolved (docs/dynamics.md): duration tables into `DurationSpec`, failures tables
into failure processes (one per member of a node group or link table, or one for all of them when correlated),
scripted outages with the nodes and links they name, recovery, rebalancing and work stealing.

As in `simulator.config.resolve`, every function adds what it finds wrong to the shared `Problems` and still
returns what it could build.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from simulator.config.problems import Problems
from simulator.config.schema import (
    MAX_TIME_S,
    MIN_TIME_STEP_S,
    DurationTable,
    FailuresTable,
    LinkTable,
    NodeGroupTable,
    OutageTable,
    RebalancingTable,
    RecoveryTable,
    WorkStealingTable,
)
from simulator.config.specs import (
    DurationSpec,
    FailureProcessSpec,
    OutageSpec,
    RebalancingSpec,
    RecoverySpec,
    WorkStealingSpec,
)

__all__ = [
    "resolve_duration",
    "resolve_failures",
    "resolve_outages",
    "resolve_rebalancing",
    "resolve_recovery",
    "resolve_work_stealing",
]

NODES_PREFIX = "nodes."
LINKS_PREFIX = "network.links."
"""An outage's target may be written as ``nodes.NAME`` or ``network.links.NAME`` where a node and a link share
a name."""
LISTED_NAMES = 20
"""Most names a message lists (a group of thousands of nodes would drown it)."""


def resolve_duration(table: DurationTable, path: str, problems: Problems) -> DurationSpec:
    """A duration table as a `DurationSpec` whose ``mean_s`` is the distribution's mean whatever the family."""
    from simulator.distributions import duration_mean_s  # imported where used: it imports simulator.config

    parameters = table.model_dump(exclude={"distribution"})
    mean = duration_mean_s(table.distribution, **parameters)
    if not MIN_TIME_STEP_S <= mean <= MAX_TIME_S:  # only a Weibull's mean can leave the range of its fields
        problems.add(path, f"has a mean of {mean:.4g} s (scale_s x Gamma(1 + 1/shape)), outside "
                     f"[{MIN_TIME_STEP_S:g}, {MAX_TIME_S:g}] s: raise shape or change scale_s")
    parameters["mean_s"] = mean
    return DurationSpec(distribution=table.distribution, **parameters)


def _failure_processes(path: str, owner: str, members: Sequence[str], table: FailuresTable, on_nodes: bool,
                       problems: Problems) -> list[FailureProcessSpec]:
    """The processes of one failures table: one per member, or one for the whole `owner` when correlated."""
    time_to_failure = resolve_duration(table.time_to_failure, f"{path}.time_to_failure", problems)
    time_to_repair = resolve_duration(table.time_to_repair, f"{path}.time_to_repair", problems)
    units = [(owner, tuple(members))] if table.correlated else [(member, (member,)) for member in members]
    return [FailureProcessSpec(name=name, table=path, nodes=down if on_nodes else (), links=() if on_nodes else down,
                               time_to_failure=time_to_failure, time_to_repair=time_to_repair, clock=table.clock)
            for name, down in units]


def resolve_failures(node_tables: Mapping[str, NodeGroupTable], groups: Mapping[str, Sequence[str]],
                     link_tables: Mapping[str, LinkTable], links_of_table: Mapping[str, Sequence[str]],
                     problems: Problems) -> list[FailureProcessSpec]:
    """The failure processes of every ``[nodes.GROUP.failures]`` and ``[network.links.LINK.failures]`` table,
    named by their node or link (a correlated one by its group or link table). A group or link table already
    refused (it made no members) makes none."""
    processes: list[FailureProcessSpec] = []
    for group, node_table in node_tables.items():
        if node_table.failures is not None and group in groups:
            processes += _failure_processes(f"nodes.{group}.failures", group, groups[group], node_table.failures,
                                            True, problems)
    for name, link_table in link_tables.items():
        if link_table.failures is not None and name in links_of_table:
            processes += _failure_processes(f"network.links.{name}.failures", name, links_of_table[name],
                                            link_table.failures, False, problems)
    return processes


def _some(names: Iterable[str]) -> str:
    listed = list(names)
    more = f" (and {len(listed) - LISTED_NAMES} more)" if len(listed) > LISTED_NAMES else ""
    return (", ".join(listed[:LISTED_NAMES]) or "(none)") + more


def _members_by_name(tables: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """What each name stands for: a group or table its members, a member itself."""
    named: dict[str, tuple[str, ...]] = {member: (member,) for members in tables.values() for member in members}
    named.update((name, tuple(members)) for name, members in tables.items())
    return named


def resolve_outages(tables: Sequence[OutageTable], groups: Mapping[str, Sequence[str]],
                    links_of_table: Mapping[str, Sequence[str]], problems: Problems) -> list[OutageSpec]:
    """The scripted outages, each target resolved to its nodes (a node or node group) or links (a link or link
    table: all the links it made)."""
    node_targets = _members_by_name(groups)
    link_targets = _members_by_name(links_of_table)
    outages = []
    for index, table in enumerate(tables):
        path = f"outages[{index}].target"
        target = table.target
        nodes, links = node_targets.get(target, ()), link_targets.get(target, ())
        if nodes and links:
            problems.add(path, f"{target!r} is both a node (or group) and a link (or link table): write "
                         f"\"{NODES_PREFIX}{target}\" or \"{LINKS_PREFIX}{target}\"")
            continue
        if not nodes and not links:
            if target.startswith(NODES_PREFIX):
                nodes = node_targets.get(target.removeprefix(NODES_PREFIX), ())
            elif target.startswith(LINKS_PREFIX):
                links = link_targets.get(target.removeprefix(LINKS_PREFIX), ())
        if not nodes and not links:
            problems.add(path, f"names no node, node group, link or link table: {target!r}; it may name the nodes "
                         f"and groups {_some(node_targets)}, or the links and link tables {_some(link_targets)}")
            continue
        outages.append(OutageSpec(target=target, nodes=nodes, links=links, start_s=table.start_s,
                                  duration_s=table.duration_s))
    return outages


def resolve_recovery(table: RecoveryTable, problems: Problems) -> RecoverySpec:
    """What a failure does to the work on a node; the longest backoff must be a sane time, so that no retry is
    scheduled past the end of any run (or at an infinite time)."""
    if table.backoff_s > 0 and table.max_retries > 1:
        log_longest = math.log(table.backoff_s) + (table.max_retries - 1) * math.log(table.backoff_factor)
        if log_longest > math.log(MAX_TIME_S):
            problems.add("recovery.backoff_factor", f"makes the last retry wait backoff_s x backoff_factor ** "
                         f"(max_retries - 1) = about 1e{log_longest / math.log(10):.0f} s, more than "
                         f"{MAX_TIME_S:g} s: lower backoff_factor, backoff_s or max_retries")
    return RecoverySpec(**table.model_dump())


def resolve_rebalancing(table: RebalancingTable, problems: Problems) -> RebalancingSpec:
    """The rebalancing monitor; with the threshold trigger its window holds at least one sample and at least one
    threshold can be crossed."""
    if table.trigger == "threshold":
        if table.window_s < table.interval_s:
            problems.add("rebalancing.window_s", f"({table.window_s:g} s) must be at least interval_s "
                         f"({table.interval_s:g} s): the thresholds compare averages over the window of the samples "
                         "taken every interval_s")
        if table.utilization_above >= 1 and math.isinf(table.queue_above):
            problems.add("rebalancing", "with trigger = \"threshold\" can never trigger: a node's utilization is "
                         "never above utilization_above = 1 and its queue never above queue_above = inf; lower "
                         "one of them (or use trigger = \"periodic\")")
    return RebalancingSpec(**table.model_dump())


def resolve_work_stealing(table: WorkStealingTable) -> WorkStealingSpec:
    """Work stealing, as given."""
    return WorkStealingSpec(**table.model_dump())
