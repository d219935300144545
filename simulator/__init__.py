"""A discrete-event simulator (SimPy) for allocating AI-model workloads across heterogeneous nodes and networks.

Typical use::

    from simulator import load_scenario, run
    result = run(load_scenario("scenarios/demo_edge_cloud.toml"), policy="least_loaded", seed=1)
    print(result.summary["response_time_mean_s"])
"""

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from simulator.errors import ScenarioError, UnknownPolicyError, UserInputError

if TYPE_CHECKING:
    from simulator.config import Scenario, load_scenario, parse_scenario
    from simulator.policies import POLICIES, Policy, make_policy, register_policy
    from simulator.simulation import RunResult, Simulation, run
    from simulator.stepping import Decision, DecisionStepper

# Names are imported on first use, so that `python -m simulator --help` answers without loading the
# simulation, pandas or the optimisers.
_MODULES = {
    "POLICIES": "policies", "Policy": "policies", "make_policy": "policies", "register_policy": "policies",
    "Scenario": "config", "load_scenario": "config", "parse_scenario": "config",
    "RunResult": "simulation", "Simulation": "simulation", "run": "simulation",
    "Decision": "stepping", "DecisionStepper": "stepping",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(f"simulator.{module}"), name)


try:
    __version__ = version("allocsim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "POLICIES",
    "Decision",
    "DecisionStepper",
    "Policy",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "UnknownPolicyError",
    "UserInputError",
    "__version__",
    "load_scenario",
    "make_policy",
    "parse_scenario",
    "register_policy",
    "run",
]
