"""Regression tests of arrival streams and trace files: per-application endpoints of trace rows, trace files
that are unreadable or hold impossible times, and arrival parameters that would make a stream spin forever.

Each bad input must end in a `ScenarioError` naming the file and the field (the CLI prints it and exits 2),
never in a traceback, a hang or a silent inf/NaN.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from simulator import arrivals as arrivals_module
from simulator import parse_scenario, run
from simulator.arrivals import arrival_times
from simulator.cli import main
from simulator.config import ArrivalSpec
from simulator.errors import ScenarioError, UserInputError

pytestmark = pytest.mark.unit

SERVICE_S = 0.001
# Two sources with links of known latency and bandwidth to the one server; results stay on the server.
ENDPOINTS_RAW: dict[str, Any] = {
    "simulation": {"seed": 1},
    "nodes": {"server": {"kind": "cpu", "slots": 4}},
    "network": {
        "switches": ["site_a", "site_b"],
        "links": {
            "a": {"endpoints": ["site_a", "server"], "latency_s": 0.01, "bandwidth_bytes_per_s": 1e6},
            "b": {"endpoints": ["site_b", "server"], "latency_s": 0.05, "bandwidth_bytes_per_s": 1e7},
        },
    },
    "models": {"m": {"distribution": "deterministic", "devices": {"cpu": {"mean_s": SERVICE_S}}}},
    "applications": {
        "small": {"source": "site_a", "sink": "server", "input_bytes": 1.1e6, "stages": {"s": {"model": "m"}}},
        "big": {"source": "site_b", "sink": "server", "input_bytes": 2e6, "stages": {"s": {"model": "m"}}},
    },
    "arrivals": {"replay": {"process": "trace", "file": "trace.csv"}},
}
LINKS = {"site_a": (0.01, 1e6), "site_b": (0.05, 1e7)}
INPUT_BYTES = {"small": 1.1e6, "big": 2e6}


def _expected_response_s(application: str, source: str) -> float:
    latency_s, bandwidth = LINKS[source]
    return latency_s + INPUT_BYTES[application] / bandwidth + SERVICE_S


def _run_trace(tmp_path: Path, raw: dict[str, Any], rows: str) -> Any:
    (tmp_path / "trace.csv").write_text("time_s,application\n" + rows)
    return run(parse_scenario(raw, source=str(tmp_path / "trace.toml"), base_dir=tmp_path))


def test_trace_rows_use_their_own_applications_source(tmp_path: Path) -> None:
    """Rows of a trace naming applications send each job's input from its own application's source: response
    time = latency + input_bytes / bandwidth + service, i.e. 0.01 + 1.1e6 / 1e6 + 0.001 = 1.111 s for `small`
    (from site_a) and 0.05 + 2e6 / 1e7 + 0.001 = 0.251 s for `big` (from site_b). Before the fix the stream had
    no endpoints at all and every job took 0.001 s."""
    result = _run_trace(tmp_path, ENDPOINTS_RAW, "0.0,small\n0.0,big\n5.0,big\n10.0,small\n")
    jobs = result.jobs
    assert list(jobs["application"].astype(str)) == ["small", "big", "big", "small"]
    assert list(jobs["arrival_s"]) == [0.0, 0.0, 5.0, 10.0]
    sources = {"small": "site_a", "big": "site_b"}
    for application, response_s in zip(jobs["application"].astype(str), jobs["response_s"], strict=True):
        assert response_s == pytest.approx(_expected_response_s(application, sources[application]), rel=1e-9)


def test_trace_stream_with_explicit_source_overrides_every_application(tmp_path: Path) -> None:
    """A trace stream that sets `source` sends every row's input from there, whatever the row's application:
    both applications' inputs come over link b (0.05 s, 1e7 bytes/s)."""
    raw = copy.deepcopy(ENDPOINTS_RAW)
    raw["arrivals"]["replay"]["source"] = "site_b"
    raw["arrivals"]["replay"]["sink"] = "server"
    result = _run_trace(tmp_path, raw, "0.0,small\n5.0,big\n")
    for application, response_s in zip(result.jobs["application"].astype(str), result.jobs["response_s"],
                                        strict=True):
        assert response_s == pytest.approx(_expected_response_s(application, "site_b"), rel=1e-9)


