"""Compute nodes: parallel slots, a FIFO or priority queue, and the state that policies estimate from.

A node runs at most ``slots`` tasks at once. Each slot owns one reusable SimPy event that fires when its task
completes (tasks are data, not processes), so a task costs one scheduled event and no allocation.

`ModelServerNode` is a node that serves models as model servers do (dynamic batching, models resident in a
limited memory). It is used only for nodes that batch or whose memory limits residency, so a plain node's path
stays as short as above; `build_nodes` makes the right kind for each node of a scenario.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import simpy

from simulator.config import NodeSpec, Scenario, memory_limits_residency
from simulator.config.specs import eligible_node_names
from simulator.costs import ServiceTimeModel
from simulator.engine import NORMAL, event_queue, reusable_event, scheduled_times, scheduler
from simulator.workload import Task


class Node:
    """A compute node in a run.

    ``load`` counts tasks assigned and not finished (transferring, queued or running); ``backlog_s`` is the
    sum of their service times as their ``exec_s`` gives them (expected, or known when sizes are), from which
    policies estimate when the node can start new work.

    Lifecycle (docs/dynamics.md): ``up``, `queued_tasks`, `remove`, `drain` and `start_with` let the dynamics
    layer take work off a node and put it back. A run without dynamics calls none of them, and they add nothing
    to `enqueue` or to the completion callbacks. A slot's pending completion is cancelled by detaching its event
    (its callbacks become an empty list, so it fires into nothing) and giving the slot a new one.
    """

    up = True
    """Whether the node is up; the dynamics layer sets it on the instance while the node is down."""

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        self.env = env
        self.index = index
        self.spec = spec
        self.slots = spec.slots
        self.load = 0
        self.backlog_s = 0.0
        self.running_start_sum_s = 0.0
        self._on_task_done = on_task_done
        self._priority = spec.queue == "priority"
        self._fifo: deque[Task] = deque()
        self._heap: list[tuple[float, int, Task]] = []
        self._sequence = itertools.count()
        self._idle_events = [reusable_event(env) for _ in range(spec.slots)]
        self._slot_events = list(self._idle_events)
        """Every slot's current event, busy or idle (the lifecycle methods find running tasks through it)."""
        self._completion_callbacks: list[Callable[[Any], None]] = [self._on_complete]
        self._queue, self._event_ids = event_queue(env)  # completions are pushed in place (see engine)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def busy(self) -> int:
        """Slots serving a task (or a batch) now: each free slot keeps its completion event in ``_idle_events``."""
        return self.slots - len(self._idle_events)

    @property
    def queue_length(self) -> int:
        """Tasks waiting at the node for a free slot."""
        return len(self._heap) if self._priority else len(self._fifo)

    @property
    def free_slots(self) -> int:
        """Slots neither serving a task nor claimed by one waiting at the node."""
        return len(self._idle_events)

    @property
    def free_memory_bytes(self) -> float:
        """Memory (bytes) nothing holds: a node that neither holds models nor runs demanding tasks has it all."""
        return self.spec.memory_bytes

    def expected_ready_time_s(self) -> float:
        """When a task assigned now is expected to start: now if a slot is free for it, otherwise now plus
        the remaining work ahead of it spread over the slots."""
        now = self.env.now
        if self.load < self.slots:
            return now
        return now + self.work_left_s() / self.slots

    def work_left_s(self) -> float:
        """Service the tasks assigned here and not finished still need (in transfer, queued, the rest of running
        ones): the backlog less the service running tasks have received. Expected, or exact when task sizes are
        known (`simulator.sizes`: the backlog then sums known service times)."""
        return max(0.0, self.backlog_s - (self.busy * self.env._now - self.running_start_sum_s))

    def enqueue(self, task: Task) -> None:
        """A task whose inputs have arrived: start it if a slot is free, else queue it."""
        if self._idle_events:  # a slot is free
            now = self.env._now
            task.start_s = now
            self.running_start_sum_s += now
            event = self._idle_events.pop()
            event._value = task
            event.callbacks = self._completion_callbacks
            heapq.heappush(self._queue, (now + task.samplers[self.index](),  # type: ignore[misc]
                                         NORMAL, next(self._event_ids), event))
        elif self._priority:
            heapq.heappush(self._heap, (task.job.priority, next(self._sequence), task))
        else:
            self._fifo.append(task)

    def _on_complete(self, event: simpy.Event) -> None:
        task: Task = event._value
        now = self.env._now
        task.finish_s = now
        self.load -= 1
        self.backlog_s -= task.exec_s[self.index]
        if self._priority:
            following = heapq.heappop(self._heap)[2] if self._heap else None
        else:
            following = self._fifo.popleft() if self._fifo else None
        if following is not None:  # the slot goes to the next task: re-arm the same event for it
            following.start_s = now
            self.running_start_sum_s += now - task.start_s
            event._value = following
            event.callbacks = self._completion_callbacks
            heapq.heappush(self._queue, (now + following.samplers[self.index](),  # type: ignore[misc]
                                         NORMAL, next(self._event_ids), event))
        else:
            self.running_start_sum_s -= task.start_s
            self._idle_events.append(event)
        self._on_task_done(task)

    def _start(self, task: Task, service_s: float, event: simpy.Event) -> None:
        """Start ``task`` now on the slot of ``event`` for ``service_s`` (NaN: a draw from its stage's sampler)."""
        now = self.env._now
        task.start_s = now
        self.running_start_sum_s += now
        if service_s != service_s:
            service_s = task.samplers[self.index]()  # type: ignore[misc]
        event._value = task
        event.callbacks = self._completion_callbacks
        heapq.heappush(self._queue, (now + service_s, NORMAL, next(self._event_ids), event))

    # -- lifecycle (docs/dynamics.md): called by the dynamics layer only ---------------------------------------

    def queued_tasks(self) -> list[Task]:
        """Tasks waiting at the node (not started), in the order they would start."""
        if self._priority:
            return [task for _, _, task in sorted(self._heap)]
        return list(self._fifo)

    def remove(self, task: Task) -> float:
        """Take a queued or running task off the node without calling back: ``load`` and ``backlog_s`` drop, its
        completion never fires and a freed slot goes to the next waiting task at once. The task's own times are
        left as they are. Returns the service it had received (0 for a task that had none).

        Raises:
            ValueError: The task is neither queued nor running here.
        """
        event = self._running_event(task)
        if event is None:
            received_s = self._take_queued(task)
        else:
            received_s = self._end_service(event)
            self._slot_freed(self._renewed(event))
        self._forget([task])
        return received_s

    def drain(self) -> tuple[list[tuple[Task, float, float]], list[Task]]:
        """Take everything off the node at once (it has failed): ``(task, received_s, remaining_s)`` per task in
        service and the queued tasks in the order they would have started. Nothing starts; the node is left
        empty and reusable, with new slot events, ``load`` and ``backlog_s`` reduced by these tasks (tasks still
        in transfer to it stay counted). The remaining service is read off one scan of the event queue."""
        now = self.env._now
        busy = self._busy_events()
        running = []
        for event, due_s in zip(busy, scheduled_times(self.env, busy), strict=True):
            task, received_s, left_after_s = self._service_of(event, now)
            running.append((task, received_s, due_s - now + left_after_s))
            event.callbacks = []
        running += self._started_waiting()
        queued = self.queued_tasks()
        self._empty(now)
        fresh = [reusable_event(self.env) for _ in range(self.slots)]
        self._idle_events[:] = fresh
        self._slot_events[:] = fresh
        self._forget([task for task, _, _ in running] + queued)
        return running, queued

    def _forget(self, tasks: list[Task]) -> None:
        """Take ``tasks`` off ``load`` and ``backlog_s``."""
        index = self.index
        for task in tasks:
            self.load -= 1
            self.backlog_s -= task.exec_s[index]

    def start_with(self, task: Task, service_s: float) -> None:
        """Start ``task`` now on a free slot for exactly ``service_s`` (a resumed task's remaining service); the
        caller has added it to ``load`` and ``backlog_s``, as for `enqueue`.

        Raises:
            RuntimeError: No slot is free.
        """
        self._start(task, service_s, self._free_event())

    def _free_event(self) -> simpy.Event:
        if not self._idle_events:
            raise RuntimeError(f"node {self.name}: start_with needs a free slot and none is free")
        return self._idle_events.pop()

    def _busy_events(self) -> list[simpy.Event]:
        idle = {id(event) for event in self._idle_events}
        return [event for event in self._slot_events if id(event) not in idle]

    def _running_event(self, task: Task) -> simpy.Event | None:
        for event in self._busy_events():
            if self._service_of(event, self.env._now)[0] is task:
                return event
        return None

    def _renewed(self, event: simpy.Event) -> simpy.Event:
        """A new event for the slot of ``event``, whose pending occurrence is detached so that it fires into
        nothing (a scheduled event cannot be taken off SimPy's queue)."""
        event.callbacks = []
        fresh = reusable_event(self.env)
        self._slot_events[self._slot_events.index(event)] = fresh
        return fresh

    def _service_of(self, event: simpy.Event, now: float) -> tuple[Task, float, float]:
        """The task a busy slot event serves, the service it has received by ``now`` and the service it will
        still need once the event fires (0: the event is its completion)."""
        task: Task = event._value
        return task, now - task.start_s, 0.0

    def _end_service(self, event: simpy.Event) -> float:
        """Account for the running task of ``event`` leaving its slot; returns the service it had received."""
        task: Task = event._value
        self.running_start_sum_s -= task.start_s
        return self.env._now - task.start_s

    def _slot_freed(self, event: simpy.Event) -> None:
        """The slot of ``event`` is free: the next waiting task starts on it, or it goes idle."""
        if self._priority:
            following = heapq.heappop(self._heap)[2] if self._heap else None
        else:
            following = self._fifo.popleft() if self._fifo else None
        if following is None:
            self._idle_events.append(event)
        else:
            self._start(following, math.nan, event)

    def _take_queued(self, task: Task) -> float:
        """Take a waiting task out of the queue; returns the service it had received (0 here)."""
        if self._priority:
            take_from_heap(self._heap, task, 2, self.name)
        else:
            try:
                self._fifo.remove(task)
            except ValueError:
                raise not_at_node(task, self.name) from None
        return 0.0

    def _started_waiting(self) -> list[tuple[Task, float, float]]:
        """Waiting tasks that have already had service, as ``(task, received_s, remaining_s)`` (none here)."""
        return []

    def _empty(self, now: float) -> None:
        """Clear the queue and reset the counters of running and queued work to an empty node's."""
        self._fifo.clear()
        self._heap.clear()
        self.running_start_sum_s = 0.0


