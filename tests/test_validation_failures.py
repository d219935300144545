"""Validation of node failures, repairs and preemptive-resume recovery against reliability and queueing theory.

The formulas are in ``tests/dynamics_theory.py`` with their references and derivations. Each is first checked
against an independent sample-path model of the same server (plain numpy, nothing from ``simulator``), then the
simulator is checked against the formula on the scenarios of ``scenarios/validation/``:

* ``availability.toml``: the node table's availability and observed MTTR of nodes with Weibull failures and
  lognormal repairs, against MTBF / (MTBF + MTTR) and the repair distribution's mean;
* ``mm1_breakdowns_busy.toml``: M/M/1 whose server fails only while busy (deterministic repairs, resume, and
  restart by override): the first two moments of a job's completion time (first start to finish), the mean
  response time and the availability, against Gaver (1962), Pollaczek-Khinchine and renewal-reward;
* ``mm1_breakdowns_wall.toml``: the same queue failing in wall time (exponential repairs): the same quantities,
  against the M/G/1 with exceptional first service (Welch 1964; Avi-Itzhak & Naor 1963), and the server's
  availability against MTBF / (MTBF + MTTR).

The estimator and tolerance are those of ``test_validation_queueing.py``: replications with seeds 1..n, a
99.9% t-interval (with control variates of known expectation where they help) that must contain the theory,
and a relative-error bound several standard errors wide. The runs end at the scenario's horizon, overridden
to the replication budget; jobs arriving before the warm-up or in the last ``MARGIN_S`` before the horizon
are left out, and every measured job must have finished.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dynamics_theory import (
    Moments,
    alternating_renewal_availability,
    busy_clock_availability,
    busy_clock_breakdowns_response_s,
    deterministic_draws,
    deterministic_moments,
    exponential_draws,
    exponential_moments,
    interrupted_completion_moments,
    model_replications,
    wall_clock_breakdowns_response_s,
)
from test_validation_queueing import Estimate, assert_controls_unbiased, assert_matches, column, estimate

from simulator import Scenario, load_scenario, run
from simulator.config.schema import MAX_RETRIES
from simulator.config.specs import DurationSpec
from simulator.simulation import RunResult

pytestmark = pytest.mark.validation

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios" / "validation"
MARGIN_S = 500.0
"""Jobs arriving this close to the horizon are not measured (they might not finish: a truncation bias)."""

RESTART = {"recovery.on_failure": "restart", "recovery.max_retries": MAX_RETRIES}
"""Preemptive-repeat with a new draw, never failing a job for its retries."""

# The queue cases: (scenario file, overrides, horizon in seconds, replications). Replication budgets are sized
# from the observed spread so that each relative-error bound is several standard errors wide.
QUEUE_CASES: dict[str, tuple[str, dict[str, Any], float, int]] = {
    "busy clock, resume": ("mm1_breakdowns_busy", {}, 80_000.0, 12),
    "busy clock, restart": ("mm1_breakdowns_busy", RESTART, 80_000.0, 8),
    "wall clock, resume": ("mm1_breakdowns_wall", {}, 80_000.0, 12),
}
AVAILABILITY_BUDGET = (40_000.0, 3)
"""availability.toml: (horizon in seconds, replications); each replication gives one sample per node."""


# ----------------------------------------------------------------------------------------------------------
# The scenarios' parameters


def scenario(name: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.toml", overrides=dict(overrides or {}))


def duration_moments(spec: DurationSpec) -> Moments:
    """The two moments of an exponential or deterministic duration (the only ones the queue scenarios use)."""
    moments = {"exponential": exponential_moments, "deterministic": deterministic_moments}
    assert spec.distribution in moments, spec
    return moments[spec.distribution](spec.mean_s)


def breakdown_queue_parameters(spec: Scenario) -> tuple[float, Moments, float, DurationSpec, str]:
    """(lambda, service moments, failure rate nu, repair distribution, clock) of a one-server breakdown queue."""
    (arrival,) = spec.arrivals
    (node,) = spec.nodes
    (model,) = spec.models.values()
    (process,) = spec.failures
    service = model.devices[node.kind]
    assert (node.slots, service.distribution, process.nodes) == (1, "exponential", (node.name,))
    assert process.time_to_failure.distribution == "exponential"
    return (arrival.params["rate_per_s"], exponential_moments(service.mean_s), 1 / process.time_to_failure.mean_s,
            process.time_to_repair, process.clock)


# ----------------------------------------------------------------------------------------------------------
# Replications of the simulator


def measure_queue(result: RunResult) -> dict[str, float]:
    """Per run: mean response, completion (a job's first start to its finish, i.e. response minus wait) and its
    square, service (its attempts' service times summed: the work it needed) of the measured jobs, the mean
    inter-arrival time, and the server's availability from the node table."""
    simulation = result.scenario.simulation
    assert simulation.horizon_s is not None
    jobs = result.jobs
    measured = jobs[(jobs["arrival_s"] >= simulation.warmup_s) & (jobs["arrival_s"] < simulation.horizon_s - MARGIN_S)]
    assert (measured["state"] == "finished").all(), "a measured job did not finish before the horizon"
    tasks = result.tasks[result.tasks["job_id"].isin(measured["job_id"])]
    per_job = tasks.groupby("job_id").agg(first_start_s=("start_s", "min"), finish_s=("finish_s", "max"),
                                          service_s=("service_s", "sum"))
    completion = per_job["finish_s"] - per_job["first_start_s"]
    (availability,) = result.nodes["availability"]
    return {"response_s": float(measured["response_s"].mean()),
            "completion_s": float(completion.mean()),
            "completion_squared_s2": float((completion**2).mean()),
            "service_s": float(per_job["service_s"].mean()),
            "interarrival_s": float(np.diff(np.sort(measured["arrival_s"].to_numpy())).mean()),
            "availability": float(availability)}


def queue_case(name: str) -> Scenario:
    """The scenario of a queue case at its replication horizon."""
    file, overrides, horizon_s, _ = QUEUE_CASES[name]
    return scenario(file, {**overrides, "simulation.horizon_s": horizon_s})


@functools.cache
def queue_replications(name: str) -> tuple[dict[str, float], ...]:
    spec = queue_case(name)
    return tuple(measure_queue(run(spec, seed=seed)) for seed in range(1, QUEUE_CASES[name][3] + 1))


def check_breakdown_queue(name: str, theory_response_s: float, completion: Moments, availability: float,
                          relative_bound: float) -> Estimate:
    """The simulated completion moments, response mean and availability of a queue case match the theory
    (controls: mean service and inter-arrival time, whose own means are checked first); returns the response
    estimate."""
    rate, service, *_ = breakdown_queue_parameters(queue_case(name))
    samples = queue_replications(name)
    expectations = {"service_s": service.mean_s, "interarrival_s": 1 / rate}
    assert_controls_unbiased(name, samples, expectations)
    controls = ([column(samples, key) for key in expectations], list(expectations.values()))
    assert_matches(f"{name} mean completion time E[C] (s)", estimate(column(samples, "completion_s"), *controls),
                   completion.mean_s, 0.02)
    assert_matches(f"{name} completion time second moment E[C^2] (s^2)",
                   estimate(column(samples, "completion_squared_s2"), *controls), completion.second_s2, 0.04)
    assert_matches(f"{name} server availability", estimate(column(samples, "availability")), availability, 0.02)
    response = estimate(column(samples, "response_s"), *controls)
    assert_matches(f"{name} mean response time (s)", response, theory_response_s, relative_bound)
    return response


# ----------------------------------------------------------------------------------------------------------
# The theory against its independent model (quick versions of experiments/validation/failures_theory_check.py)


def model_check(label: str, samples: Sequence[dict[str, float]], key: str, theory: float) -> None:
    assert_matches(f"independent model, {label}", estimate([sample[key] for sample in samples]), theory, 0.03)


def test_busy_clock_theory_matches_independent_model() -> None:
    """Gaver's completion-time moments and the M/G/1 response time (Gaver 1962; Avi-Itzhak & Naor 1963;
    Pollaczek-Khinchine) and the availability 1 - lambda E[S] nu E[R] (renewal-reward) with the parameters of
    mm1_breakdowns_busy.toml, against the sample-path model of
    ``dynamics_theory.busy_clock_sample_path``: 99.9% t-interval over 10 replications of 200000 jobs, 3%."""
    rate, service, nu, repair, clock = breakdown_queue_parameters(scenario("mm1_breakdowns_busy"))
    assert (clock, repair.distribution) == ("busy", "deterministic")
    completion = interrupted_completion_moments(service, nu, duration_moments(repair))
    samples = model_replications("busy", rate, lambda rng: exponential_draws(rng, service.mean_s), nu,
                                 lambda rng: deterministic_draws(repair.mean_s), 200_000, 10)
    model_check("busy clock E[C] (s)", samples, "completion_s", completion.mean_s)
    model_check("busy clock E[C^2] (s^2)", samples, "completion_squared_s2", completion.second_s2)
    model_check("busy clock mean response (s)", samples, "response_s",
                busy_clock_breakdowns_response_s(rate, service, nu, duration_moments(repair)))
    model_check("busy clock availability", samples, "up_fraction",
                busy_clock_availability(rate, service.mean_s, nu, repair.mean_s))


def test_wall_clock_theory_matches_independent_model() -> None:
    """The wall-clock breakdown queue as M/G/1 with exceptional first service (Welch 1964; Avi-Itzhak & Naor
    1963) and the availability MTBF / (MTBF + MTTR), with the parameters of mm1_breakdowns_wall.toml, against
    the sample-path model of ``dynamics_theory.wall_clock_sample_path``: 99.9% t-interval over 10 replications
    of 60000 jobs, 3%. The busy-clock formula must fall outside the interval (failures while idle matter)."""
    rate, service, nu, repair, clock = breakdown_queue_parameters(scenario("mm1_breakdowns_wall"))
    assert (clock, repair.distribution) == ("wall", "exponential")
    samples = model_replications("wall", rate, lambda rng: exponential_draws(rng, service.mean_s), nu,
                                 lambda rng: exponential_draws(rng, repair.mean_s), 200_000, 10)
    completion = interrupted_completion_moments(service, nu, duration_moments(repair))
    model_check("wall clock E[C] (s)", samples, "completion_s", completion.mean_s)
    model_check("wall clock E[C^2] (s^2)", samples, "completion_squared_s2", completion.second_s2)
    theory = wall_clock_breakdowns_response_s(rate, service, nu, repair.mean_s)
    model_check("wall clock mean response (s)", samples, "response_s", theory)
    model_check("wall clock availability", samples, "up_fraction",
                alternating_renewal_availability(1 / nu, repair.mean_s))
    response = estimate(column(samples, "response_s"))
    busy_formula = busy_clock_breakdowns_response_s(rate, service, nu, duration_moments(repair))
    assert abs(response.value - busy_formula) > 3 * response.half_width, (response, busy_formula)


# ----------------------------------------------------------------------------------------------------------
# The simulator against the theory


def test_node_availability_matches_alternating_renewal() -> None:
    """Each node of availability.toml (independent Weibull failures, lognormal repairs, wall clock) is up a
    fraction MTBF / (MTBF + MTTR) = 0.8186 of the run, and its observed mean repair time is the MTTR, 20 s.

    Reference: the alternating renewal process (Ross, Stochastic Processes, 2nd ed., 1996, theorem 3.4.4;
    Barlow & Proschan, Mathematical Theory of Reliability, 1965). Samples: the node table's ``availability``
    and ``mttr_s`` of every node (independent failure streams) of 3 replications. Tolerance: 99.9%
    t-interval, and 1% (availability) and 3% (MTTR) relative error. The start of a run in the up state
    biases a node's up fraction by about 0.04% at this horizon (the independent model), far inside both.
    """
    horizon_s, n_replications = AVAILABILITY_BUDGET
    spec = scenario("availability", {"simulation.horizon_s": horizon_s})
    (first, *others) = spec.failures
    assert len(spec.failures) == len(spec.nodes) == 8
    assert all((p.time_to_failure, p.time_to_repair, p.clock) == (first.time_to_failure, first.time_to_repair,
                                                                   "wall") for p in others)
    mtbf_s, mttr_s = first.time_to_failure.mean_s, first.time_to_repair.mean_s
    theory = alternating_renewal_availability(mtbf_s, mttr_s)
    assert theory == pytest.approx(0.818634, abs=1e-6)
    tables = [run(spec, seed=seed).nodes for seed in range(1, n_replications + 1)]
    nodes = pd.concat(tables, ignore_index=True)
    assert_matches("node availability", estimate(nodes["availability"].tolist()), theory, 0.01)
    assert_matches("node observed MTTR (s)", estimate(nodes["mttr_s"].tolist()), mttr_s, 0.03)


@pytest.mark.parametrize(("case", "on_failure"), [("busy clock, resume", "resume"),
                                                  ("busy clock, restart", "restart")])
def test_busy_clock_breakdowns_match_gaver_and_pollaczek_khinchine(case: str, on_failure: str) -> None:
    """M/M/1 whose server fails only while busy, deterministic repairs (mm1_breakdowns_busy.toml):
    E[C] = E[S] (1 + nu E[R]) = 1.2 s and W = 3.25 s, under preemptive-resume and, with the override
    ``recovery.on_failure = "restart"``, under preemptive-repeat with a new draw: for exponential service the
    two give the same completion time (the remaining service is exponential again after each failure).

    Reference: Gaver, "A waiting line with interrupted service, including priorities", JRSS B 24 (1962), who
    treats both disciplines; Avi-Itzhak & Naor, "Some queuing problems with the service station subject to
    breakdown", Operations Research 11 (1963); Pollaczek-Khinchine for M/G/1 with service C (Kleinrock Vol. 1,
    1975, chapter 5). E[C] is a job's first start to its finish. The server is up a fraction
    1 - lambda E[S] nu E[R] = 0.9 of the time (renewal-reward: Ross, Stochastic Processes, 1996, theorem
    3.6.1). Controls: mean service (the attempts' service summed: exponential again under restart) and
    inter-arrival time. Tolerance: 99.9% t-interval, and 2% (E[C], availability) and 4% (E[C^2]) relative
    error; W 4% (resume, 12 replications) and 5% (restart, 8).
    """
    spec = queue_case(case)
    assert spec.recovery.on_failure == on_failure
    rate, service, nu, repair, clock = breakdown_queue_parameters(spec)
    assert clock == "busy"
    completion = interrupted_completion_moments(service, nu, duration_moments(repair))
    theory = busy_clock_breakdowns_response_s(rate, service, nu, duration_moments(repair))
    availability = busy_clock_availability(rate, service.mean_s, nu, repair.mean_s)
    assert (completion.mean_s, completion.second_s2, theory, availability) == pytest.approx((1.2, 3.28, 3.25, 0.9))
    check_breakdown_queue(case, theory, completion, availability, 0.04 if on_failure == "resume" else 0.05)


def test_wall_clock_breakdowns_match_exceptional_first_service() -> None:
    """M/M/1 whose server fails in wall time, exponential repairs, preemptive-resume (mm1_breakdowns_wall.toml):
    E[C] = 1.3 s, W = 5.6923 s (the busy-clock formula would give 5 s), availability 10 / 13.

    Reference: Avi-Itzhak & Naor (1963), breakdowns independent of the load; Welch, "On a generalized M/G/1
    queuing process in which the first customer of each busy period receives exceptional service", Operations
    Research 12 (1964); Takagi, Queueing Analysis Vol. 1 (1991), section 2.3 (derivation in
    ``dynamics_theory.wall_clock_breakdowns_response_s``); Ross (1996) for the availability. Controls: mean
    service and inter-arrival time. Tolerance: 99.9% t-interval, and 2% (E[C], availability), 4% (E[C^2]) and
    5% (W) relative error; the busy-clock formula must lie outside the interval of W.
    """
    spec = queue_case("wall clock, resume")
    assert spec.recovery.on_failure == "resume"
    rate, service, nu, repair, clock = breakdown_queue_parameters(spec)
    assert clock == "wall"
    completion = interrupted_completion_moments(service, nu, duration_moments(repair))
    theory = wall_clock_breakdowns_response_s(rate, service, nu, repair.mean_s)
    availability = alternating_renewal_availability(1 / nu, repair.mean_s)
    assert (completion.mean_s, theory, availability) == pytest.approx((1.3, 5.692308, 10 / 13), abs=1e-6)
    response = check_breakdown_queue("wall clock, resume", theory, completion, availability, 0.05)
    busy_formula = busy_clock_breakdowns_response_s(rate, service, nu, duration_moments(repair))
    assert abs(response.value - busy_formula) > response.half_width, "failures while idle left no trace"
