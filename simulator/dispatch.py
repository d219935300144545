"""Dispatch: jobs arrive, their tasks become ready, the policy places them, inputs travel, nodes run them.

A task is released when all its predecessors have finished. The policy then picks its node, at once
(immediate mode) or at the next batch tick with every other pending task (batch mode). Its inputs (the job's
input from the source, or its predecessors' outputs) travel over the network in parallel; when the last one
has arrived the task joins the node's queue. When a job's exit stages are done their results travel to the
job's sink, and the job is complete when the last result arrives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from heapq import heappush
from typing import Any, cast

import numpy as np
import simpy

from simulator.arrivals import arrival_times
from simulator.cluster import Node
from simulator.config import ArrivalSpec, VariantSpec
from simulator.engine import NORMAL, event_queue, reusable_event
from simulator.network import Network
from simulator.policies import BATCH, Policy, SystemView
from simulator.policies.base import StageGraph
from simulator.recorder import Recorder
from simulator.workload import NO_TASKS, CompiledApplication, CompiledStage, Job, KnownSize, Task, new_job, new_task


class _ArrivalStream:
    """One arrival stream's state: its remaining arrival times, its application(s) and endpoints."""

    __slots__ = ("application", "applications", "sink", "source", "times")

    def __init__(self, times: Iterator[float], application: CompiledApplication | None,
                 applications: Iterator[CompiledApplication] | None, source: int, sink: int) -> None:
        self.times = times
        self.application = application
        self.applications = applications
        self.source = source
        self.sink = sink


class ReadOnlyView:
    """The `SystemView` handed to policies: answers questions, exposes no simulator object."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._nodes = dispatcher.nodes  # the dispatcher's list, filled once the nodes exist
        self._env = dispatcher.env

    @property
    def n_nodes(self) -> int:
        return len(self._nodes)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(node.name for node in self._nodes)

    @property
    def node_kinds(self) -> tuple[str, ...]:
        return tuple(node.spec.kind for node in self._nodes)

    @property
    def now(self) -> float:
        return self._env.now

    def slots(self, node: int) -> int:
        return self._nodes[node].slots

    def power_w(self, node: int) -> tuple[float, float]:
        """(idle, busy) electrical power of the whole node in watts (linear in busy slots in between)."""
        spec = self._nodes[node].spec
        return spec.idle_power_w, spec.busy_power_w

    def capacity(self, node: int) -> float:
        """Slots times speed: the node's service capacity relative to a one-slot node of speed 1."""
        return self._nodes[node].slots * self._nodes[node].spec.speed

    def load(self, node: int) -> int:
        return self._nodes[node].load

    def memory_bytes(self, node: int) -> float:
        return self._nodes[node].spec.memory_bytes

    def free_slots(self, node: int) -> int:
        return self._nodes[node].free_slots

    def free_memory_bytes(self, node: int) -> float:
        return self._nodes[node].free_memory_bytes

    def demand(self, task: Task) -> tuple[int, float]:
        spec = task.stage.spec
        return spec.slots, spec.memory_bytes

    def queue_length(self, node: int) -> int:
        return self._nodes[node].queue_length

    @property
    def sizes_known(self) -> bool:
        return self._dispatcher.sizes_known

    def work_left_s(self, node: int) -> float:
        """Exactly 0 on a node with no task: the backlog's running sum keeps rounding residue (about 1e-16 s),
        which would rank idle nodes apart."""
        state = self._nodes[node]
        return state.work_left_s() if state.load else 0.0

    def known_service_s(self, task: Task, node: int) -> float:
        return task.exec_s[node] if self._dispatcher.sizes_known else math.nan

    def task_size_s(self, task: Task) -> float:
        return cast(KnownSize, task.samplers).size_s if self._dispatcher.sizes_known else math.nan

    def expected_ready_time_s(self, node: int) -> float:
        return self._nodes[node].expected_ready_time_s()

    def eligible_nodes(self, task: Task) -> Sequence[int]:
        return task.stage.eligible

    def is_up(self, node: int) -> bool:
        """Every node is up in a run without failures (`simulator.dynamics` gives the view that tracks them)."""
        return True

    def exec_estimate_s(self, task: Task, node: int) -> float:
        return task.stage.exec_mean_s[node]

    def transfer_estimate_s(self, task: Task, node: int) -> float:
        """Time for the task's inputs to reach ``node`` (they travel in parallel), each at the fair share the
        links on its route would give it now."""
        return self._dispatcher.inputs_estimate_s(task, node)

    def stage_graph(self, task: Task) -> StageGraph:
        return task.job.application.stage_graph

    def edge_estimate_s(self, source_node: int, target_node: int, n_bytes: float) -> float:
        """Time to move ``n_bytes`` between two nodes at the fair share their route would give now."""
        return self._dispatcher.network.estimate_shared_s(source_node, target_node, n_bytes)

    def variants(self, task: Task) -> tuple[VariantSpec, ...]:
        return task.stage.spec.variants

    def variant_exec_estimate_s(self, task: Task, variant: int, node: int) -> float:
        return task.stage.variants[variant].exec_mean_s[node]

    def input_estimate_s(self, task: Task, stage_index: int, node: int) -> float:
        """Time for the job input of entry stage ``stage_index`` of ``task``'s job to reach ``node``."""
        job = task.job
        if job.source < 0:
            return 0.0
        spec = job.application.stages[stage_index].spec
        size = job.application.spec.input_bytes if spec.input_bytes is None else spec.input_bytes
        return self._dispatcher.network.estimate_shared_s(job.source, node, size)


