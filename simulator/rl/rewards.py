"""Rewards of `AllocationEnv`: named terms, each minus the growth of a cost of the run between two decisions.

Each term is a difference of the stepped run's running totals (`simulator.stepping.RunMeter`), so over an episode
the rewards of a term add up to minus that cost of the whole run:

- ``response``: minus the integral of the number of jobs in the system; by Little's law its sum is minus the total
  time jobs spent in the system (unfinished ones up to the end), so maximising it minimises mean response time.
- ``slowdown``: minus the integral of the sum of the jobs' inverse shortest response times: its sum is minus the
  sum of the jobs' slowdowns (response time over `simulator.stepping.shortest_response_s`).
- ``slo``: minus the number of deadline misses (counted when a deadline passes with its job not complete).
- ``energy``: minus the joules all nodes drew (the scenario's power model).
- ``load_variance``: minus the integral of the variance, over the nodes, of their utilization (busy slots / slots).

A reward is one term or a weighted sum of terms (linear scalarisation: the weights are parameters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from simulator.config import Scenario
from simulator.errors import UserInputError
from simulator.stepping import RunMeter

__all__ = ["REWARD_TERMS", "meter_costs", "parse_reward", "term_units"]

REWARD_TERMS = ("response", "slowdown", "slo", "energy", "load_variance")
"""The reward terms, in the order of `meter_costs` and `term_units`."""


def parse_reward(value: str | Mapping[str, float]) -> dict[str, float]:
    """The reward ``value`` stands for, as term -> weight: a term's name (weight 1), ``"name=weight,..."``, or a
    mapping of names to weights.

    Raises:
        UserInputError: An unknown term (naming the allowed ones), a weight that is not a finite number, or no
            non-zero weight.
    """
    allowed = f"allowed terms: {', '.join(REWARD_TERMS)}"
    if isinstance(value, str):
        pairs: dict[str, object] = {}
        for part in value.split(","):
            name, separator, text = part.partition("=")
            name = name.strip()
            if name in pairs:
                raise UserInputError([f"reward term {name!r} is given twice in {value!r}"])
            pairs[name] = text.strip() if separator else 1.0
    elif isinstance(value, Mapping):
        pairs = dict(value)
    else:
        raise UserInputError([f"reward must be a term name, 'name=weight,...' or a mapping of names to weights, "
                              f"got {value!r}; {allowed}"])
    weights: dict[str, float] = {}
    for term, weight in pairs.items():
        if term not in REWARD_TERMS:
            raise UserInputError([f"unknown reward term {term!r}; {allowed}"])
        try:
            number = math.nan if isinstance(weight, bool) else float(weight)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise UserInputError([f"reward term {term!r} has weight {weight!r}; a weight must be a finite number"])
        weights[term] = number
    if not any(weights.values()):
        raise UserInputError([f"reward {value!r} has no non-zero weight; {allowed}"])
    return weights


def meter_costs(meter: RunMeter) -> np.ndarray:
    """The run's costs so far, one per term of `REWARD_TERMS` in its own unit (job-seconds, slowdowns, misses,
    joules, seconds); a term's reward between two decisions is minus the growth of its cost."""
    return np.array([meter.jobs_in_system_s, meter.slowdown_total, float(meter.deadline_misses), meter.energy_j,
                     meter.utilization_variance_s])


def term_units(scenario: Scenario, time_scale_s: float) -> np.ndarray:
    """What each term is divided by when the environment scales rewards itself (``reward_scale=None``): the time
    scale for the integrals over time, one for counts and slowdowns, and for energy what all nodes draw at full
    power over the time scale (one joule when the scenario gives no power)."""
    full_power_w = sum(node.busy_power_w for node in scenario.nodes)
    return np.array([time_scale_s, 1.0, 1.0, time_scale_s * full_power_w if full_power_w > 0 else 1.0,
                     time_scale_s])
