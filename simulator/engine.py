"""A thin layer over ``simpy.Environment``: reusable events for timers.

Creating a ``simpy.Timeout`` for every arrival and every completion allocates an object and runs its
constructor each time. Instead, an event that has fired is armed again (value and callbacks set, then
``Environment.schedule``): the event queue, the clock and ``run(until=...)`` stay SimPy's own; only the
allocation is saved. An event carries one pending occurrence at a time, so a node keeps one per slot and an
arrival stream one.

On the paths taken for every job (an arrival, a task's completion) the event is pushed onto SimPy's queue
in place, ``heappush(queue, (env._now + delay, NORMAL, next(event_ids), event))`` with ``queue, event_ids =
event_queue(env)``: exactly what ``Environment.schedule`` does, without the two function calls. For the same
reason `Environment.run` processes events in one loop rather than calling ``step()`` per event. A Python
call costs about as much as a dozen lines of simple code here, and a run processes millions of events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT

__all__ = ["NORMAL", "Environment", "Scheduler", "event_queue", "reusable_event", "scheduled_times", "scheduler"]


class Environment(simpy.Environment):
    """SimPy's environment, with `run` doing what ``simpy.Environment.run`` does (the same ``until``
    semantics, the same order of events, failed events crash the run) with the body of ``step`` inlined."""

    def run(self, until: float | simpy.Event | None = None) -> Any:
        if until is not None:
            if not isinstance(until, simpy.Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self._now:
                    raise ValueError(f"until ({at}) must be greater than the current simulation time")
                until = simpy.Event(self)
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self._now)
            elif until.callbacks is None:
                return until.value
            until.callbacks.append(StopSimulation.callback)
        queue = self._queue
        try:
            while queue:
                self._now, _, _, event = heappop(queue)
                callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:  # as in step(): the remaining callbacks run when the run resumes
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    self.schedule(event, -1)  # type: ignore[arg-type]
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    error = type(event._value)(*event._value.args)
                    error.__cause__ = event._value
                    raise error
        except StopSimulation as stop:
            return stop.args[0]
        if until is not None:
            raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {until}')
        return None


Scheduler = Callable[[simpy.Event, float], None]
EventQueue = list[tuple[float, int, int, simpy.Event]]


def event_queue(env: simpy.Environment) -> tuple[EventQueue, Iterator[int]]:
    """SimPy's event queue (a heap of ``(time, priority, event id, event)``) and its event-id counter."""
    queue = getattr(env, "_queue", None)
    event_ids = getattr(env, "_eid", None)
    if not isinstance(env, simpy.Environment) or not isinstance(queue, list) or event_ids is None:
        raise TypeError(f"expected a simpy.Environment with its event queue, got {type(env).__name__}")
    return queue, event_ids


def scheduler(env: simpy.Environment) -> Scheduler:
    """A function ``schedule(event, delay_s)`` equivalent to ``env.schedule(event, NORMAL, delay_s)``."""
    queue, event_ids = event_queue(env)

    def schedule(event: simpy.Event, delay_s: float) -> None:
        heappush(queue, (env._now + delay_s, NORMAL, next(event_ids), event))

    return schedule


def reusable_event(env: simpy.Environment) -> simpy.Event:
    """An event marked successful, to be armed with ``event._value``, ``event.callbacks`` and
    ``env.schedule(event, NORMAL, delay)``; it may be armed again once it has fired."""
    event = simpy.Event(env)
    event._ok = True
    return event


def scheduled_times(env: simpy.Environment, events: list[simpy.Event]) -> list[float]:
    """The time each of ``events`` is scheduled to fire at, read off one scan of the event queue: for rare
    operations (a node taken down), never for every job. Raises ValueError for an event that is not scheduled."""
    queue, _ = event_queue(env)
    wanted = {id(event) for event in events}
    times = {id(event): at for at, _, _, event in queue if id(event) in wanted}
    missing = wanted - times.keys()
    if missing:
        raise ValueError(f"{len(missing)} of the events asked about are not scheduled")
    return [times[id(event)] for event in events]
