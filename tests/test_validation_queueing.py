"""Validation of the simulator core against analytic queueing theory.

Each test runs one scenario of ``scenarios/validation/`` over seeded, independent replications (seeds 1..n)
and compares a steady-state mean with its closed form. The estimator and the tolerance are the same
everywhere:

* The point estimate is the replication mean, optionally adjusted by control variates whose expectations are
  known exactly (mean service time and mean inter-arrival time of the measured jobs, and for heavy-tailed
  service the mean squared service time): the regression estimator of Lavenberg & Welch, "A perspective on
  the use of control variables to increase the efficiency of Monte Carlo simulations", Management Science 27
  (1981); Law, Simulation Modeling and Analysis, 5th ed., 2015, section 11.4. It removes the part of the
  spread that comes from how lucky a replication's arrivals and service draws were. A control could hide a
  biased sampler, so every test also checks that each control's own mean matches its expectation.
* Tolerance: the 99.9% t-interval around the estimate (n - q - 1 degrees of freedom for q controls), whose
  width comes from the observed spread between replications, must contain the theoretical value, AND the
  relative error must be below a bound stated in each test (2-6%; a slack of several standard errors at the
  replication budgets chosen here, which were sized from the observed spread).

Jobs arriving before the scenario's ``warmup_s`` are left out (initial-transient deletion); the replication
budgets keep the module at roughly half a minute on one core.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator import Scenario, load_scenario, run
from simulator.simulation import RunResult

pytestmark = pytest.mark.validation

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios" / "validation"
CONFIDENCE = 0.999

# Replication budgets: (jobs per replication, replications), sized from the observed spread so that the
# relative-error bound of each test is several standard errors wide.
BUDGETS: dict[str, tuple[int, int]] = {
    "mm1": (40_000, 12),
    "mmc": (40_000, 12),
    "md1": (30_000, 10),
    "mg1_lognormal": (30_000, 12),
    "tandem": (20_000, 10),
    "network_flows": (15_000, 12),
}


# ----------------------------------------------------------------------------------------------------------
# Closed forms


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: the probability that an arrival to an M/M/c queue waits.

    ``C(c, a) = (a^c / c!) / (1 - rho) / (sum_{k<c} a^k / k! + (a^c / c!) / (1 - rho))`` with ``a = lambda/mu``
    and ``rho = a / c`` (Kleinrock, Queueing Systems Vol. 1, 1975, section 3.5; Gross & Harris, Fundamentals
    of Queueing Theory).
    """
    rho = offered_load / servers
    if not 0 <= rho < 1:
        raise ValueError(f"an M/M/c queue is stable only for rho < 1, got {rho}")
    top = offered_load**servers / math.factorial(servers) / (1 - rho)
    bottom = sum(offered_load**k / math.factorial(k) for k in range(servers)) + top
    return top / bottom


