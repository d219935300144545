"""Configuration: the scenario file format (pydantic schema and its JSON Schema), loading TOML and dotted-path
overrides (shared with experiment files), resolution into the frozen objects the simulator runs, and the
semantic checks; every problem is reported at once, naming the file, the dotted field and what is allowed.

Modules: `schema` (the file format), `values` (checkers of single values), `problems` (the error collector),
`loading` (files and overrides), `resolve` (groups, profiles, traces), `resolve_dynamics` (failures, outages,
recovery, rebalancing, work stealing), `checks` (whole-scenario checks), `specs` (the resolved objects),
`network_spec` (the network description), `scenario_file` (the pipeline from path to `Scenario`), `json_schema`
(the schema for editors).
"""

from simulator.config.loading import (
    BUNDLED_SCENARIOS,
    apply_overrides,
    bundled_scenario_names,
    find_scenario,
    lookup,
    parse_override,
    read_toml,
)
from simulator.config.network_spec import (
    DUPLEX_MODES,
    SHARING_MODELS,
    CompressionSpec,
    LinkSpec,
    NetworkSpec,
    ProtocolSpec,
)
from simulator.config.problems import Problems
from simulator.config.scenario_file import load_scenario, parse_scenario
from simulator.config.schema import (
    ARRIVAL_PROCESSES,
    DISTRIBUTIONS,
    EMPIRICAL,
    MAX_SEED,
    QUEUE_DISCIPLINES,
)
from simulator.config.specs import (
    ApplicationSpec,
    ArrivalSpec,
    DurationSpec,
    FailureProcessSpec,
    ModelSpec,
    NodeSpec,
    OutageSpec,
    PolicySpec,
    ProfileBinding,
    RebalancingSpec,
    RecoverySpec,
    Scenario,
    ServiceSpec,
    SimulationSpec,
    StageSpec,
    VariantSpec,
    WorkStealingSpec,
    eligible_nodes,
    memory_limits_residency,
    runs_on,
)

__all__ = [
    "ARRIVAL_PROCESSES",
    "BUNDLED_SCENARIOS",
    "DISTRIBUTIONS",
    "DUPLEX_MODES",
    "EMPIRICAL",
    "MAX_SEED",
    "QUEUE_DISCIPLINES",
    "SHARING_MODELS",
    "ApplicationSpec",
    "ArrivalSpec",
    "CompressionSpec",
    "DurationSpec",
    "FailureProcessSpec",
    "LinkSpec",
    "ModelSpec",
    "NetworkSpec",
    "NodeSpec",
    "OutageSpec",
    "PolicySpec",
    "Problems",
    "ProfileBinding",
    "ProtocolSpec",
    "RebalancingSpec",
    "RecoverySpec",
    "Scenario",
    "ServiceSpec",
    "SimulationSpec",
    "StageSpec",
    "VariantSpec",
    "WorkStealingSpec",
    "apply_overrides",
    "bundled_scenario_names",
    "eligible_nodes",
    "find_scenario",
    "load_scenario",
    "lookup",
    "memory_limits_residency",
    "parse_override",
    "parse_scenario",
    "read_toml",
    "runs_on",
]
