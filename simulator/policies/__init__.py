"""Allocation policies: importing this package registers every built-in policy (plug-ins: `simulator.plugins`)."""

from simulator.policies import batch, dag, greedy, packing
from simulator.policies.base import (
    BATCH,
    IMMEDIATE,
    MODES,
    POLICIES,
    POLICY_REGISTRY,
    Policy,
    SystemView,
    TaskView,
    check_policy_params,
    make_policy,
    policy_class,
    policy_names,
    register_policy,
)

__all__ = [
    "BATCH",
    "IMMEDIATE",
    "MODES",
    "POLICIES",
    "POLICY_REGISTRY",
    "Policy",
    "SystemView",
    "TaskView",
    "batch",
    "check_policy_params",
    "dag",
    "greedy",
    "make_policy",
    "packing",
    "policy_class",
    "policy_names",
    "register_policy",
]