def not_at_node(task: Task, node: str) -> ValueError:
    """The error of a lifecycle call about a task that is not at the node."""
    return ValueError(f"task {task.stage_name} of job {task.job_id} is not queued or running at node {node}")


def take_from_heap(heap: list[Any], task: Task, position: int, node: str) -> Any:
    """Remove the entry of ``task`` (at ``position`` in the entry) from a heap, keeping it a heap; returns it.

    Raises:
        ValueError: No entry holds the task.
    """
    for index, entry in enumerate(heap):
        if entry[position] is task:
            heap[index] = heap[-1]
            heap.pop()
            heapq.heapify(heap)
            return entry
    raise not_at_node(task, node)


@dataclass(frozen=True)
class ModelServing:
    """How a `ModelServerNode` serves one model.

    Attributes:
        max_batch_size: Largest batch (1: one task at a time).
        batch_sampler: Draws the time of one batch of a given size at speed 1 and work 1 (None: tasks run one at a
            time with their stage's own sampler).
        memory_bytes: Memory the model occupies while resident (0: it needs no residency).
        load_time_s: Time to load the model when it is not resident.
    """

    max_batch_size: int = 1
    batch_sampler: Callable[[int], float] | None = None
    memory_bytes: float = 0.0
    load_time_s: float = 0.0


