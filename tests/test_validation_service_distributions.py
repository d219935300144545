"""Validation of the heavy-tailed service-time families (pareto, weibull) against queueing theory and their
closed-form moments.

Same estimator and tolerance as tests/test_validation_queueing.py: replications with seeds 1..n, control
variates with exactly known expectations (Lavenberg & Welch 1981), a 99.9% t-interval that must contain the
theoretical value and a relative-error bound stated in each test.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from test_validation_queueing import (
    assert_controls_unbiased,
    assert_matches,
    column,
    estimate,
    measure,
    pollaczek_khinchine_response_s,
    scenario,
    single_queue_parameters,
)

from simulator import run
from simulator.config import ServiceSpec
from simulator.costs import service_duration, service_sampler

pytestmark = pytest.mark.validation

# (jobs per replication, replications), sized from the observed spread.
BUDGETS: dict[str, tuple[int, int]] = {
    "mg1_pareto": (30_000, 12),
    "mg1_weibull": (30_000, 24),
}


@functools.cache
def replications(name: str) -> tuple[dict[str, float], ...]:
    """The measurements of every replication of a validation scenario (seeds 1..n), computed once."""
    max_jobs, n_replications = BUDGETS[name]
    spec = scenario(name, max_jobs)
    return tuple(measure(run(spec, seed=seed)) for seed in range(1, n_replications + 1))


def pareto_moments(mean_s: float, shape: float) -> tuple[float, float]:
    """E[S] and E[S^2] of the classical Pareto of mean ``mean_s``: scale x_m = mean (a - 1) / a and
    E[S^2] = a x_m^2 / (a - 2) (Johnson, Kotz & Balakrishnan, Continuous Univariate Distributions Vol. 1,
    chapter 20)."""
    scale = mean_s * (shape - 1) / shape
    return shape * scale / (shape - 1), shape * scale**2 / (shape - 2)


def weibull_moments(mean_s: float, shape: float) -> tuple[float, float]:
    """E[S] and E[S^2] of the Weibull of mean ``mean_s``: E[S^r] = scale^r Gamma(1 + r/k) with
    scale = mean / Gamma(1 + 1/k) (Johnson, Kotz & Balakrishnan, Vol. 1, chapter 21)."""
    scale = mean_s / math.gamma(1 + 1 / shape)
    return scale * math.gamma(1 + 1 / shape), scale**2 * math.gamma(1 + 2 / shape)


MOMENTS = {"pareto": pareto_moments, "weibull": weibull_moments}


def check_mg1(name: str, expected_response_s: float) -> None:
    spec = scenario(name)
    rate, mean_s, _, _ = single_queue_parameters(spec)
    service = next(iter(spec.models.values())).devices["server"]
    mean, second_moment = MOMENTS[service.distribution](mean_s, service.shape)
    theory = pollaczek_khinchine_response_s(rate, mean, second_moment)
    assert theory == pytest.approx(expected_response_s)
    samples = replications(name)
    assert_controls_unbiased(f"M/G/1 {service.distribution}", samples,
                             {"service_s": mean, "interarrival_s": 1 / rate})
    squared = estimate(column(samples, "service_squared_s2"))
    assert abs(squared.value - second_moment) <= squared.half_width, squared
    expectations = {"service_s": mean, "service_squared_s2": second_moment, "interarrival_s": 1 / rate}
    result = estimate(column(samples, "response_s"), [column(samples, key) for key in expectations],
                      list(expectations.values()))
    assert_matches(f"M/G/1 {service.distribution} mean response (s)", result, theory, 0.04)


def test_mg1_pareto_mean_response_matches_pollaczek_khinchine() -> None:
    """M/G/1 with classical Pareto service, shape 2.5 (mg1_pareto.toml, rho = 0.4): W = 1.6 s.

    Reference: Pollaczek-Khinchine (Kleinrock, Queueing Systems Vol. 1, 1975, chapter 5) with the Pareto's
    E[S^2] = a x_m^2 / (a - 2). Controls: mean service time, mean squared service time, mean inter-arrival time.
    Tolerance: 99.9% t-interval and 4% relative error.
    """
    check_mg1("mg1_pareto", 1.6)


def test_mg1_weibull_mean_response_matches_pollaczek_khinchine() -> None:
    """M/G/1 with Weibull service, shape 0.5 (mg1_weibull.toml, rho = 0.5): W = 4 s.

    Reference: Pollaczek-Khinchine (Kleinrock, Queueing Systems Vol. 1, 1975, chapter 5) with the Weibull's
    E[S^2] = scale^2 Gamma(1 + 2/k). Controls as for Pareto. Tolerance: 99.9% t-interval and 4% relative error.
    """
    check_mg1("mg1_weibull", 4.0)


DRAWS = 400_000


@pytest.mark.parametrize(("distribution", "shape"), [("pareto", 2.5), ("pareto", 5.0), ("weibull", 0.5),
                                                     ("weibull", 2.0)])
def test_drawn_service_times_match_closed_form_moments(distribution: str, shape: float) -> None:
    """The sampler's draws have the closed-form mean and, where the fourth moment is finite (every case but
    pareto 2.5), second moment; a pareto's draws never fall below its scale (the classical Pareto).

    Reference: Johnson, Kotz & Balakrishnan, Continuous Univariate Distributions Vol. 1 (1994), chapters 20
    (Pareto) and 21 (Weibull). Each moment is a mean over 20 independent batches: 99.9% t-interval, and 2% for
    the mean, 6% for the second moment (the weibull 0.5's S^2 has a standard deviation of 8.3 E[S^2], so the
    mean over all draws has a standard error of 1.3%).
    """
    mean_s = 3.0
    spec = ServiceSpec(mean_s=mean_s, distribution=distribution, shape=shape)
    draw = service_sampler(spec, np.random.default_rng(12))
    values = np.array([draw() for _ in range(DRAWS)]).reshape(20, -1)
    mean, second_moment = MOMENTS[distribution](mean_s, shape)
    assert_matches(f"{distribution} {shape} mean (s)", estimate(values.mean(axis=1)), mean, 0.02)
    if distribution != "pareto" or shape > 4:
        assert_matches(f"{distribution} {shape} second moment (s^2)", estimate((values**2).mean(axis=1)),
                       second_moment, 0.06)
    if distribution == "pareto":
        assert values.min() >= service_duration(spec).scale_s == pytest.approx(mean_s * (shape - 1) / shape)
