"""A discrete-event simulator (SimPy) for allocating AI-model workloads across heterogeneous nodes and networks.

Typical use::

    from simulator import load_scenario, run
    result = run(load_scenario("scenarios/demo_edge_cloud.toml"), policy="least_loaded", seed=1)
    print(result.summary["response_time_mean_s"])
"""

from importlib.metadata import PackageNotFoundError, version

from simulator.errors import ScenarioError, UnknownPolicyError, UserInputError
from simulator.policies import POLICIES, Policy, make_policy, register_policy
from simulator.scenario import Scenario, load_scenario, parse_scenario
from simulator.simulation import RunResult, Simulation, run

try:
    __version__ = version("allocsim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "POLICIES",
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
