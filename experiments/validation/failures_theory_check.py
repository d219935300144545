"""Checks the failure theory of ``tests/dynamics_theory.py`` against its independent sample-path model, long runs.

Before the simulator is compared with a formula, the formula itself is compared with a model that builds the
same single FIFO server's sample path from the model's definition (plain numpy, nothing from ``simulator``):
for each case the script prints the closed form, the model's mean over independent replications with its 99.9%
t-interval, and whether the interval contains the formula. The cases are the parameters of
``scenarios/validation/mm1_breakdowns_{busy,wall}.toml`` and ``availability.toml`` plus variations (other
service and repair distributions) that the formulas claim to cover. A few minutes on one core::

    .venv/bin/python experiments/validation/failures_theory_check.py [--jobs 200000] [--replications 20]

Exit status 1 when some interval misses its formula.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

import dynamics_theory as theory

CONFIDENCE = 0.999


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and 99.9% t-interval half-width over replications."""
    sample = np.asarray(values)
    half = stats.t.ppf((1 + CONFIDENCE) / 2, len(sample) - 1) * sample.std(ddof=1) / math.sqrt(len(sample))
    return float(sample.mean()), float(half)


def lognormal_moments(mean_s: float, cv: float) -> theory.Moments:
    return theory.Moments(mean_s, (1 + cv**2) * mean_s**2)


def queue_cases() -> list[tuple[str, str, float, theory.DrawsFactory, theory.Moments, float, theory.DrawsFactory,
                                theory.Moments]]:
    """(label, clock, lambda, service draws, service moments, nu, repair draws, repair moments)."""
    exponential_service = theory.exponential_moments(1.0)
    return [
        ("busy: mm1_breakdowns_busy.toml (exp S 1 s, nu 0.1, deterministic R 2 s)", "busy", 0.5,
         lambda rng: theory.exponential_draws(rng, 1.0), exponential_service, 0.1,
         lambda rng: theory.deterministic_draws(2.0), theory.deterministic_moments(2.0)),
        ("busy: lognormal S (1 s, cv 2), nu 0.2, exponential R 1 s", "busy", 0.4,
         lambda rng: theory.lognormal_draws(rng, 1.0, 2.0), lognormal_moments(1.0, 2.0), 0.2,
         lambda rng: theory.exponential_draws(rng, 1.0), theory.exponential_moments(1.0)),
        ("busy: deterministic S 1 s, nu 0.05, lognormal R (4 s, cv 1.5)", "busy", 0.6,
         lambda rng: theory.deterministic_draws(1.0), theory.deterministic_moments(1.0), 0.05,
         lambda rng: theory.lognormal_draws(rng, 4.0, 1.5), lognormal_moments(4.0, 1.5)),
        ("wall: mm1_breakdowns_wall.toml (exp S 1 s, nu 0.1, exp R 3 s)", "wall", 0.5,
         lambda rng: theory.exponential_draws(rng, 1.0), exponential_service, 0.1,
         lambda rng: theory.exponential_draws(rng, 3.0), theory.exponential_moments(3.0)),
        ("wall: deterministic S 1 s, nu 0.2, exp R 2 s, light load", "wall", 0.2,
         lambda rng: theory.deterministic_draws(1.0), theory.deterministic_moments(1.0), 0.2,
         lambda rng: theory.exponential_draws(rng, 2.0), theory.exponential_moments(2.0)),
        ("wall: lognormal S (1 s, cv 1), nu 0.05, exp R 5 s", "wall", 0.5,
         lambda rng: theory.lognormal_draws(rng, 1.0, 1.0), lognormal_moments(1.0, 1.0), 0.05,
         lambda rng: theory.exponential_draws(rng, 5.0), theory.exponential_moments(5.0)),
    ]


def availability_cases() -> list[tuple[str, theory.DrawsFactory, float, theory.DrawsFactory, float]]:
    """(label, time-to-failure draws, MTBF, time-to-repair draws, MTTR)."""
    return [
        ("availability.toml: Weibull TTF (1.5, 100 s), lognormal TTR (20 s, cv 0.5)",
         lambda rng: theory.weibull_draws(rng, 1.5, 100.0), theory.weibull_mean_s(1.5, 100.0),
         lambda rng: theory.lognormal_draws(rng, 20.0, 0.5), 20.0),
        ("deterministic TTF 50 s, exponential TTR 10 s",
         lambda rng: theory.deterministic_draws(50.0), 50.0, lambda rng: theory.exponential_draws(rng, 10.0), 10.0),
    ]


def row(label: str, formula: float, values: list[float]) -> bool:
    mean, half = interval(values)
    inside = abs(mean - formula) <= half
    print(f"  {label:<34} formula {formula:10.5f}   model {mean:10.5f} +- {half:.5f}   "
          f"({(mean - formula) / formula:+.2%})  {'ok' if inside else 'MISS'}")
    return inside


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000, help="jobs per replication")
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--horizon-s", type=float, default=1e6, help="time per availability replication")
    args = parser.parse_args(argv)
    all_inside = True
    for label, clock, rate, service, service_moments, nu, repair, repair_moments in queue_cases():
        print(label)
        samples = theory.model_replications(clock, rate, service, nu, repair, args.jobs, args.replications)
        completion = theory.interrupted_completion_moments(service_moments, nu, repair_moments)
        if clock == "busy":
            response = theory.busy_clock_breakdowns_response_s(rate, service_moments, nu, repair_moments)
        else:
            response = theory.wall_clock_breakdowns_response_s(rate, service_moments, nu, repair_moments.mean_s)
            busy_formula = theory.busy_clock_breakdowns_response_s(rate, service_moments, nu, repair_moments)
            print(f"  (the busy-clock formula would say {busy_formula:.5f}: failures while idle matter)")
        for name, formula, key in (("mean response E[T] (s)", response, "response_s"),
                                   ("completion E[C] (s)", completion.mean_s, "completion_s"),
                                   ("completion E[C^2] (s^2)", completion.second_s2, "completion_squared_s2")):
            all_inside &= row(name, formula, [sample[key] for sample in samples])
        availability = (theory.alternating_renewal_availability(1 / nu, repair_moments.mean_s) if clock == "wall"
                        else theory.busy_clock_availability(rate, service_moments.mean_s, nu, repair_moments.mean_s))
        all_inside &= row("availability", availability, [sample["up_fraction"] for sample in samples])
    for label, failure, mtbf, repair, mttr in availability_cases():
        print(label)
        values = []
        for seed in range(args.replications):
            rng = np.random.default_rng(seed)
            values.append(theory.alternating_renewal_up_fraction(failure(rng), repair(rng), args.horizon_s))
        all_inside &= row("availability", theory.alternating_renewal_availability(mtbf, mttr), values)
    print("every formula inside its model's 99.9% interval" if all_inside else "SOME FORMULA MISSED ITS INTERVAL")
    return 0 if all_inside else 1


if __name__ == "__main__":
    raise SystemExit(main())
