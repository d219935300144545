"""Validation of clairvoyant task sizes (`simulator.sizes`) against queueing theory.

* Least work left with known sizes on c identical one-slot servers places each job where one central first-come-
  first-served queue would start it (the server that clears its work first), so the system is an M/M/c queue:
  its mean response time must match Erlang C.
* Knowing sizes must not change their law: an M/G/1 queue with heavy-tailed (Pareto) sizes drawn at release must
  match Pollaczek-Khinchine, as the same queue without clairvoyance does.

Estimator and tolerance as in tests/test_validation_queueing.py (replication means with control variates, 99.9%
t-interval and a relative-error bound).
"""

from __future__ import annotations

import functools

import pytest
from conftest import SCENARIOS
from test_validation_queueing import (
    assert_controls_unbiased,
    assert_matches,
    column,
    estimate,
    measure,
    mmc_response_s,
    pollaczek_khinchine_response_s,
)
from test_validation_service_distributions import pareto_moments

from simulator import Scenario, load_scenario, run

pytestmark = pytest.mark.validation

VALIDATION = SCENARIOS / "validation"
CLAIRVOYANT = {"policy.clairvoyant": True}
LEAST_WORK_LEFT_ON_FOUR_SERVERS = {**CLAIRVOYANT, "policy.name": "least_work_left", "nodes.server.count": 4,
                                   "nodes.server.slots": 1}
BUDGETS = {"mmc": (40_000, 12), "mg1_pareto": (30_000, 12)}
"""(jobs per replication, replications) per scenario: those of the same scenarios without clairvoyance."""


def scenario(name: str, overrides: dict[str, object]) -> Scenario:
    return load_scenario(VALIDATION / f"{name}.toml", overrides={"simulation.max_jobs": BUDGETS[name][0],
                                                                  **overrides})


@functools.cache
def replications(name: str, overrides: tuple[tuple[str, object], ...]) -> tuple[dict[str, float], ...]:
    """The measurements of every replication (seeds 1..n), computed once."""
    spec = scenario(name, dict(overrides))
    return tuple(measure(run(spec, seed=seed)) for seed in range(1, BUDGETS[name][1] + 1))


def test_least_work_left_with_known_sizes_is_an_mmc_queue():
    """Four one-slot servers, Poisson arrivals (3.2/s), exponential sizes of mean 1 s, clairvoyant least work
    left (mmc.toml split into four nodes): W = 1.7455 s, the M/M/4 value of Erlang C.

    Reference: Kleinrock, Queueing Systems Vol. 1 (1975), section 3.5 (Erlang C); Harchol-Balter, Performance
    Modeling and Design of Computer Systems (2013), section 24.2 (least-work-left dispatching with known sizes is
    equivalent to a central FCFS queue). Controls: mean service and inter-arrival times. Tolerance: 99.9%
    t-interval and 3% relative error.
    """
    spec = scenario("mmc", LEAST_WORK_LEFT_ON_FOUR_SERVERS)
    assert [node.slots for node in spec.nodes] == [1, 1, 1, 1] and spec.policy.clairvoyant
    (arrival,) = spec.arrivals
    rate, mean_s = arrival.params["rate_per_s"], spec.models["job"].devices["server"].mean_s
    theory = mmc_response_s(rate, 1 / mean_s, len(spec.nodes))
    assert theory == pytest.approx(1.7455, abs=5e-5)
    samples = replications("mmc", tuple(LEAST_WORK_LEFT_ON_FOUR_SERVERS.items()))
    expectations = {"service_s": mean_s, "interarrival_s": 1 / rate}
    assert_controls_unbiased("clairvoyant LWL M/M/4", samples, expectations)
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("clairvoyant least-work-left M/M/4 mean response (s)", result, theory, 0.03)


def test_least_loaded_without_sizes_is_not_an_mmc_queue():
    """The same four servers under join-the-shortest-queue, which does not know sizes, wait longer than the
    central queue (so the test above tells the two apart). Reference: Harchol-Balter (2013), chapter 24."""
    overrides = {**LEAST_WORK_LEFT_ON_FOUR_SERVERS, "policy.name": "least_loaded", "policy.clairvoyant": False}
    samples = replications("mmc", tuple(overrides.items()))
    result = estimate(column(samples, "response_s"))
    assert result.value - result.half_width > 1.05 * mmc_response_s(3.2, 1.0, 4)


def test_known_pareto_sizes_keep_the_pollaczek_khinchine_response():
    """M/G/1 with classical Pareto sizes, shape 2.5 (mg1_pareto.toml, rho = 0.4), drawn at release: W = 1.6 s.

    Reference: Pollaczek-Khinchine (Kleinrock, Queueing Systems Vol. 1, 1975, chapter 5) with the Pareto's
    E[S^2] = a x_m^2 / (a - 2). Controls: mean service time, mean squared service time, mean inter-arrival time.
    Tolerance: 99.9% t-interval and 4% relative error.
    """
    spec = scenario("mg1_pareto", CLAIRVOYANT)
    assert spec.policy.clairvoyant
    (arrival,) = spec.arrivals
    service = spec.models["job"].devices["server"]
    rate = arrival.params["rate_per_s"]
    mean, second_moment = pareto_moments(service.mean_s, service.shape)
    theory = pollaczek_khinchine_response_s(rate, mean, second_moment)
    assert theory == pytest.approx(1.6)
    samples = replications("mg1_pareto", tuple(CLAIRVOYANT.items()))
    assert_controls_unbiased("clairvoyant M/G/1 pareto", samples, {"service_s": mean, "interarrival_s": 1 / rate})
    squared = estimate(column(samples, "service_squared_s2"))
    assert abs(squared.value - second_moment) <= squared.half_width, squared
    expectations = {"service_s": mean, "service_squared_s2": second_moment, "interarrival_s": 1 / rate}
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("clairvoyant M/G/1 pareto mean response (s)", result, theory, 0.04)
