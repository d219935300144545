"""Theory of a server that fails and is repaired, and an independent model to check it (a test support module).

The closed forms are what `test_validation_failures.py` compares the simulator with:

* availability of an alternating renewal process (up, repair, up, ...): ``MTBF / (MTBF + MTTR)``;
* the completion time of a job on a server that fails only while it serves (busy clock), preemptive-resume,
  the M/G/1 mean response time that follows from its two moments (Pollaczek-Khinchine), and that server's
  availability;
* the same queue when the server also fails while idle (wall clock): a job that finds the system empty may
  find the server under repair and waits the rest of the repair first (an M/G/1 queue with exceptional first
  service), with exponential repair times.

The independent model (`busy_clock_sample_path`, `wall_clock_sample_path`, `alternating_renewal_up_fraction`)
builds the sample path of the same single FIFO server straight from the model's definition, with plain numpy
draws: no SimPy, nothing from `simulator`, no formula. `experiments/validation/failures_theory_check.py` runs it
long and prints every formula next to the model's confidence interval; a quick version runs in the test suite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from test_validation_queueing import pollaczek_khinchine_response_s

DurationDraws = Callable[[int], np.ndarray]
"""Draws ``n`` i.i.d. durations in seconds (a time to failure, a time to repair, a service time)."""


# ----------------------------------------------------------------------------------------------------------
# Closed forms


def alternating_renewal_availability(mtbf_s: float, mttr_s: float) -> float:
    """Long-run fraction of time a component is up when up times (mean ``mtbf_s``) and repairs (mean
    ``mttr_s``) alternate: ``MTBF / (MTBF + MTTR)``, for any distributions of the two (non-lattice).

    Reference: the renewal-reward theorem applied to the alternating renewal process; Ross, Stochastic
    Processes, 2nd ed. (1996), theorem 3.4.4; Barlow & Proschan, Mathematical Theory of Reliability (1965),
    chapter 3.
    """
    return mtbf_s / (mtbf_s + mttr_s)


@dataclass(frozen=True)
class Moments:
    """First and second moments of a duration in seconds."""

    mean_s: float
    second_s2: float


def exponential_moments(mean_s: float) -> Moments:
    """Exponential: ``E[X^2] = 2 E[X]^2``."""
    return Moments(mean_s, 2 * mean_s**2)


def deterministic_moments(mean_s: float) -> Moments:
    """Deterministic: ``E[X^2] = E[X]^2``."""
    return Moments(mean_s, mean_s**2)


def interrupted_completion_moments(service: Moments, failure_rate_per_s: float, repair: Moments) -> Moments:
    """Moments of the completion time ``C`` of a job of service ``S`` on a server that fails at rate ``nu``
    while it serves (exponential time to failure, busy clock) and resumes the job after each repair ``R``.

    ``C = S + R_1 + ... + R_N`` with ``N`` given ``S`` Poisson with mean ``nu S`` (the failures during the
    job's own service time), the ``R_i`` i.i.d. and independent of ``S``. A compound Poisson sum has
    conditional mean ``nu S E[R]`` and conditional variance ``nu S E[R^2]``, so::

        E[C | S]   = S (1 + nu E[R])
        E[C^2 | S] = S^2 (1 + nu E[R])^2 + nu S E[R^2]
        E[C]       = E[S] (1 + nu E[R])
        E[C^2]     = E[S^2] (1 + nu E[R])^2 + nu E[S] E[R^2]

    Reference: Gaver, "A waiting line with interrupted service, including priorities", J. Royal Statistical
    Society B 24 (1962); Avi-Itzhak & Naor, "Some queuing problems with the service station subject to
    breakdown", Operations Research 11 (1963). The repair time may have any distribution.
    """
    inflation = 1 + failure_rate_per_s * repair.mean_s
    return Moments(service.mean_s * inflation,
                   service.second_s2 * inflation**2 + failure_rate_per_s * service.mean_s * repair.second_s2)


def busy_clock_breakdowns_response_s(arrival_rate_per_s: float, service: Moments, failure_rate_per_s: float,
                                     repair: Moments) -> float:
    """Mean response time of an M/G/1 FIFO queue whose server fails only while busy (preemptive-resume).

    The server works on jobs back to back and its failure clock runs only then, so the completion times of
    successive jobs are i.i.d. with the moments of `interrupted_completion_moments`: the queue is an M/G/1
    with service ``C`` and Pollaczek-Khinchine gives ``E[T] = E[C] + lambda E[C^2] / (2 (1 - lambda E[C]))``
    (Gaver 1962; Kleinrock, Queueing Systems Vol. 1, 1975, chapter 5). Requires ``lambda E[C] < 1``.
    """
    completion = interrupted_completion_moments(service, failure_rate_per_s, repair)
    _require_stable(arrival_rate_per_s * completion.mean_s)
    return pollaczek_khinchine_response_s(arrival_rate_per_s, completion.mean_s, completion.second_s2)


def busy_clock_availability(arrival_rate_per_s: float, service_mean_s: float, failure_rate_per_s: float,
                            repair_mean_s: float) -> float:
    """Long-run fraction of time a server that fails only while busy is up: ``1 - lambda E[S] nu E[R]``.

    In a stable queue the server does ``lambda E[S]`` seconds of service per second; its failure clock runs
    only then, so it fails ``nu lambda E[S]`` times per second, each time for ``E[R]`` on average (the
    renewal-reward theorem; Ross, Stochastic Processes, 2nd ed., 1996, theorem 3.6.1). Any repair distribution.
    """
    return 1 - arrival_rate_per_s * service_mean_s * failure_rate_per_s * repair_mean_s


def idle_server_down_probability(arrival_rate_per_s: float, failure_rate_per_s: float,
                                 repair_rate_per_s: float) -> float:
    """Probability that the job opening a busy period finds the server under repair (wall clock).

    An idle period starts at a departure, with the server up, and lasts an exponential time with rate
    ``lambda``. With exponential up times (rate ``nu``) and repairs (rate ``r``) the server is a two-state
    Markov chain; started up, it is down at time ``t`` with probability ``nu / (nu + r) (1 - exp(-(nu + r) t))``,
    whose mean over ``t ~ Exp(lambda)`` is ``nu / (lambda + nu + r)``.
    """
    return failure_rate_per_s / (arrival_rate_per_s + failure_rate_per_s + repair_rate_per_s)


def wall_clock_breakdowns_response_s(arrival_rate_per_s: float, service: Moments, failure_rate_per_s: float,
                                     repair_mean_s: float) -> float:
    """Mean response time of an M/G/1 FIFO queue whose server fails in wall time, busy or idle (exponential
    time to failure with rate ``nu``, exponential repair with mean ``E[R]``, preemptive-resume).

    Assumptions: Poisson arrivals, FIFO, one server, up times and repairs exponential and independent of the
    load, the server up at the end of every busy period (a departure needs it). While the system is busy the
    server only fails during service, so every job's completion time ``C`` has the moments of
    `interrupted_completion_moments` (exponential repair: ``E[R^2] = 2 E[R]^2``). The job opening a busy
    period finds the server down with probability ``p`` (`idle_server_down_probability`) and then waits the
    rest of the repair ``D``, exponential with mean ``E[R]`` by memorylessness: ``E[D] = p E[R]``,
    ``E[D^2] = 2 p E[R]^2``. That is an M/G/1 queue with exceptional first service ``D + C`` (Welch, "On a
    generalized M/G/1 queuing process in which the first customer of each busy period receives exceptional
    service", Operations Research 12, 1964), i.e. M/G/1 with a set-up time ``D`` at the start of each busy
    period, whose mean wait is the M/G/1 wait plus ``(2 E[D] + lambda E[D^2]) / (2 (1 + lambda E[D]))``
    (Takagi, Queueing Analysis Vol. 1, 1991, section 2.3; the Fuhrmann-Cooper decomposition, Operations
    Research 33, 1985: the extra term is the mean number of jobs present during the idle-plus-set-up period,
    ``(E[D] + lambda E[D^2] / 2) / (1 / lambda + E[D])``, divided by ``lambda``). This is the model of
    Avi-Itzhak & Naor (1963) with breakdowns independent of the load. Requires ``lambda E[C] < 1``.
    """
    repair = exponential_moments(repair_mean_s)
    base = busy_clock_breakdowns_response_s(arrival_rate_per_s, service, failure_rate_per_s, repair)
    down = idle_server_down_probability(arrival_rate_per_s, failure_rate_per_s, 1 / repair_mean_s)
    setup_mean_s = down * repair.mean_s
    setup_second_s2 = down * repair.second_s2
    return base + (2 * setup_mean_s + arrival_rate_per_s * setup_second_s2) / (
        2 * (1 + arrival_rate_per_s * setup_mean_s))


def _require_stable(utilization: float) -> None:
    if not 0 <= utilization < 1:
        raise ValueError(f"the queue is stable only for lambda E[C] < 1, got {utilization}")


# ----------------------------------------------------------------------------------------------------------
# Independent model: the sample path of one FIFO server that fails, built from the model's definition


def _stream(draw: DurationDraws, chunk: int = 4096) -> Iterator[float]:
    """One duration after another, drawn in chunks (a numpy call per draw would dominate the run time)."""
    while True:
        yield from draw(chunk).tolist()


@dataclass(frozen=True)
class SamplePath:
    """Per job: response time (arrival to departure) and completion time (first moment the server works on it,
    i.e. the end of its wait, to departure) in seconds; and the fraction of ``[0, end]`` the server was up."""

    response_s: np.ndarray
    completion_s: np.ndarray
    up_fraction: float


def busy_clock_sample_path(arrivals_s: np.ndarray, services_s: np.ndarray, time_to_failure: DurationDraws,
                           time_to_repair: DurationDraws) -> SamplePath:
    """FIFO single server whose time to failure elapses only while it serves; a failure stops the job in
    service for a repair, then the job resumes where it stopped. The time to failure left when a job departs
    carries over to the next job (nothing assumes memorylessness)."""
    failures, repairs = _stream(time_to_failure), _stream(time_to_repair)
    left_to_failure = next(failures)
    departure = down_s = 0.0
    response, completion = np.empty(len(arrivals_s)), np.empty(len(arrivals_s))
    for index, (arrival, service) in enumerate(zip(arrivals_s.tolist(), services_s.tolist(), strict=True)):
        start = clock = max(arrival, departure)
        while service >= left_to_failure:
            clock += left_to_failure
            service -= left_to_failure
            repair = next(repairs)
            clock += repair
            down_s += repair
            left_to_failure = next(failures)
        clock += service
        left_to_failure -= service
        departure = clock
        response[index], completion[index] = departure - arrival, departure - start
    return SamplePath(response, completion, 1 - down_s / departure)


def wall_clock_sample_path(arrivals_s: np.ndarray, services_s: np.ndarray, time_to_failure: DurationDraws,
                           time_to_repair: DurationDraws) -> SamplePath:
    """FIFO single server that alternates up times and repairs in wall time from ``t = 0`` (up), whatever the
    load; work is done only while it is up, and a job stopped by a failure resumes where it stopped. A job
    whose turn comes while the server is down starts when the repair ends (its wait includes the rest of the
    repair)."""
    failures, repairs = _stream(time_to_failure), _stream(time_to_repair)
    up_end = next(failures)
    down_end = up_end + next(repairs)
    down_s = 0.0

    def next_cycle() -> None:
        nonlocal up_end, down_end, down_s
        down_s += down_end - up_end
        up_end = down_end + next(failures)
        down_end = up_end + next(repairs)

    departure = 0.0
    response, completion = np.empty(len(arrivals_s)), np.empty(len(arrivals_s))
    for index, (arrival, service) in enumerate(zip(arrivals_s.tolist(), services_s.tolist(), strict=True)):
        clock = max(arrival, departure)
        while clock >= down_end:
            next_cycle()
        if clock >= up_end:
            clock = down_end
            next_cycle()
        start = clock
        while clock + service > up_end:
            service -= up_end - clock
            clock = down_end
            next_cycle()
        departure = clock + service
        response[index], completion[index] = departure - arrival, departure - start
    return SamplePath(response, completion, 1 - down_s / departure)


def alternating_renewal_up_fraction(time_to_failure: DurationDraws, time_to_repair: DurationDraws,
                                    horizon_s: float) -> float:
    """Fraction of ``[0, horizon_s]`` a component that starts up and alternates up times and repairs is up."""
    failures, repairs = _stream(time_to_failure), _stream(time_to_repair)
    clock = up_s = 0.0
    while clock < horizon_s:
        up = min(next(failures), horizon_s - clock)
        up_s += up
        clock += up + next(repairs)
    return up_s / horizon_s


# ----------------------------------------------------------------------------------------------------------
# numpy draws of the distributions the scenarios use, by their parameters (independent of simulator/)


def exponential_draws(rng: np.random.Generator, mean_s: float) -> DurationDraws:
    return lambda n: rng.exponential(mean_s, n)


def deterministic_draws(mean_s: float) -> DurationDraws:
    return lambda n: np.full(n, mean_s)


def lognormal_draws(rng: np.random.Generator, mean_s: float, cv: float) -> DurationDraws:
    """Lognormal with the given mean and coefficient of variation: ``sigma^2 = ln(1 + cv^2)``."""
    sigma = math.sqrt(math.log1p(cv**2))
    return lambda n: rng.lognormal(math.log(mean_s) - sigma**2 / 2, sigma, n)


def weibull_draws(rng: np.random.Generator, shape: float, scale_s: float) -> DurationDraws:
    return lambda n: scale_s * rng.weibull(shape, n)


def weibull_mean_s(shape: float, scale_s: float) -> float:
    """``scale Gamma(1 + 1 / shape)``."""
    return scale_s * math.gamma(1 + 1 / shape)


DrawsFactory = Callable[[np.random.Generator], DurationDraws]
"""Makes the draws of one distribution from a replication's generator."""


def model_replications(clock: str, arrival_rate_per_s: float, service: DrawsFactory, failure_rate_per_s: float,
                       repair: DrawsFactory, n_jobs: int, n_replications: int) -> list[dict[str, float]]:
    """Independent replications (seeds 0..n-1) of the sample-path model of a FIFO server with Poisson arrivals
    and exponential times to failure, under ``clock`` ``"busy"`` or ``"wall"``; the first tenth of the jobs of
    each replication is left out (warm-up). Per replication: mean response and completion time, mean squared
    completion time, and the fraction of time the server was up."""
    sample_path = {"busy": busy_clock_sample_path, "wall": wall_clock_sample_path}[clock]
    warmup = n_jobs // 10
    measured = []
    for seed in range(n_replications):
        rng = np.random.default_rng(seed)
        arrivals = np.cumsum(rng.exponential(1 / arrival_rate_per_s, n_jobs))
        path = sample_path(arrivals, service(rng)(n_jobs), exponential_draws(rng, 1 / failure_rate_per_s),
                           repair(rng))
        completion = path.completion_s[warmup:]
        measured.append({"response_s": float(path.response_s[warmup:].mean()),
                         "completion_s": float(completion.mean()),
                         "completion_squared_s2": float((completion**2).mean()),
                         "up_fraction": path.up_fraction})
    return measured
