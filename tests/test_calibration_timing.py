"""The harness's timing and statistics code, driven by a fake model and a fake clock (no torch needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.calibration.timing import TimingPlan, WallTimer, latency_stats, measure

pytestmark = pytest.mark.unit


class FakeModel:
    """A 'model' whose calls take scripted durations on a fake clock, and records synchronisations."""

    def __init__(self, durations_s: list[float]) -> None:
        self.durations_s = list(durations_s)
        self.now = 0.0
        self.calls = 0
        self.log: list[str] = []

    def clock(self) -> float:
        return self.now

    def __call__(self) -> None:
        self.now += self.durations_s[self.calls % len(self.durations_s)]
        self.calls += 1
        self.log.append("call")

    def synchronize(self) -> None:
        self.log.append("sync")


def test_warmup_calls_are_not_timed() -> None:
    model = FakeModel([5.0, 5.0, 1.0, 2.0, 3.0])
    stats = measure(model, WallTimer(model.clock), TimingPlan(warmup_reps=2, min_reps=3, max_reps=3))
    assert model.calls == 5
    assert stats.samples_s == (1.0, 2.0, 3.0)


def test_repetitions_stop_at_the_time_budget_once_the_minimum_is_done() -> None:
    model = FakeModel([1.0])
    stats = measure(model, WallTimer(model.clock), TimingPlan(warmup_reps=0, min_reps=2, max_reps=100, max_time_s=5))
    assert stats.n_reps == 5
    slow = FakeModel([10.0])
    stats = measure(slow, WallTimer(slow.clock), TimingPlan(warmup_reps=0, min_reps=4, max_reps=100, max_time_s=5))
    assert stats.n_reps == 4  # the minimum wins over the budget
    fast = FakeModel([0.001])
    stats = measure(fast, WallTimer(fast.clock), TimingPlan(warmup_reps=0, min_reps=1, max_reps=7, max_time_s=5))
    assert stats.n_reps == 7  # the maximum wins over the budget


def test_the_device_is_synchronised_around_every_timed_call() -> None:
    model = FakeModel([1.0])
    measure(model, WallTimer(model.clock, synchronize=model.synchronize),
            TimingPlan(warmup_reps=1, min_reps=2, max_reps=2))
    assert model.log == ["call", "sync", "call", "sync", "sync", "call", "sync"]


def test_before_each_and_pause_run_untimed_before_every_timed_call() -> None:
    model = FakeModel([1.0])
    slept: list[float] = []

    def evict() -> None:
        model.log.append("evict")
        model.now += 100.0  # must not count

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        model.now += seconds

    stats = measure(model, WallTimer(model.clock), TimingPlan(warmup_reps=1, min_reps=2, max_reps=2, pause_s=0.25),
                    before_each=evict, sleep=sleep)
    assert stats.samples_s == (1.0, 1.0)
    assert model.log == ["call", "evict", "call", "evict", "call"]
    assert slept == [0.25, 0.25]


def test_statistics_of_known_samples() -> None:
    samples = list(np.arange(1, 101, dtype=float) / 1000)  # 1 ms .. 100 ms
    stats = latency_stats(samples)
    assert stats.n_reps == 100
    assert stats.mean_s == pytest.approx(0.0505)
    assert stats.p50_s == pytest.approx(0.0505)
    assert stats.p95_s == pytest.approx(0.09505)
    assert stats.p99_s == pytest.approx(0.09901)
    assert (stats.min_s, stats.max_s) == (0.001, 0.1)
    assert stats.std_s == pytest.approx(np.std(samples, ddof=1))
    assert stats.cv == pytest.approx(stats.std_s / stats.mean_s)
    assert stats.spread == pytest.approx((0.09505 - 0.0505) / 0.0505)


def test_one_sample_has_no_spread_and_bad_samples_are_refused() -> None:
    stats = latency_stats([0.5])
    assert stats.std_s == 0.0 and stats.p99_s == 0.5
    with pytest.raises(ValueError, match="no latency samples"):
        latency_stats([])
    with pytest.raises(ValueError, match="finite and >= 0"):
        latency_stats([0.1, math.nan])
    with pytest.raises(ValueError, match="finite and >= 0"):
        latency_stats([-0.1])


@pytest.mark.parametrize("plan", [dict(min_reps=0), dict(min_reps=5, max_reps=4), dict(max_time_s=0),
                                  dict(warmup_reps=-1), dict(pause_s=-1)])
def test_invalid_plans_are_refused(plan: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid timing plan"):
        TimingPlan(**plan)  # type: ignore[arg-type]
