"""Streaming transfers and brokers: a stage's output sent as chunks and/or through a message broker, and stages
that start on the first chunk of their inputs.

The dispatcher of a run whose scenario sets a stage's ``chunks`` > 1, ``streaming`` or ``broker``
(`StreamingDispatcher`, mixed in before the run's dispatcher class by `dispatch.with_mixin`) changes how stage outputs
travel and when their consumers start; a run without these fields uses none of this module.

- Chunks. The output of a stage with ``chunks = N`` (``output_bytes`` B) travels to each successor on another
  vertex, and to the job's sink, as N messages of B / N bytes sent one after another: chunk k + 1 leaves when
  chunk k has arrived (one chunk in flight per output, as a sequence of requests would; each chunk pays the route
  latency and, under ``[network.protocol]``, the protocol's header and delay: that is the price of chunking). A
  lone output over a link of latency l and bandwidth b, with protocol delay p and header h: chunk k arrives
  k x (p + l + (B / N + h) / b) after the producer finished.
- Brokers. Every message of a stage with ``broker = "NAME"`` (each chunk, to each successor on another vertex and
  to the sink) goes through the broker (`simulator.network.brokers`): sender -> broker vertex, FIFO queue and
  service, broker vertex -> receiver. A hand-over between stages on one node stays free and direct.
- Streaming. A task of a stage with ``streaming = true`` joins its node's queue when the *first* chunk of each of
  its remote inputs has arrived (not the last). Its service time S is drawn when it starts (at ``start_s``) as
  for any task; it finishes at ``max(start_s + S, L + S / n)``, where L is when the last chunk of its inputs
  arrived and n the chunks of that input (the work on the last chunk still has to be done after it arrives). Its
  slot stays held until then: a task whose service ends before its last chunk is in waits for it on its slot.
  A non-streaming consumer of a chunked output starts when the last chunk has arrived.
- Estimates. `ReadOnlyView.transfer_estimate_s` (what policies price inputs by) follows this: an input's time is
  its chunks' times one after another (each through its broker: to it, its expected delay now, from it), or the
  first chunk's alone for a streaming consumer (when it can start). `edge_estimate_s` and the stage graph of list
  heuristics still see one direct message.

The configuration refuses these fields in a dynamic scenario (a failure, retry or move of a task with chunks in
flight is not modelled), a streaming stage with an asynchronous join or without predecessors, chunks or a broker
on a stage whose successor has an asynchronous join, and a streaming stage on nodes whose slots do not serve one
task each (processor sharing, round robin, batching, model residency).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from heapq import heappush
from typing import Any

import simpy

from simulator.dispatch import Dispatcher
from simulator.engine import NORMAL, event_queue
from simulator.network import Network
from simulator.network.brokers import Broker
from simulator.workload import CompiledApplication, CompiledStage, Job, Task

__all__ = ["StreamingDispatcher", "has_streaming"]


def has_streaming(applications: list[CompiledApplication]) -> bool:
    """Whether some stage sends its output in chunks or through a broker, or streams its inputs."""
    return any(stage.spec.chunks > 1 or stage.spec.streaming or stage.spec.broker is not None
               for app in applications for stage in app.stages)


class _Stream:
    """One output on its way from ``src`` to ``dst`` as ``chunks`` messages, one in flight at a time (each through
    ``broker`` when there is one); ``on_chunk(first, last, chunks)`` runs as each arrives."""

    __slots__ = ("broker", "chunk_bytes", "chunks", "dst", "network", "on_chunk", "sent", "src")

    def __init__(self, network: Network, broker: Broker | None, src: int, dst: int, n_bytes: float, chunks: int,
                 on_chunk: Callable[[bool, bool, int], None]) -> None:
        self.network = network
        self.broker = broker
        self.src = src
        self.dst = dst
        self.chunk_bytes = n_bytes / chunks
        self.chunks = chunks
        self.on_chunk = on_chunk
        self.sent = 0
        self._send_next()

    def _send_next(self) -> None:
        self.sent += 1
        if self.broker is None:
            self.network.transfer(self.src, self.dst, self.chunk_bytes, self._arrived)
        else:
            self.broker.send(self.src, self.dst, self.chunk_bytes, self._arrived)

    def _arrived(self) -> None:
        last = self.sent == self.chunks
        self.on_chunk(self.sent == 1, last, self.chunks)
        if not last:
            self._send_next()


class _Inflow:
    """A placed task's inputs on their way as chunks: how many have not sent their first and their last chunk,
    when the last chunk arrived and which fraction of the service it leaves (1 / its input's chunks), and for a
    streaming task whose service ended before its last chunk, its held slot's event and its service time."""

    __slots__ = ("firsts_left", "held", "last_s", "lasts_left", "service_s", "streaming", "tail")

    def __init__(self, n_inputs: int, streaming: bool) -> None:
        self.firsts_left = n_inputs
        self.lasts_left = n_inputs
        self.streaming = streaming
        self.last_s = 0.0
        self.tail = 1.0
        self.held: simpy.Event | None = None
        self.service_s = 0.0


class StreamingDispatcher(Dispatcher):
    """A dispatcher whose stage outputs may travel as chunks and through brokers, and whose streaming stages start
    on their inputs' first chunks (see the module's docstring). Call `gate_nodes` once the nodes exist."""

    def __init__(self, *args: Any, brokers: dict[str, Broker], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.brokers = brokers
        self._outputs: dict[CompiledStage, tuple[int, Broker | None]] = {
            stage: (stage.spec.chunks, None if stage.spec.broker is None else brokers[stage.spec.broker])
            for app in self.applications for stage in app.stages}
        """Per stage: the chunks its output travels in and the broker it goes through (None: direct)."""
        self._special_inputs = {stage for app in self.applications for stage in app.stages
                                if stage.spec.streaming or any(self._outputs[app.stages[p]] != (1, None)
                                                               for p in stage.predecessors)}
        """Stages that stream or have a predecessor whose output is chunked or brokered."""
        self._inflows: dict[Task, _Inflow] = {}
        self._event_queue, self._event_ids_of_run = event_queue(self.env)
        self._gates: dict[int, list[Callable[[Any], None]]] = {}

    def gate_nodes(self) -> None:
        """Route the completions of every node a streaming stage may run on through `_completed`, which holds a
        streaming task's slot until its last chunk is in. Nodes call each slot event's callback list, which they
        share per node: its one entry is replaced in place."""
        streaming_nodes = {node for app in self.applications for stage in app.stages if stage.spec.streaming
                           for node in stage.eligible}
        for index in sorted(streaming_nodes):
            node = self.nodes[index]
            callbacks: list[Callable[[Any], None]] = node._completion_callbacks
            callbacks[:] = [partial(self._completed, callbacks[0])]
            self._gates[index] = callbacks

    # -- inputs ------------------------------------------------------------------------------------------------

    def _send_inputs(self, task: Task, node_index: int, inputs: list[tuple[int, float]]) -> None:
        stage = task.stage
        if stage not in self._special_inputs:
            super()._send_inputs(task, node_index, inputs)
            return
        job = task.job
        producers = [(job.tasks[p].node, job.application.stages[p])  # type: ignore[union-attr]
                     for p in stage.predecessors]
        remote = [(source, producer) for source, producer in producers if source != node_index]
        self._inflows[task] = _Inflow(len(remote), stage.spec.streaming)
        on_chunk = partial(self._chunk_arrived, task)
        for source, producer in remote:
            chunks, broker = self._outputs[producer]
            _Stream(self.network, broker, source, node_index, producer.spec.output_bytes, chunks, on_chunk)

    def _chunk_arrived(self, task: Task, first: bool, last: bool, chunks: int) -> None:
        inflow = self._inflows[task]
        now = self.env._now
        if first:
            inflow.firsts_left -= 1
            if inflow.streaming and inflow.firsts_left == 0:
                task.ready_s = now
                self.nodes[task.node].enqueue(task)
        if not last:
            return
        inflow.lasts_left -= 1
        inflow.last_s = now
        inflow.tail = 1.0 / chunks
        if inflow.lasts_left:
            return
        if not inflow.streaming:
            del self._inflows[task]
            task.ready_s = now
            self.nodes[task.node].enqueue(task)
        elif inflow.held is not None:  # its service ended waiting for this chunk: the last chunk's share follows
            del self._inflows[task]
            self._rearm(inflow.held, task.node, now + inflow.service_s * inflow.tail)

    def _completed(self, complete: Callable[[simpy.Event], None], event: simpy.Event) -> None:
        """A slot's service ended on a gated node: a streaming task finishes no earlier than its last chunk's
        arrival plus its share of the service; until then it keeps the slot."""
        task: Task = event._value
        inflow = self._inflows.get(task)
        if inflow is None:
            complete(event)
            return
        now = self.env._now
        service_s = now - task.start_s
        if inflow.lasts_left:
            inflow.held = event
            inflow.service_s = service_s
            return
        del self._inflows[task]
        due_s = inflow.last_s + service_s * inflow.tail
        if inflow.last_s > task.start_s and due_s > now:  # (a last chunk in before the start leaves start + S)
            self._rearm(event, task.node, due_s)
        else:
            complete(event)

    def _rearm(self, event: simpy.Event, node: int, time_s: float) -> None:
        """Schedule the slot event again at ``time_s``; it then completes its task (no inflow left)."""
        event.callbacks = self._gates[node]
        heappush(self._event_queue, (time_s, NORMAL, next(self._event_ids_of_run), event))

    def inputs_estimate_s(self, task: Task, node: int) -> float:
        stage = task.stage
        if stage not in self._special_inputs:
            return super().inputs_estimate_s(task, node)
        job = task.job
        estimate = 0.0
        for p in stage.predecessors:
            source = job.tasks[p].node  # type: ignore[union-attr]
            if source == node:
                continue
            producer = job.application.stages[p]
            chunks, broker = self._outputs[producer]
            chunk_s = self._message_estimate_s(source, node, producer.spec.output_bytes / chunks, broker)
            estimate = max(estimate, chunk_s if stage.spec.streaming else chunks * chunk_s)
        return estimate

    def _message_estimate_s(self, src: int, dst: int, n_bytes: float, broker: Broker | None) -> float:
        """Expected time of one message, direct or through ``broker`` (to it, its delay now, from it)."""
        network = self.network
        if broker is None:
            return network.estimate_shared_s(src, dst, n_bytes)
        return (network.estimate_shared_s(src, broker.vertex, n_bytes) + broker.expected_delay_s(n_bytes)
                + network.estimate_shared_s(broker.vertex, dst, n_bytes))

    # -- results -----------------------------------------------------------------------------------------------

    def on_task_done(self, task: Task) -> None:
        stage = task.stage
        job = task.job
        chunks, broker = self._outputs[stage]
        if stage.successors or job.sink < 0 or job.sink == task.node or (chunks == 1 and broker is None):
            super().on_task_done(task)
            return
        _Stream(self.network, broker, task.node, job.sink, stage.spec.output_bytes, chunks,
                partial(self._result_chunk, job))

    def _result_chunk(self, job: Job, first: bool, last: bool, chunks: int) -> None:
        if last:
            self._result_delivered(job)

