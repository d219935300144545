"""Dispatch in a farm of M/M/1 servers against queueing theory.

References: random splitting of a Poisson stream gives independent M/M/1 queues (Kleinrock, Queueing Systems
Vol. 1, 1975); the power of two choices in the mean-field limit (Mitzenmacher, IEEE TPDS 12(10), 2001;
Vvedenskaya, Dobrushin & Karpelevich, Problems of Information Transmission 32, 1996):
W_d = sum_{i>=1} rho^((d^i - d)/(d - 1)).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCENARIOS

from simulator import load_scenario, run

pytestmark = pytest.mark.validation

FARM = SCENARIOS / "validation" / "farm_mm1.toml"
RHO = 0.9


def mean_field_power_of_d(rho: float, d: int) -> float:
    return sum(rho ** ((d**i - d) / (d - 1)) for i in range(1, 60))


def mean_response(policy: str, seeds: range, **params) -> float:
    scenario = load_scenario(FARM, ["simulation.max_jobs=60000"])
    return float(np.mean([run(scenario, policy=policy, seed=seed, params=params).summary["response_time_mean_s"]
                          for seed in seeds]))


def test_random_dispatch_gives_independent_mm1_queues():
    """W = 1 / (mu - lambda/N) = 10 s; tolerance 8% (M/M/1 at rho 0.9 is noisy; 2 x 60,000 jobs)."""
    assert mean_response("random", range(2)) == pytest.approx(1 / (1 - RHO), rel=0.08)


def test_power_of_two_choices_matches_mean_field_and_jsq_beats_it():
    """Power of two: within 10% of the mean-field value 2.614 s (finite N = 50 sits slightly above the limit);
    JSQ is better still, and both are far better than random (10 s), as the theory predicts."""
    power_of_two = mean_response("power_of_d", range(2), d=2)
    expected = mean_field_power_of_d(RHO, 2)
    assert expected == pytest.approx(2.6141, abs=1e-3)
    assert power_of_two == pytest.approx(expected, rel=0.10)
    join_shortest = mean_response("least_loaded", range(2))
    assert 1.0 < join_shortest < power_of_two
    assert join_shortest < 1.5
