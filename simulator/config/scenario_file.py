"""A scenario file from path to `Scenario`: read, override, validate against the schema, resolve, check.

Validation happens once, here, at the boundary: after `load_scenario` no code reads a raw dict. Every problem
is reported (not only the first), each naming the file, the dotted field path and what is allowed. Unknown keys
are errors, so a typo never silently becomes a default. The schema's problems (types, ranges, unknown keys) are
reported together first; references between tables and the semantic checks need a file the schema accepts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simulator.config.checks import (
    check_batch_rules,
    check_clairvoyance,
    check_endless_processes,
    check_joins,
    check_placement_and_routes,
    check_queue_disciplines,
    check_replicas,
    check_resource_demands,
    check_run_ends,
    check_streaming,
)
from simulator.config.loading import apply_overrides, find_scenario, read_toml
from simulator.config.problems import Problems
from simulator.config.resolve import (
    resolve_applications,
    resolve_arrivals,
    resolve_models,
    resolve_network,
    resolve_nodes,
    resolve_policy,
    resolve_simulation,
)
from simulator.config.resolve_dynamics import (
    resolve_failures,
    resolve_outages,
    resolve_rebalancing,
    resolve_recovery,
    resolve_work_stealing,
)
from simulator.config.schema import validate_file
from simulator.config.specs import Scenario
from simulator.errors import ScenarioError, UserInputError

__all__ = ["load_scenario", "parse_scenario"]


def parse_scenario(raw: Mapping[str, Any], source: str = "scenario", base_dir: str | Path = ".") -> Scenario:
    """Validate a raw configuration (as read from TOML) into a `Scenario`.

    Args:
        raw: The configuration.
        source: The file it came from, named in every message.
        base_dir: The directory relative paths (profiles, traces) are read from.

    Raises:
        ScenarioError: Listing every problem found.
    """
    problems = Problems(source)
    file = validate_file(raw, problems)
    if file is None:
        raise ScenarioError(problems.items)
    base_dir = Path(base_dir)
    simulation = resolve_simulation(file.simulation, problems)
    policy = resolve_policy(file.policy, base_dir, problems)
    nodes, groups = resolve_nodes(file.nodes, problems)
    node_names = {node.name for node in nodes}
    network, links_of_table = resolve_network(file.network, groups, node_names, problems)
    models = resolve_models(file.models, base_dir, problems)
    applications = resolve_applications(file.applications, models, node_names | set(network.switches) | set(groups),
                                        problems)
    arrivals = resolve_arrivals(file.arrivals, applications, groups, node_names | set(network.switches), base_dir,
                                problems)
    failures = resolve_failures(file.nodes, groups, file.network.links, links_of_table, problems)
    outages = resolve_outages(file.outages, groups, links_of_table, problems)
    recovery = resolve_recovery(file.recovery, problems)
    rebalancing = resolve_rebalancing(file.rebalancing, problems)
    if not problems.items:
        check_placement_and_routes(problems, nodes, network, models, applications, arrivals)
        check_batch_rules(problems, nodes, models)
        check_queue_disciplines(problems, nodes, models)
        check_resource_demands(problems, nodes, models, applications)
        check_replicas(problems, nodes, models, applications)
        check_clairvoyance(problems, policy, nodes, models, applications)
    check_run_ends(problems, simulation, arrivals)
    check_endless_processes(problems, simulation, failures, rebalancing, len(nodes))
    problems.raise_if_any(ScenarioError)
    scenario = Scenario(
        name=file.scenario.name or Path(source).stem,
        path=source,
        simulation=simulation,
        policy=policy,
        nodes=tuple(nodes),
        network=network,
        models=models,
        applications=applications,
        arrivals=tuple(arrivals),
        config=copy.deepcopy(dict(raw)),
        warnings=tuple(problems.warnings),
        failures=tuple(failures),
        outages=tuple(outages),
        recovery=recovery,
        rebalancing=rebalancing,
        work_stealing=resolve_work_stealing(file.work_stealing),
    )
    check_joins(problems, scenario)
    check_streaming(problems, scenario)
    problems.raise_if_any(ScenarioError)
    return scenario


def load_scenario(path: str | Path, overrides: Iterable[str] | Mapping[str, Any] = (),
                  policy: str | None = None) -> Scenario:
    """Read a TOML scenario file, apply dotted-path overrides, validate, and return a `Scenario`.

    Args:
        path: The scenario file, or the name of a shipped one.
        overrides: `"dotted.key=value"` strings (value parsed as TOML, else a string) or a mapping of dotted
            keys to values.
        policy: Use this policy instead of the file's; the file's policy parameters are dropped when the name
            changes (they belong to the other policy), and overrides apply after.

    Raises:
        ScenarioError: Listing every problem found, each naming file, field and what is allowed.
    """
    path = find_scenario(path)
    try:
        raw = read_toml(path, "scenario file")
    except UserInputError as error:
        raise ScenarioError(error.problems) from None
    if policy is not None:
        policy_table = dict(raw.get("policy", {})) if isinstance(raw.get("policy", {}), dict) else {}
        if policy_table.get("name", "least_loaded") != policy:
            policy_table.pop("params", None)
        raw["policy"] = {**policy_table, "name": policy}
    raw = apply_overrides(raw, overrides, source=str(path))
    return parse_scenario(raw, source=str(path), base_dir=path.parent)
