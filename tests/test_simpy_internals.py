"""The SimPy internals that `simulator.engine` relies on for speed, checked against the installed SimPy.

pyproject.toml pins the SimPy minor version these tests pass with. When a SimPy release changes one of
these, the test names what changed so that engine.py (or the pin) can be updated knowingly.
"""

from __future__ import annotations

import itertools

import simpy
from simpy.events import NORMAL, URGENT

RELIES_ON = ("simulator/engine.py pushes events onto SimPy's heap in place and reads private attributes; "
             f"simpy {simpy.__version__} differs from what it expects: ")


def test_environment_keeps_a_heap_of_time_priority_id_event():
    """``Environment.schedule`` pushes ``(time, priority, id, event)`` onto ``env._queue`` (a list used as a
    heap), ids come from ``env._eid`` (an ``itertools.count``) and the clock is ``env._now``."""
    env = simpy.Environment(initial_time=2.5)
    assert isinstance(getattr(env, "_queue", None), list), RELIES_ON + "env._queue is not a list"
    assert isinstance(getattr(env, "_eid", None), itertools.count), RELIES_ON + "env._eid is not a counter"
    assert getattr(env, "_now", None) == 2.5, RELIES_ON + "env._now is not the clock"
    event = simpy.Event(env)
    env.schedule(event, NORMAL, 1.0)
    entry = env._queue[0]
    assert len(entry) == 4 and entry[0] == 3.5 and entry[1] == NORMAL and entry[3] is event, (
        RELIES_ON + f"a queue entry is {entry!r}, not (time, priority, id, event)")
    assert isinstance(entry[2], int) and next(env._eid) == entry[2] + 1, RELIES_ON + "event ids are not sequential"
    assert URGENT < NORMAL, RELIES_ON + "URGENT no longer sorts before NORMAL"


def test_an_event_is_triggered_through_ok_value_and_callbacks():
    """A successful event is ``_ok = True`` with ``_value``; processing it sets ``callbacks`` to None after
    calling them, and ``env.step`` reads exactly these (the engine's inlined loop does the same)."""
    env = simpy.Environment()
    event = simpy.Event(env)
    seen = []
    event._ok = True
    event._value = "payload"
    event.callbacks.append(lambda fired: seen.append(fired.value))
    env.schedule(event, NORMAL, 0.5)
    env.step()
    assert seen == ["payload"] and event.callbacks is None and env.now == 0.5, (
        RELIES_ON + "an armed event is not processed from _ok, _value and callbacks")
    assert hasattr(simpy.core, "StopSimulation") and hasattr(simpy.core.StopSimulation, "callback"), (
        RELIES_ON + "simpy.core.StopSimulation.callback is gone")
