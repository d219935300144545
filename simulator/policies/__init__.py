"""Allocation policies: importing this package registers every built-in policy (plug-ins: `simulator.plugins`)."""

from simulator.policies import batch, dag, greedy, learned, packing
from simulator.policies.base import (
    BATCH,
    IMMEDIATE,
    MODES,
    POLICIES,
    POLICY_REGISTRY,
    Policy,
    SystemView,
    TaskView,
    absolute_path_params,
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
    "absolute_path_params",
    "batch",
    "check_policy_params",
    "dag",
    "greedy",
    "learned",
    "make_policy",
    "packing",
    "policy_class",
    "policy_names",
    "register_policy",
]
