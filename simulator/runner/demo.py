"""The demo: a built-in experiment comparing policies on one scenario.

`demo_experiment` turns the demo's options (a scenario, ``--set`` overrides, policies, replications) into an
`ExperimentSpec` without factors, so ``python -m simulator demo`` goes through the same sweep, result store,
report and figures as an experiment file, under the same seeding rule: replication r of every policy runs
with `simulator.runner.grid.replication_seed` (the scenario's ``simulation.seed``, r), so all policies see
the same arrivals in the same replication (common random numbers).

From Python::

    from simulator.runner import demo_experiment, load_results, run_sweep, summarize
    run_sweep(demo_experiment(policies=["random", "least_loaded"]), out="results/demo")
    summary = summarize(load_results("results/demo"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.config import find_scenario, load_scenario, parse_override
from simulator.errors import UnknownPolicyError, UserInputError
from simulator.policies import policy_class
from simulator.runner.spec import ExperimentSpec, parse_experiment

__all__ = ["DEFAULT_POLICIES", "DEMO_SCENARIO", "TABLE_TITLES", "demo_experiment"]

DEMO_SCENARIO = "demo_edge_cloud"
"""The shipped scenario the demo runs by default (found by name from any directory)."""
DEFAULT_POLICIES = ("random", "round_robin", "least_loaded", "power_of_d", "min_completion_time", "heft")
TABLE_TITLES = {
    "response_time_mean_s": "resp mean (s)",
    "response_time_p95_s": "resp p95 (s)",
    "throughput_per_s": "thru (1/s)",
    "utilization_mean": "util mean",
    "slo_attainment": "SLO met",
    "energy_j": "energy (J)",
}
"""The metrics of the demo's printed table, in order, with short column titles a newcomer can read."""


def demo_experiment(scenario: str | Path = DEMO_SCENARIO, overrides: Sequence[str] = (),
                    policies: Sequence[str] = DEFAULT_POLICIES, replications: int = 3) -> ExperimentSpec:
    """The demo as an experiment named ``demo``: every policy on the scenario, ``replications`` times.

    Args:
        scenario: A scenario file, or a shipped scenario's name.
        overrides: ``dotted.key=value`` strings, as ``--set`` takes them.
        policies: Registered policy names; the scenario's own policy keeps its parameters.
        replications: Replications of every policy.

    Raises:
        UserInputError: The scenario or an override is invalid, or a policy is unknown (each problem named).
    """
    if not policies:
        raise UserInputError(["--policies must name at least one policy (see `python -m simulator policies`)"])
    problems = []
    for name in policies:
        try:
            policy_class(name)
        except UnknownPolicyError as error:
            problems += [f"--policies: {problem}" for problem in error.problems]
    if problems:
        raise UserInputError(problems)
    path = find_scenario(scenario)
    loaded = load_scenario(path, overrides)  # the file's and the overrides' problems, named as `run` names them
    entries: list[dict[str, Any]] = [
        {"name": name, "params": dict(loaded.policy.params) if name == loaded.policy.name else {}}
        for name in dict.fromkeys(policies)
    ]
    raw = {
        "experiment": {"name": "demo", "description": f"policies compared on scenario {loaded.name}",
                       "scenario": str(path.resolve()), "replications": replications,
                       "seed": loaded.simulation.seed},
        "set": dict(parse_override(text) for text in overrides),
        "policies": entries,
    }
    return parse_experiment(raw, source=f"demo of {path}", base_dir=path.parent)
