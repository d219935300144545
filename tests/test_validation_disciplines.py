"""Validation of the queue disciplines of simulator.disciplines against queueing theory.

The estimator and tolerance are those of test_validation_queueing.py: seeded, independent replications (seeds
1..n), the replication mean optionally adjusted by control variates with exactly known expectations
(Lavenberg & Welch 1981), and two conditions: the 99.9% t-interval contains the theoretical value AND the
relative error is below the bound each test states (several standard errors at the budgets below).

Under processor sharing and round robin a task's ``service_s`` is the span from its first service to its
finish, not its drawn size, so those tests use the utilization (expectation rho, from the busy slot intervals)
and the mean inter-arrival time as controls instead of the mean service time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import pytest
from conftest import SCENARIOS
from scipy import integrate
from test_validation_queueing import (
    assert_controls_unbiased,
    assert_matches,
    column,
    estimate,
    measure,
    mmc_response_s,
    pollaczek_khinchine_response_s,
    single_queue_parameters,
)

from simulator import Scenario, load_scenario, run

pytestmark = pytest.mark.validation

VALIDATION = SCENARIOS / "validation"
DETERMINISTIC = {"models.job.devices.server.distribution": "deterministic"}
PS_ON_MMC = {"nodes.server.queue": "ps", **DETERMINISTIC}
JOBS, REPLICATIONS = 40_000, 12
"""Budget of every replicated case: sized from the observed spread (3-4% per replication for the PS mean)."""


def scenario(name: str, overrides: Mapping[str, object] = ()) -> Scenario:  # type: ignore[assignment]
    return load_scenario(VALIDATION / f"{name}.toml", overrides={"simulation.max_jobs": JOBS, **dict(overrides)})


@functools.cache
def replications(name: str, overrides: tuple[tuple[str, object], ...] = ()) -> tuple[dict[str, float], ...]:
    """The measurements of every replication of a validation scenario with overrides, computed once."""
    spec = scenario(name, dict(overrides))
    return tuple(measure(run(spec, seed=seed)) for seed in range(1, REPLICATIONS + 1))


def ps_mean_response(name: str, overrides: Mapping[str, object], label: str, theory: float, rho: float,
                     rate: float, bound: float) -> None:
    """Check the mean response of a shared-node run against ``theory`` with utilization and inter-arrival
    controls (each control's own mean checked first)."""
    samples = replications(name, tuple(overrides.items()))
    expectations = {"utilization:server": rho, "interarrival_s": 1 / rate}
    assert_controls_unbiased(label, samples, expectations)
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches(f"{label} mean response (s)", result, theory, bound)


@pytest.mark.parametrize("overrides", [{}, DETERMINISTIC], ids=["exponential", "deterministic"])
def test_mg1_ps_mean_response_is_insensitive(overrides: Mapping[str, object]) -> None:
    """M/G/1-PS (mg1_ps.toml, rho = 0.7): T = E[S] / (1 - rho) = 3.333 s with exponential and with deterministic
    service of the same mean (under FIFO these differ: 3.333 s and 2.167 s).

    Reference: Kleinrock, Queueing Systems Vol. 2 (1976), section 4.4; Harchol-Balter, Performance Modeling and
    Design of Computer Systems (2013), chapter 22. Controls: utilization and inter-arrival time. Tolerance:
    99.9% t-interval and 4% relative error.
    """
    spec = scenario("mg1_ps", overrides)
    rate, mean_s, _, slots = single_queue_parameters(spec)
    assert slots == 1 and spec.nodes[0].queue == "ps"
    theory = mean_s / (1 - rate * mean_s)
    assert theory == pytest.approx(10 / 3)
    ps_mean_response("mg1_ps", overrides, f"M/G/1-PS {spec.models['job'].devices['server'].distribution}",
                     theory, rate * mean_s, rate, 0.04)


def test_multi_slot_ps_matches_mmc_for_deterministic_service() -> None:
    """c = 4 slots shared egalitarian (each of n tasks at rate min(1, c/n)) with deterministic service, on
    mmc.toml (rho = 0.8): T = 1.7455 s, the M/M/4 value of Erlang C.

    Reference: this node is a symmetric queue with total service rate min(n, c) (Kelly, Reversibility and
    Stochastic Networks, 1979, section 3.3): its number in system has the M/M/c distribution for any service
    distribution of the same mean (insensitivity), so its mean response is M/M/c's by Little's law. Controls:
    utilization (its expectation is rho) and inter-arrival time. Tolerance: 99.9% t-interval and 4%.
    """
    spec = scenario("mmc", PS_ON_MMC)
    rate, mean_s, _, slots = single_queue_parameters(spec)
    theory = mmc_response_s(rate, 1 / mean_s, slots)
    assert theory == pytest.approx(1.7455, abs=5e-5)
    ps_mean_response("mmc", PS_ON_MMC, "M/D/4-PS", theory, rate * mean_s / slots, rate, 0.04)


def phipps_sjf_response_s(rate: float, mean_s: float) -> float:
    """Mean response time of M/M/1 under non-preemptive shortest job first by known size, integrated numerically.

    A job of size x waits ``W(x) = W0 / ((1 - rho(x-)) (1 - rho(x)))`` with ``W0 = lambda E[S^2] / 2`` and
    ``rho(x) = lambda * integral_0^x t dF(t)`` (Phipps, "Machine repair as a priority waiting-line problem",
    Operations Research 4, 1956; Kleinrock, Queueing Systems Vol. 2, 1976, section 3.7); for a continuous
    size distribution rho(x-) = rho(x). Here F is exponential with mean ``mean_s``.
    """
    mu = 1 / mean_s
    w0 = rate * 2 * mean_s**2 / 2

    def rho(x: float) -> float:
        return rate * mean_s * (1 - math.exp(-mu * x) * (1 + mu * x))

    waiting, _ = integrate.quad(lambda x: w0 / (1 - rho(x)) ** 2 * mu * math.exp(-mu * x), 0, math.inf)
    return mean_s + waiting


def test_phipps_reference_values() -> None:
    """The integral itself: at low load SJF tends to FIFO (Pollaczek-Khinchine), and at rho = 0.7 it is below."""
    assert phipps_sjf_response_s(0.01, 1.0) == pytest.approx(pollaczek_khinchine_response_s(0.01, 1.0, 2.0),
                                                             rel=1e-4)
    assert phipps_sjf_response_s(0.7, 1.0) == pytest.approx(2.3122, abs=1e-4)
    assert phipps_sjf_response_s(0.7, 1.0) < pollaczek_khinchine_response_s(0.7, 1.0, 2.0)


def test_mg1_sjf_by_drawn_size_matches_phipps() -> None:
    """M/M/1 non-preemptive SJF by drawn size (mg1_sjf.toml, rho = 0.7): T = 2.3122 s by Phipps' per-size
    waiting time integrated over the size distribution (scipy.integrate.quad), against 3.333 s for FIFO.

    Reference: Phipps, Operations Research 4 (1956); Kleinrock, Queueing Systems Vol. 2 (1976), section 3.7.
    Controls: mean service time (a task's service is its drawn size here) and inter-arrival time. Tolerance:
    99.9% t-interval and 4% relative error.
    """
    spec = scenario("mg1_sjf")
    rate, mean_s, _, _ = single_queue_parameters(spec)
    assert spec.nodes[0].sjf_by == "drawn"
    theory = phipps_sjf_response_s(rate, mean_s)
    samples = replications("mg1_sjf")
    expectations = {"service_s": mean_s, "interarrival_s": 1 / rate}
    assert_controls_unbiased("M/M/1-SJF", samples, expectations)
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("M/M/1-SJF mean response (s)", result, theory, 0.04)


def test_round_robin_with_a_small_quantum_approaches_ps() -> None:
    """Round robin with quantum 0.05 s on mg1_ps.toml with deterministic 1 s service: T approaches the PS value
    E[S] / (1 - rho) = 3.333 s (a quantum tending to 0 is processor sharing: Kleinrock, Queueing Systems Vol. 2,
    1976, section 4.4), far from the FIFO value 2.167 s that the same service gets without preemption.

    Controls: utilization and inter-arrival time; 8 replications of 20,000 jobs (20 events per job). Tolerance:
    99.9% t-interval and 5% relative error (the quantum leaves a small bias towards FIFO).
    """
    overrides = {**DETERMINISTIC, "nodes.server.queue": "rr", "nodes.server.quantum_s": 0.05,
                 "simulation.max_jobs": 20_000}
    spec = scenario("mg1_ps", overrides)
    rate, mean_s, _, _ = single_queue_parameters(spec)
    samples = [measure(run(spec, seed=seed)) for seed in range(1, 9)]
    expectations = {"utilization:server": rate * mean_s, "interarrival_s": 1 / rate}
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("RR quantum 0.05 s mean response (s)", result, mean_s / (1 - rate * mean_s), 0.05)
    fifo = pollaczek_khinchine_response_s(rate, mean_s, mean_s**2)
    assert fifo < result.value - result.half_width, f"RR is indistinguishable from FIFO ({fifo:.4g} s)"


def test_round_robin_with_a_quantum_longer_than_every_task_is_fifo() -> None:
    """A quantum of 2 s with deterministic 1 s service never preempts: every job finishes exactly as under
    FIFO with the same seed."""
    base = {**DETERMINISTIC, "simulation.max_jobs": 2000}
    fifo = run(scenario("mg1_ps", {**base, "nodes.server.queue": "fifo"}), seed=3).jobs
    rr = run(scenario("mg1_ps", {**base, "nodes.server.queue": "rr", "nodes.server.quantum_s": 2.0}), seed=3).jobs
    assert rr["finish_s"].to_numpy() == pytest.approx(fifo["finish_s"].to_numpy(), rel=1e-12)


def test_wfq_shares_of_two_saturated_applications_follow_their_weights() -> None:
    """Two applications each offering load 1 to one node (wfq_shares.toml, weights 1 and 3): both stay
    backlogged, so the node's work divides 1 : 3 between them.

    Reference: Demers, Keshav and Shenker, "Analysis and simulation of a fair queueing algorithm", SIGCOMM 1989
    (a backlogged flow of weight w gets w / sum(w) of the capacity). Measured: each application's share of the
    service time of the tasks finished after warm-up, over 6 replications. Tolerance: 99.9% t-interval and 3%.
    """
    spec = load_scenario(VALIDATION / "wfq_shares.toml")
    weights = {name: application.weight for name, application in spec.applications.items()}
    assert weights == {"light": 1.0, "heavy": 3.0}
    shares: dict[str, list[float]] = {name: [] for name in weights}
    for seed in range(1, 7):
        result = run(spec, seed=seed)
        tasks = result.tasks[result.tasks["finish_s"] >= spec.simulation.warmup_s]
        work = tasks.groupby("application", observed=True)["service_s"].sum()
        assert result.summary["utilization_mean"] == pytest.approx(1.0, abs=1e-3)
        for name in weights:
            shares[name].append(float(work[name] / work.sum()))
    for name, weight in weights.items():
        assert_matches(f"WFQ share of {name}", estimate(shares[name]), weight / sum(weights.values()), 0.03)


def test_wfq_scenario_keeps_both_applications_backlogged() -> None:
    """The premise of the share test: each application offers more work than its weighted share of the node."""
    spec = load_scenario(VALIDATION / "wfq_shares.toml")
    mean_s = spec.models["job"].devices["server"].mean_s
    total_weight = sum(application.weight for application in spec.applications.values())
    for arrival in spec.arrivals:
        share = spec.applications[arrival.application].weight / total_weight
        assert arrival.params["rate_per_s"] * mean_s > share