def test_single_application_trace_without_stream_application_uses_its_endpoints(tmp_path: Path) -> None:
    """A trace stream without `application` whose rows all name `small` still moves small's input from
    site_a (before the fix: no endpoints, 0.001 s)."""
    result = _run_trace(tmp_path, ENDPOINTS_RAW, "0.0,small\n")
    assert result.jobs["response_s"].iloc[0] == pytest.approx(_expected_response_s("small", "site_a"), rel=1e-9)


# ----------------------------------------------------------------------------------------------------------
# Trace files

MINIMAL_TRACE_RAW: dict[str, Any] = {
    "simulation": {"seed": 1},
    "nodes": {"server": {"kind": "cpu"}},
    "models": {"m": {"devices": {"cpu": {"mean_s": 0.1}}}},
    "applications": {"app": {"stages": {"s": {"model": "m"}}}},
    "arrivals": {"replay": {"application": "app", "process": "trace", "file": "trace.csv"}},
}


def _trace_problems(tmp_path: Path, raw: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(raw or MINIMAL_TRACE_RAW, source=str(tmp_path / "s.toml"), base_dir=tmp_path)
    return caught.value.problems


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", "-1", "2e9", "soon", "-inf"])
def test_trace_time_outside_the_documented_range_is_refused(tmp_path: Path, value: str) -> None:
    """A time_s of inf, nan, 1e400 (inf once parsed), a negative time, one above MAX_TIME_S (1e9 s) or no
    number at all is refused with a message naming the trace file, line 3 and the time_s column."""
    (tmp_path / "trace.csv").write_text(f"time_s\n0.5\n{value}\n")
    (problem,) = _trace_problems(tmp_path)
    assert "arrivals.replay.file" in problem and str(tmp_path / "trace.csv") in problem
    assert "line 3: time_s" in problem and "[0, 1e+09]" in problem and repr(value) in problem


def test_trace_file_not_utf8_or_a_directory_is_named(tmp_path: Path) -> None:
    """A trace that is not UTF-8, or a directory, gives a message naming it (read through read_user_text)."""
    (tmp_path / "trace.csv").write_bytes(b"time_s\n0.5\xff\n")
    (problem,) = _trace_problems(tmp_path)
    assert "trace.csv" in problem and "not UTF-8" in problem
    (tmp_path / "trace.csv").unlink()
    (tmp_path / "trace.csv").mkdir()
    (problem,) = _trace_problems(tmp_path)
    assert "trace.csv" in problem and "directory" in problem


def test_trace_with_broken_csv_is_refused(tmp_path: Path) -> None:
    """A field longer than the csv module's limit (131,072 characters) makes it fail: reported with file and
    line, not raised."""
    (tmp_path / "trace.csv").write_text("time_s\n0.5\n" + "1" * 200_000 + "\n")
    (problem,) = _trace_problems(tmp_path)
    assert "trace.csv" in problem and "not valid CSV" in problem


def test_trace_with_header_and_no_rows_warns_and_the_run_ends(tmp_path: Path) -> None:
    """A header without rows is a warning (naming file and field); the run then has no arrivals and ends
    cleanly with empty job and task tables."""
    (tmp_path / "trace.csv").write_text("time_s,application\n")
    scenario = parse_scenario(MINIMAL_TRACE_RAW, source=str(tmp_path / "s.toml"), base_dir=tmp_path)
    (warning,) = scenario.warnings
    assert "arrivals.replay.file" in warning and "no rows" in warning
    result = run(scenario)
    assert len(result.jobs) == 0 and len(result.tasks) == 0


def test_cli_reports_bad_trace_with_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: the CLI prints `error: ...` naming the trace and exits 2 for a trace time of 1e400."""
    (tmp_path / "trace.csv").write_text("time_s\n1e400\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text('[nodes.server]\nkind = "cpu"\n[models.m.devices.cpu]\nmean_s = 0.1\n'
                        '[applications.app.stages.s]\nmodel = "m"\n'
                        '[arrivals.replay]\napplication = "app"\nprocess = "trace"\nfile = "trace.csv"\n')
    assert main(["run", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "trace.csv line 2: time_s" in err


# ----------------------------------------------------------------------------------------------------------
# Arrival parameters: documented ranges, and no loop that can spin forever

POISSON_RAW: dict[str, Any] = {
    "simulation": {"seed": 1, "max_jobs": 10},
    "nodes": {"server": {"kind": "cpu"}},
    "models": {"m": {"devices": {"cpu": {"mean_s": 0.1}}}},
    "applications": {"app": {"stages": {"s": {"model": "m"}}}},
}

BAD_ARRIVALS = [
    ({"process": "poisson", "rate_per_s": 5e-324}, "rate_per_s"),
    ({"process": "poisson", "rate_per_s": 1e308}, "rate_per_s"),
    ({"process": "deterministic", "rate_per_s": math.inf}, "rate_per_s"),
    ({"process": "on_off", "rate_per_s": 1.0, "mean_on_s": 5e-324, "mean_off_s": 1.0}, "mean_on_s"),
    ({"process": "on_off", "rate_per_s": 1.0, "mean_on_s": 1.0, "mean_off_s": 1e300}, "mean_off_s"),
    ({"process": "on_off", "rate_per_s": 1e-6, "mean_on_s": 1e-6, "mean_off_s": 1.0}, "mean_on_s"),
    ({"process": "diurnal", "rate_per_s": 1.0, "amplitude": 0.5, "period_s": 5e-324}, "period_s"),
    ({"process": "diurnal", "rate_per_s": 1e308, "amplitude": 0.5, "period_s": 10.0}, "rate_per_s"),
    ({"process": "diurnal", "rate_per_s": 5e-324, "amplitude": 0.5, "period_s": 10.0}, "rate_per_s"),
    ({"process": "diurnal", "rate_per_s": 1.0, "amplitude": 0.5, "period_s": 10.0, "phase_s": 1e300}, "phase_s"),
    ({"process": "mmpp", "rates_per_s": [1e308, 1.0], "mean_sojourn_s": [1.0, 1.0]}, "rates_per_s"),
    ({"process": "mmpp", "rates_per_s": [5e-324, 1.0], "mean_sojourn_s": [1.0, 1.0]}, "rates_per_s"),
    ({"process": "mmpp", "rates_per_s": [1.0, 0.0], "mean_sojourn_s": [5e-324, 1.0]}, "mean_sojourn_s"),
    ({"process": "mmpp", "rates_per_s": [1.0, 0.0], "mean_sojourn_s": [1.0, math.inf]}, "mean_sojourn_s"),
    ({"process": "mmpp", "rates_per_s": [1e-6, 0.0], "mean_sojourn_s": [1e-6, 1.0]}, "rates_per_s"),
    ({"process": "poisson", "rate_per_s": 1.0, "start_s": math.inf}, "start_s"),
    ({"process": "poisson", "rate_per_s": 1.0, "start_s": 1e300}, "start_s"),
    ({"process": "poisson", "rate_per_s": 1.0, "stop_s": -1.0}, "stop_s"),
    ({"process": "poisson", "rate_per_s": 1.0, "stop_s": math.nan}, "stop_s"),
]


@pytest.mark.parametrize(("table", "field"), BAD_ARRIVALS, ids=lambda x: str(x))
def test_arrival_fields_outside_their_range_are_refused(table: dict[str, Any], field: str) -> None:
    """Every numeric arrival field has a documented range (rates in [1e-6, 1e6] per s, durations in
    [1e-6, 1e9] s, times in [0, 1e9] s, at least 1e-3 expected arrivals per MMPP or on/off cycle); a value
    outside it is refused naming the field, instead of a stream that never advances or never yields."""
    raw = {**POISSON_RAW, "arrivals": {"users": {"application": "app", **table}}}
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(raw, source="s.toml")
    assert any(f"s.toml: arrivals.users.{field}" in problem for problem in caught.value.problems), \
        caught.value.problems


def test_stop_before_start_warns() -> None:
    """stop_s <= start_s is valid but makes no arrivals: a warning names the field."""
    raw = {**POISSON_RAW, "arrivals": {"users": {"application": "app", "process": "poisson", "rate_per_s": 1.0,
                                                 "start_s": 10.0, "stop_s": 5.0}}}
    scenario = parse_scenario(raw, source="s.toml")
    assert any("arrivals.users.stop_s" in warning for warning in scenario.warnings)


def _spec(process: str, params: dict[str, Any], start_s: float = 0.0) -> ArrivalSpec:
    return ArrivalSpec(name="stream", application="app", process=process, params=params, source=None, sink=None,
                       start_s=start_s)


def test_mmpp_without_arrivals_stops_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An on/off stream (built directly, past the scenario's checks) whose on periods are far too short for an
    arrival ends with a UserInputError naming the stream after the cycle budget, instead of spinning."""
    monkeypatch.setattr(arrivals_module, "MAX_CYCLES_WITHOUT_ARRIVAL", 1000)
    times = arrival_times(_spec("on_off", {"rate_per_s": 1e-6, "mean_on_s": 1e-6, "mean_off_s": 1.0}),
                          np.random.default_rng(0))
    with pytest.raises(UserInputError, match="arrivals.stream: no arrival in 1,000 cycles"):
        next(times)


def test_diurnal_deep_trough_costs_few_candidates() -> None:
    """Rate 1e5/s, amplitude 1, period 1e6 s, starting at the trough: the first arrival comes after about
    (6 / (rate omega^2))^(1/3) = 115 s, i.e. 2.3e7 candidates at the peak rate (tens of seconds of thinning
    before the fix). Bounding the rate per 1/64 of the period makes it about 5e4: well under a second."""
    period = 1e6
    arrival = _spec("diurnal", {"rate_per_s": 1e5, "amplitude": 1.0, "period_s": period, "phase_s": 0.0},
                    start_s=0.75 * period)
    started = time.perf_counter()
    first = list(itertools.islice(arrival_times(arrival, np.random.default_rng(2)), 10))
    assert time.perf_counter() - started < 5.0
    assert first == sorted(first) and first[0] > 0.75 * period


def test_diurnal_with_segment_bounds_matches_the_sinusoid() -> None:
    """Segmented thinning is still exact: rate 20 (1 + 0.9 sin(2 pi (t - 3) / 50)) per s (peak x period =
    1900 > 256, so the per-segment bounds are used) over 100 periods, counted in 10 phase bins: chi-square
    with 10 degrees of freedom at p > 0.001 and every bin within 10% (the smallest bin expects about 1,300
    arrivals, a standard error under 3%)."""
    rate, amplitude, period, phase, n_periods, n_bins = 20.0, 0.9, 50.0, 3.0, 100, 10
    arrival = _spec("diurnal", {"rate_per_s": rate, "amplitude": amplitude, "period_s": period, "phase_s": phase})
    end_s = n_periods * period
    times = np.fromiter(itertools.takewhile(lambda t: t <= end_s, arrival_times(arrival, np.random.default_rng(5))),
                        dtype=float)
    fractions = ((times - phase) % period) / period
    observed = np.bincount((fractions * n_bins).astype(int), minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    expected = n_periods * rate * period * (
        np.diff(edges) + amplitude * (np.cos(2 * np.pi * edges[:-1]) - np.cos(2 * np.pi * edges[1:])) / (2 * np.pi))
    statistic = float(((observed - expected) ** 2 / expected).sum())
    assert stats.chi2.sf(statistic, df=n_bins) > 0.001, (observed, expected)
    np.testing.assert_allclose(observed, expected, rtol=0.10)


def test_stream_counts_count_one_stream_per_application_of_a_trace(tmp_path: Path) -> None:
    """`streams(name)` in experiment files: a trace naming two applications is two streams."""
    from simulator.capacity import stream_counts

    (tmp_path / "trace.csv").write_text("time_s,application\n0.0,small\n1.0,big\n")
    scenario = parse_scenario(ENDPOINTS_RAW, source=str(tmp_path / "trace.toml"), base_dir=tmp_path)
    assert stream_counts(scenario) == {"replay": 2}
