"""A thin layer over ``simpy.Environment``: reusable events for timers.

Creating a ``simpy.Timeout`` for every arrival and every completion allocates an object and runs its
constructor each time. Instead, an event that has fired is armed again (value and callbacks set, then
``Environment.schedule``): the event queue, the clock and ``run(until=...)`` stay SimPy's own; only the
allocation is saved. An event carries one pending occurrence at a time, so a node keeps one per slot and an
arrival stream one.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush

import simpy
from simpy.events import NORMAL

__all__ = ["NORMAL", "Scheduler", "reusable_event", "scheduler"]


Scheduler = Callable[[simpy.Event, float], None]


def scheduler(env: simpy.Environment) -> Scheduler:
    """A function ``schedule(event, delay_s)`` equivalent to ``env.schedule(event, NORMAL, delay_s)``.

    For SimPy's own ``Environment`` it pushes onto the event queue directly (what ``schedule`` does, minus a
    method call and an argument per event, which matters at a few million events per run).
    """
    queue = getattr(env, "_queue", None)
    event_ids = getattr(env, "_eid", None)
    if not isinstance(env, simpy.Environment) or not isinstance(queue, list) or event_ids is None:
        return lambda event, delay_s: env.schedule(event, NORMAL, delay_s)

    def schedule(event: simpy.Event, delay_s: float) -> None:
        heappush(queue, (env._now + delay_s, NORMAL, next(event_ids), event))

    return schedule


def reusable_event(env: simpy.Environment) -> simpy.Event:
    """An event marked successful, to be armed with ``event._value``, ``event.callbacks`` and
    ``env.schedule(event, NORMAL, delay)``; it may be armed again once it has fired."""
    event = simpy.Event(env)
    event._ok = True
    return event