class ModelServerNode(Node):
    """A node that serves models as model servers do: dynamic batching and model residency.

    Batching (as Triton's dynamic batcher or TorchServe do): tasks waiting at the node are grouped by model
    (and stage work). When a slot is free, the group whose oldest task arrived first starts as one batch of up
    to ``max_batch_size`` tasks if it is full or its oldest task has waited ``max_batch_wait_s``; otherwise the
    node waits until one of these happens. A batch of one model never exceeds the largest batch size its profile
    measured. A batch occupies one slot; its time is one draw of the profile's batch curve, scaled by the
    stage's work over the node's speed; every task of the batch starts and finishes with it.

    Residency: a model occupies ``memory_bytes`` of the node's memory while resident. At the start the node holds
    the models it can run, in the scenario's order, while they fit. A batch of a model that is not resident
    first loads it (its load time is added to the batch's time), evicting the least recently used resident
    models not in use until it fits; a group whose model cannot be made to fit yet (the memory is held by running
    batches) waits, and groups behind it may start. A model being loaded is not resident until its load ends:
    its other groups wait for the load to end (they do not start on another slot without paying for it), and
    groups of other models may start meanwhile.
    """

    def __init__(self, env: Any, index: int, spec: NodeSpec, on_task_done: Callable[[Task], None],
                 serving: Mapping[str, ModelServing]) -> None:
        super().__init__(env, index, spec, on_task_done)
        self.serving = dict(serving)
        self.max_batch_wait_s = spec.max_batch_wait_s
        self.memory_bytes = spec.memory_bytes
        self.model_loads = 0
        self.evictions = 0
        self.batches: list[tuple[str, float, float, int, float]] = []
        """Finished batches: (model, start_s, finish_s, batch size, load time included in seconds)."""
        self.running: dict[int, tuple[str, float, int, float]] = {}
        self._cut_short: list[tuple[float, float]] = []
        """(start_s, end_s) of batches ended early by `remove` or `drain`: their slot was busy all the same."""
        self._groups: dict[tuple[str, float], deque[tuple[Any, Task]]] = {}
        self._queued = 0
        self._resident: OrderedDict[str, float] = OrderedDict()
        self._loading: dict[str, float] = {}
        """Models being loaded now, with the time their load ends (their memory is already taken)."""
        self._in_use: dict[str, int] = {}
        self._used_bytes = 0.0
        self._timer_at = math.inf
        self._batch_callbacks: list[Callable[[Any], None]] = [self._on_batch_complete]
        self._schedule = scheduler(env)
        self._speed = spec.speed
        for model, serving_model in self.serving.items():
            if serving_model.memory_bytes > 0 and self._used_bytes + serving_model.memory_bytes <= self.memory_bytes:
                self._resident[model] = serving_model.memory_bytes
                self._used_bytes += serving_model.memory_bytes

    @property
    def queue_length(self) -> int:
        return self._queued

    @property
    def free_memory_bytes(self) -> float:
        return self.memory_bytes - self._used_bytes

    @property
    def resident_models(self) -> tuple[str, ...]:
        """Models resident now, least recently used first."""
        return tuple(self._resident)

    def enqueue(self, task: Task) -> None:
        stage = task.stage
        key = (stage.spec.model, stage.spec.work)
        order: Any = (task.job.priority, next(self._sequence)) if self._priority else next(self._sequence)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = deque()
        group.append((order, task))
        self._queued += 1
        self._dispatch()

    # -- choosing and starting batches -----------------------------------------------------------------------

    def _dispatch(self) -> None:
        while self._idle_events and self._queued:
            key, deadline = self._pick(self.env._now)
            if key is None:
                if deadline < self._timer_at:
                    self._timer_at = deadline
                    self.env.timeout(deadline - self.env._now).callbacks.append(self._on_timer)
                return
            self._start_batch(key)

    def _pick(self, now: float) -> tuple[tuple[str, float] | None, float]:
        """The group to start now (the one with the oldest head among those ready), and otherwise the earliest
        time a waiting group's batch wait runs out."""
        best: tuple[str, float] | None = None
        best_order: Any = None
        deadline = math.inf
        for key, group in self._groups.items():
            if not group:
                continue
            serving = self.serving.get(key[0])
            limit = serving.max_batch_size if serving is not None else 1
            order, head = group[0]
            if len(group) < limit and self.max_batch_wait_s > 0:
                expires = head.ready_s + self.max_batch_wait_s
                if expires - now > 1e-9:
                    deadline = min(deadline, expires)
                    continue
            if best_order is not None and not order < best_order:
                continue
            loaded_at = self._loading.get(key[0])
            if loaded_at is not None:
                if loaded_at - now > 1e-9:  # wait for the load in progress: the model is not usable yet
                    deadline = min(deadline, loaded_at)
                    continue
                del self._loading[key[0]]
            if serving is not None and not self._can_make_resident(key[0], serving):
                continue
            best, best_order = key, order
        return best, deadline

    def _on_timer(self, event: Any) -> None:
        if self.env._now >= self._timer_at - 1e-9:
            self._timer_at = math.inf
        self._dispatch()

    def _can_make_resident(self, model: str, serving: ModelServing) -> bool:
        if serving.memory_bytes <= 0 or model in self._resident:
            return True
        evictable = sum(size for name, size in self._resident.items() if not self._in_use.get(name))
        return self._used_bytes - evictable + serving.memory_bytes <= self.memory_bytes

    def _make_resident(self, model: str, serving: ModelServing) -> float:
        """Load ``model`` if needed (evicting idle models, least recently used first); returns the load time."""
        if serving.memory_bytes <= 0:
            return 0.0
        if model in self._resident:
            self._resident.move_to_end(model)
            return 0.0
        for name in list(self._resident):
            if self._used_bytes + serving.memory_bytes <= self.memory_bytes:
                break
            if not self._in_use.get(name):
                self._used_bytes -= self._resident.pop(name)
                self.evictions += 1
        self._resident[model] = serving.memory_bytes
        self._used_bytes += serving.memory_bytes
        self.model_loads += 1
        if serving.load_time_s > 0:
            self._loading[model] = self.env._now + serving.load_time_s
        return serving.load_time_s

    def _start_batch(self, key: tuple[str, float]) -> None:
        model = key[0]
        group = self._groups[key]
        serving = self.serving.get(model)
        limit = serving.max_batch_size if serving is not None else 1
        size = min(len(group), limit)
        tasks = [group.popleft()[1] for _ in range(size)]
        self._queued -= size
        now = self.env._now
        load_s = self._make_resident(model, serving) if serving is not None else 0.0
        if size == 1 or serving is None or serving.batch_sampler is None:
            sampler = tasks[0].samplers[self.index]
            assert sampler is not None, "dispatcher placed a task on a node it cannot run on"
            service_s = sampler()
        else:
            service_s = serving.batch_sampler(size) * key[1] / self._speed
        for task in tasks:
            task.start_s = now
        self.running_start_sum_s += now
        self._in_use[model] = self._in_use.get(model, 0) + 1
        event = self._idle_events.pop()
        event._value = tasks
        event.callbacks = self._batch_callbacks
        self.running[id(event)] = (model, now, size, load_s)
        self._schedule(event, load_s + service_s)

    def _on_batch_complete(self, event: Any) -> None:
        self._idle_events.append(event)
        tasks: list[Task] = event._value
        model, start_s, size, load_s = self.running.pop(id(event))
        now = self.env._now
        self.batches.append((model, start_s, now, size, load_s))
        self.running_start_sum_s -= start_s
        self._in_use[model] -= 1
        index = self.index
        for task in tasks:
            task.finish_s = now
            self.backlog_s -= task.exec_s[index]
        self.load -= size
        self._dispatch()
        for task in tasks:
            self._on_task_done(task)

    def slot_intervals(self) -> list[tuple[float, float]]:
        """(start_s, finish_s) of every batch started, finished ones first, then those cut short by `remove` or
        `drain` (finish NaN for those still running): a batch holds one slot once, however many tasks it
        serves."""
        return ([(start, finish) for _, start, finish, _, _ in self.batches] + self._cut_short
                + [(start, math.nan) for _, start, _, _ in self.running.values()])

    # -- lifecycle (docs/dynamics.md) --------------------------------------------------------------------------

    def queued_tasks(self) -> list[Task]:
        """Tasks waiting at the node, by arrival (or priority then arrival): the order in which their groups'
        heads are chosen when every group is ready."""
        return [task for _, task in sorted(entry for group in self._groups.values() for entry in group)]

    def remove(self, task: Task) -> float:
        """As `Node.remove`; a task of a running batch leaves the batch, which keeps its time (one left empty
        ends at once and its slot goes to the next batch). Returns now minus the batch's start for a task of a
        running batch."""
        now = self.env._now
        event = self._batch_event(task)
        slot_freed = False
        if event is None:
            self._take_waiting(task)
            received_s = 0.0
        else:
            tasks: list[Task] = event._value
            tasks.remove(task)
            model, start_s, size, load_s = self.running[id(event)]
            received_s = now - start_s
            if tasks:
                self.running[id(event)] = (model, start_s, size - 1, load_s)
            else:
                self._end_batch(event, now)
                self._idle_events.append(self._renewed(event))
                slot_freed = True
        self._forget([task])
        if slot_freed:
            self._dispatch()
        return received_s

    def drain(self) -> tuple[list[tuple[Task, float, float]], list[Task]]:
        """As `Node.drain`: every task of a running batch is given ``(task, now - batch start, the batch's
        remaining time)``. The node also loses its resident models and the loads in progress (a failure clears
        its memory), so models are loaded again, paying their load time, after the repair."""
        now = self.env._now
        busy = self._busy_events()
        running = []
        for event, due_s in zip(busy, scheduled_times(self.env, busy), strict=True):
            start_s = self._end_batch(event, now)
            running += [(task, now - start_s, due_s - now) for task in event._value]
        queued = self.queued_tasks()
        self._groups.clear()
        self._queued = 0
        self._resident.clear()
        self._loading.clear()
        self._in_use.clear()
        self._used_bytes = 0.0
        self.running_start_sum_s = 0.0
        fresh = [reusable_event(self.env) for _ in range(self.slots)]
        self._idle_events[:] = fresh
        self._slot_events[:] = fresh
        self._forget([task for task, _, _ in running] + queued)
        return running, queued

    def start_with(self, task: Task, service_s: float) -> None:
        """A model server keeps no per-task progress in a batch: the task is enqueued again and served with a new
        draw (``service_s`` is not used)."""
        self.enqueue(task)

    def _batch_event(self, task: Task) -> simpy.Event | None:
        for event in self._busy_events():
            if any(member is task for member in event._value):
                return event
        return None

    def _take_waiting(self, task: Task) -> None:
        for group in self._groups.values():
            for entry in group:
                if entry[1] is task:
                    group.remove(entry)
                    self._queued -= 1
                    return
        raise not_at_node(task, self.name)

    def _end_batch(self, event: simpy.Event, now: float) -> float:
        """Account for a running batch ending early (its completion detached); returns its start."""
        model, start_s, _, _ = self.running.pop(id(event))
        self._cut_short.append((start_s, now))
        self.running_start_sum_s -= start_s
        self._in_use[model] -= 1
        event.callbacks = []
        return start_s