def mmc_response_s(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean response time of M/M/c: ``W = C(c, a) / (c mu - lambda) + 1 / mu``."""
    waiting = erlang_c(servers, arrival_rate / service_rate) / (servers * service_rate - arrival_rate)
    return waiting + 1 / service_rate


def pollaczek_khinchine_response_s(arrival_rate: float, mean_s: float, second_moment_s2: float) -> float:
    """Mean response time of M/G/1: ``W = lambda E[S^2] / (2 (1 - rho)) + E[S]`` (Kleinrock Vol. 1, chapter 5)."""
    rho = arrival_rate * mean_s
    return arrival_rate * second_moment_s2 / (2 * (1 - rho)) + mean_s


# ----------------------------------------------------------------------------------------------------------
# Estimation


@dataclass(frozen=True)
class Estimate:
    """A steady-state mean estimated from replications, with its 99.9% t-interval half-width."""

    value: float
    half_width: float
    n_replications: int
    n_controls: int


def estimate(values: Sequence[float], controls: Sequence[Sequence[float]] = (),
             expectations: Sequence[float] = (), confidence: float = CONFIDENCE) -> Estimate:
    """Replication mean, or the control-variate regression estimator when controls are given.

    Regresses the per-replication values on the controls centred at their known expectations; the intercept
    is the estimate and its ordinary least-squares standard error, with n - q - 1 degrees of freedom, gives
    the t-interval (Lavenberg & Welch 1981). With no controls this is the plain t-interval of the mean.

    Args:
        values: One value per replication.
        controls: One sequence per control, each with one value per replication.
        expectations: The exact expectation of each control.
        confidence: Two-sided confidence level of the interval.
    """
    y = np.asarray(values, dtype=float)
    n = len(y)
    centred = [np.asarray(control, dtype=float) - expectation
               for control, expectation in zip(controls, expectations, strict=True)]
    design = np.column_stack([np.ones(n), *centred])
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coefficients
    dof = n - design.shape[1]
    variance = float(residual @ residual) / dof
    standard_error = math.sqrt(variance * np.linalg.inv(design.T @ design)[0, 0])
    quantile = float(stats.t.ppf((1 + confidence) / 2, dof))
    return Estimate(float(coefficients[0]), quantile * standard_error, n, len(centred))


def assert_matches(label: str, result: Estimate, theory: float, relative_bound: float) -> None:
    """The t-interval contains ``theory`` and the relative error is at most ``relative_bound``."""
    error = abs(result.value - theory)
    relative = error / abs(theory)
    message = (f"{label}: simulated {result.value:.6g} +- {result.half_width:.3g} (99.9% t-interval over "
               f"{result.n_replications} replications, {result.n_controls} controls) vs theory {theory:.6g}; "
               f"relative error {relative:.2%} (bound {relative_bound:.0%})")
    print(message)
    assert error <= result.half_width, message
    assert relative <= relative_bound, message


def assert_controls_unbiased(label: str, samples: Sequence[Mapping[str, float]],
                             expectations: Mapping[str, float]) -> None:
    """Each control's replication mean is consistent with its expectation (99.9% t-interval, 2% bound)."""
    for name, expected in expectations.items():
        assert_matches(f"{label} control {name}", estimate([s[name] for s in samples]), expected, 0.02)


# ----------------------------------------------------------------------------------------------------------
# Replications


def scenario(name: str, max_jobs: int | None = None) -> Scenario:
    overrides = {} if max_jobs is None else {"simulation.max_jobs": max_jobs}
    return load_scenario(SCENARIOS / f"{name}.toml", overrides=overrides)


def time_average_in_system(jobs: pd.DataFrame, start_s: float, end_s: float) -> float:
    """Time-average number of jobs in the system over [start_s, end_s], from the job table.

    Each job is in the system from its arrival to its finish (the end of the run when unfinished); the
    integral of the number in system is the sum of each job's overlap with the window.
    """
    arrival = jobs["arrival_s"].to_numpy()
    finish = jobs["finish_s"].fillna(end_s).to_numpy()
    overlap = np.clip(np.minimum(finish, end_s) - np.maximum(arrival, start_s), 0.0, None)
    return float(overlap.sum() / (end_s - start_s))


def measure(result: RunResult) -> dict[str, float]:
    """What the tests need from one run, so that replications need not keep their tables."""
    warmup = result.scenario.simulation.warmup_s
    summary = result.summary
    jobs = result.jobs[result.jobs["arrival_s"] >= warmup]
    tasks = result.tasks[result.tasks["arrival_s"] >= warmup]
    service = tasks["service_s"].to_numpy()
    arrivals = np.sort(jobs["arrival_s"].to_numpy())
    values: dict[str, float] = {
        "response_s": summary["response_time_mean_s"],
        "service_s": float(service.mean()),
        "service_squared_s2": float((service**2).mean()),
        "interarrival_s": float(np.diff(arrivals).mean()),
        "throughput_per_s": summary["throughput_per_s"],
        "number_in_system": time_average_in_system(result.jobs, warmup, summary["duration_s"]),
        "transfer_s": float(tasks["transfer_s"].mean()),
    }
    for node, utilization in summary["utilization_by_node"].items():
        values[f"utilization:{node}"] = utilization
    for stage, frame in tasks.groupby("stage"):
        values[f"sojourn_s:{stage}"] = float((frame["finish_s"] - frame["ready_s"]).mean())
    for application, frame in tasks.groupby("application", observed=True):
        values[f"transfer_s:{application}"] = float(frame["transfer_s"].mean())
        values[f"jobs:{application}"] = float(len(frame))
    if len(result.transfers):
        transfers = result.transfers
        values["transfer_table_s"] = float(transfers.loc[transfers["start_s"] >= warmup, "duration_s"].mean())
    return values


@functools.cache
def replications(name: str) -> tuple[dict[str, float], ...]:
    """The measurements of every replication of a validation scenario (seeds 1..n), computed once."""
    max_jobs, n_replications = BUDGETS[name]
    spec = scenario(name, max_jobs)
    return tuple(measure(run(spec, seed=seed)) for seed in range(1, n_replications + 1))


def column(samples: Sequence[Mapping[str, float]], key: str) -> list[float]:
    return [sample[key] for sample in samples]


def single_queue_parameters(spec: Scenario) -> tuple[float, float, float, int]:
    """(lambda, E[S], cv, c) of a one-node, one-stage, one-stream scenario."""
    (arrival,) = spec.arrivals
    (node,) = spec.nodes
    (model,) = spec.models.values()
    service = model.devices[node.kind]
    return arrival.params["rate_per_s"], service.mean_s, service.cv, node.slots


# ----------------------------------------------------------------------------------------------------------
# Tests


def test_erlang_c_reference_values() -> None:
    """The Erlang C helper itself: C(1, rho) = rho (M/M/1) and the M/M/4 value quoted in mmc.toml."""
    assert erlang_c(1, 0.8) == pytest.approx(0.8)
    assert erlang_c(4, 3.2) == pytest.approx(0.596432, abs=1e-6)
    assert mmc_response_s(3.2, 1.0, 4) == pytest.approx(1.7455, abs=5e-5)
    assert mmc_response_s(0.8, 1.0, 1) == pytest.approx(5.0)


def test_mm1_mean_response_matches_closed_form() -> None:
    """M/M/1 (mm1.toml, rho = 0.8): W = 1 / (mu - lambda) = 5 s.

    Reference: Kleinrock, Queueing Systems Vol. 1 (1975), section 3.2. Controls: mean service time and mean
    inter-arrival time. Tolerance: 99.9% t-interval and 4% relative error (about 4 standard errors).
    """
    spec = scenario("mm1")
    rate, mean_s, _, slots = single_queue_parameters(spec)
    theory = 1 / (1 / mean_s - rate)
    assert slots == 1
    assert theory == pytest.approx(5.0)
    samples = replications("mm1")
    expectations = {"service_s": mean_s, "interarrival_s": 1 / rate}
    assert_controls_unbiased("M/M/1", samples, expectations)
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("M/M/1 mean response (s)", result, theory, 0.04)


def test_mmc_mean_response_matches_erlang_c() -> None:
    """M/M/4 (mmc.toml, rho = 0.8): W = C(c, a) / (c mu - lambda) + 1 / mu = 1.7455 s by Erlang C.

    Reference: Kleinrock, Queueing Systems Vol. 1 (1975), section 3.5; Gross & Harris, Fundamentals of Queueing
    Theory. Controls: mean service and inter-arrival times. Tolerance: 99.9% t-interval and 3%
    relative error.
    """
    spec = scenario("mmc")
    rate, mean_s, _, slots = single_queue_parameters(spec)
    theory = mmc_response_s(rate, 1 / mean_s, slots)
    assert theory == pytest.approx(1.7455, abs=5e-5)
    samples = replications("mmc")
    expectations = {"service_s": mean_s, "interarrival_s": 1 / rate}
    assert_controls_unbiased("M/M/c", samples, expectations)
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("M/M/4 mean response (s)", result, theory, 0.03)


def test_md1_mean_response_matches_pollaczek_khinchine() -> None:
    """M/D/1 (md1.toml, rho = 0.8): W = rho D / (2 (1 - rho)) + D = 3 s by Pollaczek-Khinchine.

    Reference: Kleinrock, Queueing Systems Vol. 1 (1975), chapter 5; Gross & Harris, Fundamentals of Queueing Theory.
    Every service time must be exactly D. Control: mean inter-arrival time. Tolerance: 99.9% t-interval and
    3% relative error.
    """
    spec = scenario("md1")
    rate, mean_s, cv, _ = single_queue_parameters(spec)
    assert cv == 0.0
    theory = pollaczek_khinchine_response_s(rate, mean_s, mean_s**2)
    assert theory == pytest.approx(3.0)
    samples = replications("md1")
    assert column(samples, "service_squared_s2") == pytest.approx([mean_s**2] * len(samples), rel=1e-12)
    expectations = {"interarrival_s": 1 / rate}
    assert_controls_unbiased("M/D/1", samples, expectations)
    result = estimate(column(samples, "response_s"), [column(samples, "interarrival_s")], [1 / rate])
    assert_matches("M/D/1 mean response (s)", result, theory, 0.03)


def test_mg1_lognormal_mean_response_matches_pollaczek_khinchine() -> None:
    """M/G/1 with lognormal service, cv = 2 (mg1_lognormal.toml, rho = 0.5): W = 3.5 s by Pollaczek-Khinchine.

    Reference: Kleinrock, Queueing Systems Vol. 1 (1975), chapter 5, with E[S^2] = (1 + cv^2) E[S]^2.
    The heavy tail makes the plain replication mean noisy (13% spread per replication), so the controls are
    the mean service time, the mean squared service time and the mean inter-arrival time. Tolerance: 99.9%
    t-interval and 4% relative error.
    """
    spec = scenario("mg1_lognormal")
    rate, mean_s, cv, _ = single_queue_parameters(spec)
    second_moment = (1 + cv**2) * mean_s**2
    theory = pollaczek_khinchine_response_s(rate, mean_s, second_moment)
    assert theory == pytest.approx(3.5)
    samples = replications("mg1_lognormal")
    assert_controls_unbiased("M/G/1", samples, {"service_s": mean_s, "interarrival_s": 1 / rate})
    # The squared service time has a huge variance (E[S^4] = 15625 s^4), so its own check is an interval only.
    squared = estimate(column(samples, "service_squared_s2"))
    assert abs(squared.value - second_moment) <= squared.half_width, squared
    expectations = {"service_s": mean_s, "service_squared_s2": second_moment, "interarrival_s": 1 / rate}
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("M/G/1 lognormal mean response (s)", result, theory, 0.04)


def test_tandem_matches_jackson_product_form() -> None:
    """Two M/M/1 queues in series (tandem.toml): W = 1/(mu1 - lambda) + 1/(mu2 - lambda) = 2 + 3.3333 s.

    Reference: Jackson, "Networks of waiting lines", Operations Research 5 (1957); Burke's output theorem;
    Kleinrock, Queueing Systems Vol. 1 (1975), chapter 4. Each node's own mean sojourn (ready to finish) is
    checked too. No controls. Tolerance: 99.9% t-interval and 3% relative error.
    """
    spec = scenario("tandem")
    (arrival,) = spec.arrivals
    rate = arrival.params["rate_per_s"]
    stages = spec.applications["job"].stages
    per_stage = {stage.name: 1 / (1 / spec.models[stage.model].devices["server"].mean_s - rate) for stage in stages}
    theory = sum(per_stage.values())
    assert theory == pytest.approx(2.0 + 10 / 3)
    samples = replications("tandem")
    for stage, expected in per_stage.items():
        assert_matches(f"tandem sojourn at stage {stage} (s)", estimate(column(samples, f"sojourn_s:{stage}")),
                       expected, 0.04)
    assert_matches("tandem mean response (s)", estimate(column(samples, "response_s")), theory, 0.03)


def test_shared_link_matches_processor_sharing() -> None:
    """Max-min sharing of one bottleneck link (network_flows.toml) is an M/G/1-PS queue: T = E[S] / (1 - rho).

    Reference: Kleinrock, Queueing Systems Vol. 2 (1976), chapter 4; Harchol-Balter, Performance Modeling
    and Design of Computer Systems (2013), chapter 22: the mean sojourn of a job of size x is x / (1 - rho),
    for any size distribution. The mean over all transfers is checked within a 99.9% t-interval and 4%; the
    mean per source (file size), which tests the linearity in x that only PS has, within a 99.9% t-interval
    and 6% (fewer jobs each). Controls for the overall mean: mean file service time and mean inter-arrival
    time. The task table's transfer times must agree with the transfer table's durations.
    """
    spec = scenario("network_flows")
    capacity = next(link.bandwidth_bytes_per_s for link in spec.network.links if link.name == "bottleneck")
    rates = {arrival.application: arrival.params["rate_per_s"] for arrival in spec.arrivals}
    sizes_s = {name: spec.applications[name].input_bytes / capacity for name in rates}
    total_rate = sum(rates.values())
    rho = sum(rates[name] * sizes_s[name] for name in rates)
    mean_size_s = rho / total_rate
    theory = mean_size_s / (1 - rho)
    assert (rho, theory) == pytest.approx((0.5, 0.232558), abs=1e-6)
    samples = replications("network_flows")
    for sample in samples:
        assert sample["transfer_table_s"] == pytest.approx(sample["transfer_s"], rel=1e-9)
    for name, size_s in sizes_s.items():
        assert_matches(f"PS link mean transfer time of source {name} (s)",
                       estimate(column(samples, f"transfer_s:{name}")), size_s / (1 - rho), 0.06)
    # Controls: per replication, the mean file service time of the measured jobs and their inter-arrival time.
    for sample in samples:
        counts = {name: sample[f"jobs:{name}"] for name in sizes_s}
        sample["size_s"] = sum(counts[name] * sizes_s[name] for name in sizes_s) / sum(counts.values())
    expectations = {"size_s": mean_size_s, "interarrival_s": 1 / total_rate}
    assert_controls_unbiased("PS link", samples, expectations)
    result = estimate(column(samples, "transfer_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches("PS link mean transfer time (s)", result, theory, 0.04)


@pytest.mark.parametrize("name", ["mmc", "tandem"])
def test_littles_law(name: str) -> None:
    """Little's law L = lambda W on each run's sample path, and against theory over replications.

    Reference: Little, "A proof for the queuing formula L = lambda W", Operations Research 9 (1961); Kleinrock
    Vol. 1, chapter 2. L is the time-average number of jobs in the system over [warmup, end], computed from
    the job table; lambda W is the summary's throughput times its mean response time. On one sample path the
    two differ only by jobs straddling the window's start, so they must agree within 0.1% in every
    replication (observed: at most 0.04%). Over replications L must match lambda times the theoretical W
    (99.9% t-interval, 5%).
    """
    samples = replications(name)
    for sample in samples:
        product = sample["throughput_per_s"] * sample["response_s"]
        assert sample["number_in_system"] == pytest.approx(product, rel=0.001)
    spec = scenario(name)
    if name == "mmc":
        rate, mean_s, _, slots = single_queue_parameters(spec)
        theory = rate * mmc_response_s(rate, 1 / mean_s, slots)
    else:
        (arrival,) = spec.arrivals
        rate = arrival.params["rate_per_s"]
        theory = rate * sum(1 / (1 / spec.models[stage.model].devices["server"].mean_s - rate)
                            for stage in spec.applications["job"].stages)
    assert_matches(f"{name} time-average number in system", estimate(column(samples, "number_in_system")),
                   theory, 0.05)


UTILIZATION_CASES = [
    ("mm1", "server"),
    ("mmc", "server"),
    ("md1", "server"),
    ("mg1_lognormal", "server"),
    ("tandem", "front"),
    ("tandem", "back"),
]


@pytest.mark.parametrize(("name", "node"), UTILIZATION_CASES)
def test_utilization_is_offered_load_per_slot(name: str, node: str) -> None:
    """A node's utilization equals its offered load per slot, lambda E[S] / c.

    Reference: the utilization law (Kleinrock, Queueing Systems Vol. 1, 1975, chapter 2; Gross & Harris,
    Fundamentals of Queueing Theory, chapter 1). Tolerance: 99.9% t-interval over the replications and 2%
    relative error.
    """
    spec = scenario(name)
    (arrival,) = spec.arrivals
    rate = arrival.params["rate_per_s"]
    node_spec = next(n for n in spec.nodes if n.name == node)
    (stage,) = [s for s in spec.applications["job"].stages if not s.placement or node in s.placement]
    service = spec.models[stage.model].devices[node_spec.kind]
    theory = rate * service.mean_s * stage.work / node_spec.speed / node_spec.slots
    samples = replications(name)
    assert_matches(f"{name} utilization of {node}", estimate(column(samples, f"utilization:{node}")), theory, 0.02)
