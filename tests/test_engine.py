"""The engine's `Environment` runs models exactly as ``simpy.Environment`` does (its documented `run` semantics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import simpy

from simulator.engine import Environment, event_queue, reusable_event, scheduler

EnvironmentFactory = Callable[[], simpy.Environment]
BOTH: list[EnvironmentFactory] = [simpy.Environment, Environment]


def _trace_of_processes(make_env: EnvironmentFactory, until: Any) -> tuple[list[tuple[float, str]], Any, float]:
    """A small model mixing processes, a shared resource, timeouts and callbacks; returns what happened."""
    env = make_env()
    log: list[tuple[float, str]] = []
    resource = simpy.Resource(env, capacity=2)

    def customer(name: str, arrive_s: float, service_s: float) -> Any:
        yield env.timeout(arrive_s)
        with resource.request() as request:
            yield request
            log.append((env.now, f"{name} starts"))
            yield env.timeout(service_s)
        log.append((env.now, f"{name} leaves"))
        return name

    for index in range(6):
        env.process(customer(f"c{index}", 0.5 * index, 1.0 + (index % 3)))
    ticker = env.timeout(2.25)
    ticker.callbacks.append(lambda event: log.append((env.now, "tick")))
    if until == "process":
        until = env.process(customer("last", 0.1, 4.0))
    value = env.run(until=until)
    return log, value, env.now


@pytest.mark.parametrize("until", [None, 3.0, 7, "process"])
def test_run_matches_simpy(until: Any) -> None:
    """Reference: SimPy's documented ``Environment.run(until)``: until None runs every event, a number stops
    before events at that time, an event returns its value. Same events in the same order, same clock."""
    expected = _trace_of_processes(simpy.Environment, until)
    assert _trace_of_processes(Environment, until) == expected


@pytest.mark.parametrize("make_env", BOTH)
def test_run_until_in_the_past_is_refused(make_env: EnvironmentFactory) -> None:
    env = make_env()
    env.run(until=2.0)
    with pytest.raises(ValueError, match="must be greater"):
        env.run(until=1.0)


@pytest.mark.parametrize("make_env", BOTH)
def test_until_event_never_triggered_is_an_error(make_env: EnvironmentFactory) -> None:
    env = make_env()
    with pytest.raises(RuntimeError, match="No scheduled events left"):
        env.run(until=env.event())


@pytest.mark.parametrize("make_env", BOTH)
def test_failed_event_crashes_the_run(make_env: EnvironmentFactory) -> None:
    """Reference: SimPy raises the exception of a failed event that no one defused."""
    env = make_env()
    env.timeout(1.0).callbacks.append(lambda event: env.event().fail(KeyError("lost")))
    with pytest.raises(KeyError, match="lost"):
        env.run()


def test_run_resumes_where_it_stopped() -> None:
    """Two runs to successive horizons process the same events as one run to the last horizon."""
    def fire_times(stops: list[float]) -> list[float]:
        env = Environment()
        times: list[float] = []
        schedule = scheduler(env)
        event = reusable_event(env)

        def rearm(fired: simpy.Event) -> None:
            times.append(env.now)
            event.callbacks = [rearm]
            schedule(event, 0.75)

        event.callbacks = [rearm]
        schedule(event, 0.75)
        for stop in stops:
            env.run(until=stop)
        return times

    assert fire_times([2.0, 5.0]) == fire_times([5.0]) == [0.75 * k for k in range(1, 7)]


def test_event_queue_is_simpys() -> None:
    env = Environment()
    queue, _ = event_queue(env)
    env.timeout(1.0)
    assert queue is env._queue and len(queue) == 1
    with pytest.raises(TypeError, match="simpy.Environment"):
        event_queue(object())  # type: ignore[arg-type]