def build_nodes(env: simpy.Environment, scenario: Scenario, costs: ServiceTimeModel, seed: int,
                on_task_done: Callable[[Task], None]) -> list[Node]:
    """The scenario's nodes: a `MultiResourceNode` where a stage that may run there demands more than one slot or
    any memory, a `ModelServerNode` where the node batches or its memory limits residency, the class of its
    discipline where ``queue`` is one of `simulator.disciplines` (the configuration refuses combining any two of
    these on one node), a plain `Node` otherwise (so nodes that do none of these keep the short path)."""
    from simulator.disciplines import discipline_node_class  # imported here: these modules build on Node
    from simulator.multi_resource import MultiResourceNode

    demanding = {name for application in scenario.applications.values() for stage in application.stages
                 if stage.demands_resources
                 for name in eligible_node_names(stage, scenario.nodes, scenario.models)}
    batch_samplers: dict[tuple[str, str], Callable[[int], float]] = {}
    nodes: list[Node] = []
    for index, spec in enumerate(scenario.nodes):
        if spec.name in demanding:
            nodes.append(MultiResourceNode(env, index, spec, on_task_done))
        elif spec.max_batch_size > 1 or memory_limits_residency(spec, scenario.models):
            serving = _model_serving(spec, scenario, costs, seed, batch_samplers)
            nodes.append(ModelServerNode(env, index, spec, on_task_done, serving))
        else:
            nodes.append((discipline_node_class(spec.queue) or Node)(env, index, spec, on_task_done))
    return nodes


def _model_serving(spec: NodeSpec, scenario: Scenario, costs: ServiceTimeModel, seed: int,
                   batch_samplers: dict[tuple[str, str], Callable[[int], float]]) -> dict[str, ModelServing]:
    """How the node serves each model it can run; batch samplers are shared per (model, device kind), as
    service-time samplers are."""
    batch_costs: Any = costs  # batch curves are optional: a plain ServiceTimeModel has none
    serving = {}
    for name, model in scenario.models.items():
        service = model.devices.get(spec.kind)
        if service is None:
            continue
        limit, sampler = 1, None
        if spec.max_batch_size > 1 and hasattr(batch_costs, "batch_sampler"):
            limit = min(spec.max_batch_size, batch_costs.max_batch_size(name, spec.kind))
            if limit > 1:
                key = (name, spec.kind)
                if key not in batch_samplers:
                    batch_samplers[key] = batch_costs.batch_sampler(name, spec.kind, seed)
                sampler = batch_samplers[key]
        serving[name] = ModelServing(limit, sampler, service.memory_bytes, service.load_time_s)
    return serving