class Dispatcher:
    """Owns the run's jobs: arrivals, task release, placement through the policy, transfers, completion.

    The methods on the path of every job (``_on_arrival``, ``_release``, ``_assign``, ``on_task_done``) are
    kept flat and read the clock as ``env._now``: they run millions of times per sweep.
    """

    view_class: type[ReadOnlyView] = ReadOnlyView
    """The policies' view (a dynamic run's dispatcher gives one that leaves out unavailable nodes)."""
    sizes_known = False
    """Whether tasks know their size when placed (`simulator.sizes.ClairvoyantDispatcher`)."""

    def __init__(self, env: simpy.Environment, nodes: list[Node], network: Network,
                 applications: list[CompiledApplication], policy: Policy, policy_rng: np.random.Generator,
                 recorder: Recorder, mode: str = "immediate", batch_interval_s: float = 1.0,
                 max_jobs: int | None = None) -> None:
        self.env = env
        self.nodes = nodes
        self.network = network
        self.applications = applications
        self.policy = policy
        self.recorder = recorder
        self.batch_mode = mode == BATCH
        self.batch_interval_s = batch_interval_s
        self.max_jobs = max_jobs if max_jobs is not None else math.inf
        self.jobs_created = 0
        self.live_jobs: dict[int, Job] = {}
        self.pending: list[Task] = []
        self._batch_tick_scheduled = False
        self.view = self.view_class(self)
        policy.bind(cast(SystemView, self.view), policy_rng)
        self._application_by_name = {app.name: app for app in applications}
        self._queue, self._event_ids = event_queue(env)  # arrivals are pushed in place (see engine)
        self._arrival_callbacks: list[Callable[[Any], None]] = [self._on_arrival]
        self._record_job = recorder.job

    # -- arrivals --------------------------------------------------------------------------------------------

    def add_arrival_stream(self, spec: ArrivalSpec, rng: np.random.Generator, source: int, sink: int) -> None:
        """Start the stream. Its one event is re-armed for each next arrival: one event per job, no process."""
        if spec.process == "trace":
            applications: Iterator[CompiledApplication] | None = (
                self._application_by_name[name] for name in spec.trace_applications)
            application = None
        else:
            applications = None
            application = self._application_by_name[spec.application]
        stream = _ArrivalStream(arrival_times(spec, rng), application, applications, source, sink)
        self._arm_next_arrival(reusable_event(self.env), stream)

    def _arm_next_arrival(self, event: simpy.Event, stream: _ArrivalStream) -> None:
        time = next(stream.times, None) if self.jobs_created < self.max_jobs else None
        if time is not None:
            event._value = stream
            event.callbacks = self._arrival_callbacks
            heappush(self._queue, (time, NORMAL, next(self._event_ids), event))

    def _on_arrival(self, event: simpy.Event) -> None:
        stream: _ArrivalStream = event._value
        if self.jobs_created >= self.max_jobs:
            return
        now = self.env._now
        application = stream.application or next(stream.applications)  # type: ignore[arg-type]
        job = new_job(self.jobs_created, application, now, stream.source, stream.sink)
        self.jobs_created += 1
        self.live_jobs[job.id] = job
        for stage in application.entry_stages:
            self._release(new_task(job, stage, now), now)
        time = next(stream.times, None) if self.jobs_created < self.max_jobs else None
        if time is not None:  # re-arm this stream's event for its next arrival
            event.callbacks = self._arrival_callbacks
            heappush(self._queue, (time, NORMAL, next(self._event_ids), event))

    # -- placement -------------------------------------------------------------------------------------------

    def _release(self, task: Task, now: float) -> None:
        """Predecessors done: place the task (directly when only one node can run it)."""
        stage = task.stage
        if stage.only_node >= 0:
            self._assign(task, stage.only_node, now)
        elif self.batch_mode:
            self.pending.append(task)
            if not self._batch_tick_scheduled:
                self._batch_tick_scheduled = True
                tick = (math.floor(now / self.batch_interval_s) + 1) * self.batch_interval_s
                self.env.timeout(tick - now).callbacks.append(self._on_batch_tick)
        else:
            self._assign(task, self._checked(task, self.policy.assign(task)), now)

    def _checked(self, task: Task, node: int) -> int:
        if node not in task.stage.eligible:
            raise RuntimeError(f"policy {self.policy.name!r} placed stage {task.stage_name!r} of application "
                               f"{task.application!r} on node {node}, which is not eligible "
                               f"(eligible: {list(task.stage.eligible)})")
        return node

    def _on_batch_tick(self, event: simpy.Event) -> None:
        self._batch_tick_scheduled = False
        tasks, self.pending = self.pending, []
        self._place_batch(tasks, self.env._now)

    def _place_batch(self, tasks: list[Task], now: float) -> None:
        """Ask the policy for every pending task at once and assign them."""
        for task in tasks:
            task.dispatch_s = now
        decisions = self.policy.assign_batch(tasks)
        if len(decisions) != len(tasks):
            raise RuntimeError(f"policy {self.policy.name!r} returned {len(decisions)} decisions for "
                               f"{len(tasks)} tasks")
        for task, node in zip(tasks, decisions, strict=True):
            self._assign(task, self._checked(task, int(node)), now)

    def inputs_estimate_s(self, task: Task, node: int) -> float:
        """Time for the task's inputs to reach ``node`` (they travel in parallel), each at the fair share the links
        on its route would give it now (`ReadOnlyView.transfer_estimate_s`)."""
        return max((self.network.estimate_shared_s(source, node, size) for source, size in self.inputs_of(task)),
                   default=0.0)

    def inputs_of(self, task: Task) -> list[tuple[int, float]]:
        """(source vertex, bytes) of each input of a task; the job input for entry stages with a source."""
        stage = task.stage
        job = task.job
        if stage.predecessors:
            stages = job.application.stages
            return [(job.tasks[p].node, stages[p].spec.output_bytes)  # type: ignore[union-attr]
                    for p in stage.predecessors]
        if job.source >= 0:
            size = stage.spec.input_bytes
            return [(job.source, job.application.spec.input_bytes if size is None else size)]
        return []

    def _assign(self, task: Task, node_index: int, now: float) -> None:
        node = self.nodes[node_index]
        task.node = node_index
        node.load += 1
        node.backlog_s += task.exec_s[node_index]
        if not task.stage.predecessors and task.job.source < 0:  # nothing to move: the common fast path
            task.ready_s = now
            node.enqueue(task)
            return
        inputs = [(source, size) for source, size in self.inputs_of(task) if source != node_index]
        if not inputs:
            task.ready_s = now
            node.enqueue(task)
            return
        self._send_inputs(task, node_index, inputs)

    def _send_inputs(self, task: Task, node_index: int, inputs: list[tuple[int, float]]) -> None:
        """Start moving a placed task's remote inputs ((source vertex, bytes) each) to its node."""
        task.inputs_pending = len(inputs)
        for source, size in inputs:
            self.network.transfer(source, node_index, size, partial(self._input_arrived, task))

    def _input_arrived(self, task: Task) -> None:
        task.inputs_pending -= 1
        if task.inputs_pending == 0:
            task.ready_s = self.env._now
            self.nodes[task.node].enqueue(task)

    # -- completion ------------------------------------------------------------------------------------------

    def on_task_done(self, task: Task) -> None:
        """Called by a node when a task finishes: release successors, deliver exit results."""
        job = task.job
        stage: CompiledStage = task.stage
        if stage.successors:
            waiting = job.waiting_predecessors
            stages = job.application.stages
            now = self.env._now
            for successor in stage.successors:
                waiting[successor] -= 1
                if waiting[successor] == 0:
                    self._release(new_task(job, stages[successor], now), now)
        elif job.sink >= 0 and job.sink != task.node:
            self.network.transfer(task.node, job.sink, stage.spec.output_bytes, partial(self._result_delivered, job))
        else:  # the result is already where it must go
            self._result_delivered(job)

    def _result_delivered(self, job: Job) -> None:
        """One exit result of ``job`` reached the sink; after the last, record the job and let it go.

        Dropping its task list breaks the job <-> task reference cycle, so the job and its tasks are freed at
        once by reference counting instead of by the cyclic garbage collector, which would otherwise traverse
        every live object every few hundred jobs."""
        job.results_pending -= 1
        if job.results_pending == 0:
            job.finish_s = self.env._now
            del self.live_jobs[job.id]
            self._record_job(job)
            job.tasks = NO_TASKS

    def record_unfinished(self) -> None:
        """At the end of the run: the rows of the jobs still in the system."""
        self.recorder.unfinished(list(self.live_jobs.values()))


_MIXED: dict[tuple[type[Dispatcher], type[Dispatcher]], type[Dispatcher]] = {}


def with_mixin(mixin: type[Dispatcher], dispatcher_class: type[Dispatcher]) -> type[Dispatcher]:
    """``dispatcher_class`` with an optional feature's ``mixin`` first in its method order (one class per pair):
    how a run turns on known sizes, streaming or model variants, so a run without them executes the plain class."""
    bases = (mixin, dispatcher_class)
    if bases not in _MIXED:
        _MIXED[bases] = type(mixin.__name__.removesuffix("Dispatcher") + dispatcher_class.__name__, bases, {})
    return _MIXED[bases]
