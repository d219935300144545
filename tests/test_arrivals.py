"""Unit tests of the arrival processes (simulator/arrivals.py) against their defining statistics.

Statistical checks use fixed seeds and long streams; each states its tolerance, chosen at 4 or more standard
errors of the estimate (computed in the test's docstring or comment) so that a correct process passes for
essentially any seed, while a wrong rate, a wrong state weighting or a wrong thinning rule fails.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from simulator import parse_scenario, run
from simulator.arrivals import arrival_times
from simulator.config import ArrivalSpec

pytestmark = pytest.mark.unit


def spec(process: str, params: Mapping[str, Any], start_s: float = 0.0, stop_s: float = math.inf,
         trace_times_s: tuple[float, ...] = ()) -> ArrivalSpec:
    return ArrivalSpec(name="stream", application="app", process=process, params=dict(params), source=None,
                       sink=None, start_s=start_s, stop_s=stop_s, trace_times_s=trace_times_s,
                       trace_applications=("app",) * len(trace_times_s))


def times_until(arrival: ArrivalSpec, end_s: float, seed: int = 1) -> np.ndarray:
    """All arrival times up to ``end_s`` (the stream itself is unbounded unless it has a stop_s)."""
    stream = arrival_times(arrival, np.random.default_rng(seed))
    return np.fromiter(itertools.takewhile(lambda time: time <= end_s, stream), dtype=float)


def window_counts(times: np.ndarray, end_s: float, window_s: float) -> np.ndarray:
    n_windows = int(end_s // window_s)
    return np.bincount((times // window_s).astype(int), minlength=n_windows)[:n_windows]


def dispersion(counts: np.ndarray) -> float:
    """Index of dispersion of counts: variance over mean (1 for a Poisson process)."""
    return float(counts.var(ddof=1) / counts.mean())


def mmpp2_dispersion(rates: tuple[float, float], leave_rates: tuple[float, float], window_s: float) -> float:
    """Index of dispersion of counts I(t) of a two-state MMPP over windows of length t.

    I(t) = 1 + 2 (l1 - l2)^2 r1 r2 / ((r1 + r2)^2 (l1 r2 + l2 r1)) * (1 - (1 - exp(-(r1 + r2) t)) / ((r1 + r2) t)),
    where r_i is the rate of leaving state i (Fischer & Meier-Hellstern, "The Markov-modulated Poisson process
    (MMPP) cookbook", Performance Evaluation 18, 1993, section 3).
    """
    (l1, l2), (r1, r2) = rates, leave_rates
    total = r1 + r2
    limit = 2 * (l1 - l2) ** 2 * r1 * r2 / (total**2 * (l1 * r2 + l2 * r1))
    return 1 + limit * (1 - (1 - math.exp(-total * window_s)) / (total * window_s))


# ----------------------------------------------------------------------------------------------------------
# Poisson and deterministic


def test_poisson_counts_and_gaps() -> None:
    """Rate 2/s over 20,000 s: counts per 1 s window have mean 2 and dispersion 1; gaps are exponential.

    Standard errors: mean 0.01 (0.5%), dispersion sqrt(2/n) = 0.01, gap mean 0.0025 (0.5%). Bounds: 2%, 0.05,
    2%, and a Kolmogorov-Smirnov test of the gaps against Exp(2) at p > 0.001.
    """
    end_s = 20_000.0
    times = times_until(spec("poisson", {"rate_per_s": 2.0}), end_s)
    counts = window_counts(times, end_s, 1.0)
    assert counts.mean() == pytest.approx(2.0, rel=0.02)
    assert dispersion(counts) == pytest.approx(1.0, abs=0.05)
    gaps = np.diff(np.concatenate([[0.0], times]))
    assert gaps.mean() == pytest.approx(0.5, rel=0.02)
    assert stats.kstest(gaps, stats.expon(scale=0.5).cdf).pvalue > 0.001


def test_poisson_same_generator_seed_same_times() -> None:
    arrival = spec("poisson", {"rate_per_s": 3.0})
    np.testing.assert_array_equal(times_until(arrival, 100.0, seed=4), times_until(arrival, 100.0, seed=4))
    assert not np.array_equal(times_until(arrival, 100.0, seed=4), times_until(arrival, 100.0, seed=5))


def test_deterministic_times_are_exact() -> None:
    """Rate 4/s from start_s = 2.5: arrivals at exactly 2.5 + k/4, k = 1, 2, ... (no randomness)."""
    times = times_until(spec("deterministic", {"rate_per_s": 4.0}, start_s=2.5), 1000.0)
    expected = np.array([2.5 + k / 4.0 for k in range(1, len(times) + 1)])
    assert len(times) == 3990
    np.testing.assert_array_equal(times, expected)
    np.testing.assert_array_equal(times_until(spec("deterministic", {"rate_per_s": 4.0}), 1.0), [0.25, 0.5,
                                                                                                   0.75, 1.0])


# ----------------------------------------------------------------------------------------------------------
# MMPP and on/off


def test_two_state_mmpp_rate_and_dispersion() -> None:
    """MMPP with rates (1, 10)/s and mean sojourns (5, 1) s over 40,000 s.

    Long-run rate = time-weighted mean of the rates = (1 x 5 + 10 x 1) / 6 = 2.5/s. Index of dispersion over
    50 s windows: I(50) = 8.375 by the cookbook formula (asymptotically 8.5), well above Poisson's 1.
    Standard errors: rate sqrt(I(inf) / (rate T)) = 0.9%, dispersion about sqrt(2/800) = 5%. Bounds: 4% and 20%.
    """
    end_s = 40_000.0
    times = times_until(spec("mmpp", {"rates_per_s": (1.0, 10.0), "mean_sojourn_s": (5.0, 1.0)}), end_s)
    assert len(times) / end_s == pytest.approx(2.5, rel=0.04)
    expected = mmpp2_dispersion((1.0, 10.0), (1 / 5.0, 1 / 1.0), 50.0)
    assert expected == pytest.approx(8.375, abs=1e-3)
    assert dispersion(window_counts(times, end_s, 50.0)) == pytest.approx(expected, rel=0.2)


def test_three_state_mmpp_rate_is_time_weighted_mean() -> None:
    """States visited in cycle with rates (0, 4, 1)/s and mean sojourns (2, 1, 3) s: long-run rate
    (0 x 2 + 4 x 1 + 1 x 3) / 6 = 7/6 per s. Over 60,000 s (70,000 arrivals, dispersion about 4) the
    standard error is about 0.8%; bound 4%. Counts are overdispersed (bound: dispersion > 2)."""
    end_s = 60_000.0
    arrival = spec("mmpp", {"rates_per_s": (0.0, 4.0, 1.0), "mean_sojourn_s": (2.0, 1.0, 3.0)})
    times = times_until(arrival, end_s)
    assert len(times) / end_s == pytest.approx(7 / 6, rel=0.04)
    assert dispersion(window_counts(times, end_s, 50.0)) > 2.0


def test_on_off_rate_and_dispersion() -> None:
    """On/off source: rate 5/s while on (mean 2 s), silent while off (mean 8 s), over 60,000 s.

    Long-run rate 5 x 2 / 10 = 1/s; it is the two-state MMPP (5, 0) with leave rates (1/2, 1/8), so the index
    of dispersion over 100 s windows is I(100) = 13.595 (asymptotically 13.8). Standard errors: rate 1.5%,
    dispersion about 6%. Bounds: 6% and 25%.
    """
    end_s = 60_000.0
    times = times_until(spec("on_off", {"rate_per_s": 5.0, "mean_on_s": 2.0, "mean_off_s": 8.0}), end_s)
    assert len(times) / end_s == pytest.approx(1.0, rel=0.06)
    expected = mmpp2_dispersion((5.0, 0.0), (1 / 2.0, 1 / 8.0), 100.0)
    assert expected == pytest.approx(13.595, abs=1e-3)
    assert dispersion(window_counts(times, end_s, 100.0)) == pytest.approx(expected, rel=0.25)


# ----------------------------------------------------------------------------------------------------------
# Diurnal


def test_diurnal_rate_by_phase_matches_sinusoid() -> None:
    """Rate 2 (1 + 0.6 sin(2 pi (t - 5) / 50)) per s over 400 periods, counted in 10 phase bins.

    The expected count in a bin [a, b) of the period (as fractions) is n_periods x 2 x 50 x
    ((b - a) + 0.6 (cos 2 pi a - cos 2 pi b) / (2 pi)). Counts per bin are Poisson, so
    sum (observed - expected)^2 / expected is chi-square with 10 degrees of freedom: p > 0.001, and each bin
    within 12% (about 5 standard errors of the smallest bin, which expects about 1,640 arrivals).
    Reference: Lewis & Shedler, "Simulation of nonhomogeneous Poisson processes by thinning", Naval Research
    Logistics Quarterly 26 (1979).
    """
    rate, amplitude, period, phase, n_periods, n_bins = 2.0, 0.6, 50.0, 5.0, 400, 10
    end_s = n_periods * period
    arrival = spec("diurnal", {"rate_per_s": rate, "amplitude": amplitude, "period_s": period, "phase_s": phase})
    times = times_until(arrival, end_s)
    fractions = ((times - phase) % period) / period
    observed = np.bincount((fractions * n_bins).astype(int), minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    expected = n_periods * rate * period * (
        np.diff(edges) + amplitude * (np.cos(2 * np.pi * edges[:-1]) - np.cos(2 * np.pi * edges[1:])) / (2 * np.pi))
    assert expected.sum() == pytest.approx(rate * end_s)
    statistic = float(((observed - expected) ** 2 / expected).sum())
    assert stats.chi2.sf(statistic, df=n_bins) > 0.001, (observed, expected)
    np.testing.assert_allclose(observed, expected, rtol=0.12)


def test_diurnal_with_full_amplitude_is_silent_at_the_trough() -> None:
    """With amplitude 1 the rate is 0 at the trough: a phase window of 2% of the period around it expects
    only 0.0066% of the arrivals."""
    period = 100.0
    arrival = spec("diurnal", {"rate_per_s": 5.0, "amplitude": 1.0, "period_s": period, "phase_s": 0.0})
    times = times_until(arrival, 200 * period)
    fractions = (times % period) / period
    near_trough = np.abs(fractions - 0.75) < 0.01
    assert near_trough.sum() <= 0.0005 * len(times)


# ----------------------------------------------------------------------------------------------------------
# Trace replay and the start/stop window


def test_trace_replay_is_exact_and_offset_by_start() -> None:
    trace = (0.0, 1.5, 1.5, 4.0, 9.0)
    assert list(arrival_times(spec("trace", {"file": "t.csv"}, trace_times_s=trace), np.random.default_rng(0))) \
        == list(trace)
    shifted = spec("trace", {"file": "t.csv"}, start_s=10.0, stop_s=14.0, trace_times_s=trace)
    assert list(arrival_times(shifted, np.random.default_rng(0))) == [10.0, 11.5, 11.5, 14.0]


def test_trace_file_replays_times_and_applications_in_a_run(tmp_path: Path) -> None:
    """A CSV trace read by the scenario loader drives a run: job arrivals and applications are the rows'."""
    (tmp_path / "trace.csv").write_text("time_s,application\n0.5,small\n0.5,big\n2.25,small\n7.0,big\n")
    raw = {
        "simulation": {"seed": 3},
        "nodes": {"server": {"kind": "cpu", "slots": 2}},
        "models": {"m": {"devices": {"cpu": {"mean_s": 0.1}}}},
        "applications": {"small": {"stages": {"s": {"model": "m"}}}, "big": {"stages": {"s": {"model": "m"}}}},
        "arrivals": {"replay": {"process": "trace", "file": "trace.csv"}},
    }
    result = run(parse_scenario(raw, source=str(tmp_path / "trace.toml"), base_dir=tmp_path))
    assert list(result.jobs["arrival_s"]) == [0.5, 0.5, 2.25, 7.0]
    assert list(result.jobs["application"].astype(str)) == ["small", "big", "small", "big"]
    assert (result.jobs["state"] == "finished").all()


WINDOW_CASES: dict[str, dict[str, Any]] = {
    "poisson": {"rate_per_s": 3.0},
    "deterministic": {"rate_per_s": 3.0},
    "mmpp": {"rates_per_s": (1.0, 5.0), "mean_sojourn_s": (2.0, 2.0)},
    "on_off": {"rate_per_s": 6.0, "mean_on_s": 1.0, "mean_off_s": 1.0},
    "diurnal": {"rate_per_s": 3.0, "amplitude": 0.5, "period_s": 10.0, "phase_s": 0.0},
}


@pytest.mark.parametrize("process", sorted(WINDOW_CASES))
def test_start_and_stop_are_respected(process: str) -> None:
    """Every arrival lies in (start_s, stop_s]; the stream ends at stop_s; all have mean rate 3/s, so the
    200 s window holds about 600 arrivals (bound: 400..800; the burstiest streams here, mmpp and on_off, have
    an index of dispersion near 4 over 200 s, a standard error of about 48 arrivals)."""
    arrival = spec(process, WINDOW_CASES[process], start_s=100.0, stop_s=300.0)
    times = list(arrival_times(arrival, np.random.default_rng(11)))
    assert times == sorted(times)
    assert all(100.0 < time <= 300.0 for time in times)
    assert 400 <= len(times) <= 800


def test_start_and_stop_in_a_run() -> None:
    """Through a whole run: a stream with start_s and stop_s only creates jobs inside its window, and a
    second stream without them is unaffected."""
    raw = {
        "simulation": {"seed": 2, "horizon_s": 50.0},
        "nodes": {"server": {"kind": "cpu", "slots": 8}},
        "models": {"m": {"devices": {"cpu": {"mean_s": 0.01}}}},
        "applications": {"a": {"stages": {"s": {"model": "m"}}}, "b": {"stages": {"s": {"model": "m"}}}},
        "arrivals": {
            "windowed": {"application": "a", "process": "poisson", "rate_per_s": 5.0, "start_s": 10.0,
                         "stop_s": 20.0},
            "always": {"application": "b", "process": "deterministic", "rate_per_s": 1.0},
        },
    }
    jobs = run(parse_scenario(raw)).jobs
    windowed = jobs.loc[jobs["application"] == "a", "arrival_s"]
    assert len(windowed) > 20
    assert windowed.between(10.0, 20.0, inclusive="right").all()
    always = jobs.loc[jobs["application"] == "b", "arrival_s"].to_numpy()
    np.testing.assert_allclose(always, np.arange(1.0, 50.0))
