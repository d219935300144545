"""Decision points: a run whose placements are answered by an outside controller, one decision at a time.

`DecisionStepper` runs a scenario with a controller in the policy's place: each time the dispatcher asks where
a task goes (immediate mode: a release, a retry, a re-placement after a failure, a replica), the run pauses and
the question comes out of `next_decision()`; `decide(node)` answers it and the run continues to the next one.
Any policy can be stepped this way (`run_policy`), and an outside agent can drive a run decision by decision.

Why a thread: a placement is asked for in the middle of an event's callbacks (an arrival releasing its entry
stages, a completion releasing successors), and what happens after the answer depends on it (the node's queue,
the order of newly scheduled events). Stopping the event loop there and placing later would change that order;
running the unchanged simulation in its own thread, blocked inside the controller's ``assign`` until the answer
comes, pauses it exactly where a policy would have answered. The two threads strictly take turns, so the run is
the same run, bit for bit, as the policy's own (``tests/test_stepping.py`` checks that), and a run that is not
stepped executes none of this code.

A stepped run also keeps a `RunMeter`: running totals of what happened so far (time-integrals of jobs in the
system, of slowdown, of energy and of the variance of node utilization; jobs completed, deadline misses), exact
between events, which rewards of a learning agent are differences of (`simulator.rl.rewards`).
"""

from __future__ import annotations

import heapq
import math
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any

import numpy as np
from simpy.core import StopSimulation
from simpy.events import URGENT

from simulator.cluster import Node
from simulator.config import Scenario
from simulator.costs import ServiceTimeModel
from simulator.engine import reusable_event
from simulator.errors import UserInputError
from simulator.policies import BATCH, IMMEDIATE, Policy, SystemView, TaskView
from simulator.randomness import stream
from simulator.simulation import RunResult, Simulation, scenario_policy
from simulator.workload import CompiledApplication, Job

__all__ = ["Decision", "DecisionStepper", "RunMeter", "shortest_response_s"]


@dataclass(frozen=True)
class Decision:
    """A task waiting for its node: what a policy would be asked, at simulated time ``time_s`` (seconds)."""

    task: TaskView
    time_s: float
    available_nodes: tuple[int, ...]
    """The nodes it may go to now (``view.eligible_nodes(task)``: in a dynamic run, those up and reachable)."""
    view: SystemView
    """The same read-only view policies decide from."""


class _Abort(BaseException):
    """Unwinds an abandoned run's thread (a BaseException, so no handler of the simulation catches it)."""


_ABORT = object()


class _Finished:
    """The run thread's last message: the run ended, or raised ``error``."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Controller(Policy):
    """The policy a stepped run is built with: each ``assign`` hands the task out and waits for the node."""

    name = "controller"

    def connect(self, requests: SimpleQueue[Any], answers: SimpleQueue[Any]) -> None:
        self.requests_ = requests
        self.answers_ = answers

    def assign(self, task: TaskView) -> int:
        self.requests_.put(task)
        answer = self.answers_.get()
        if answer is _ABORT:
            raise _Abort
        return int(answer)


def shortest_response_s(application: CompiledApplication) -> float:
    """The least expected response time of a job of ``application``: its longest chain of stages, each at its
    expected service time on its fastest node (no queueing, no transfers); the denominator of its slowdown."""
    finish = [0.0] * len(application.stages)
    for stage in application.stages:  # topological order
        start = max((finish[p] for p in stage.predecessors), default=0.0)
        finish[stage.index] = start + min(stage.exec_mean_s[node] for node in stage.eligible)
    return max(finish[index] for index in application.exits)


class _LiveJobs(dict[int, Job]):
    """The dispatcher's live jobs in a stepped run: each job entering or leaving the system is told to the meter."""

    def __init__(self, meter: RunMeter) -> None:
        super().__init__()
        self._meter = meter

    def __setitem__(self, job_id: int, job: Job) -> None:
        super().__setitem__(job_id, job)
        self._meter.job_arrived(job)

    def __delitem__(self, job_id: int) -> None:
        job = self[job_id]
        super().__delitem__(job_id)
        self._meter.job_left(job)


class RunMeter:
    """Running totals of a stepped run up to the time of its last event (the decision's time while one is pending).

    Every quantity is piecewise constant between events, so the integrals are exact: the run thread integrates
    the state over the gap before each event. Energy is linear in busy slots from idle to busy power, nothing
    while a node is down (as `simulator.metrics.node_table`); a job's slowdown is its response time over
    `shortest_response_s`, so ``slowdown_total`` (the integral of the sum of 1 / that over jobs in the system) adds
    up to the jobs' slowdowns. A job misses its deadline when it is not complete at ``arrival + deadline``: counted
    then, or when the run ends for a job whose deadline lies beyond the end (as the job table's ``deadline_met``).

    Attributes:
        time_s: Simulated time the totals run to.
        jobs_in_system_s: Integral of the number of jobs in the system (job-seconds; by Little's law, the sum of
            the jobs' times in the system so far).
        slowdown_total: Integral of the sum of the jobs' inverse shortest response times.
        energy_j: Energy all nodes drew (joules).
        utilization_variance_s: Integral of the variance, over the nodes, of busy slots / slots (seconds).
        jobs_completed: Jobs whose results were all delivered.
        jobs_ended: Jobs that left unfinished (failed or abandoned).
        deadline_misses: Jobs with a deadline not complete by it.
    """

    def __init__(self, nodes: Sequence[Node], applications: Sequence[CompiledApplication]) -> None:
        self._nodes = nodes
        shortest_s = [shortest_response_s(application) for application in applications]
        self._inverse_shortest = [1.0 / value if value > 0 else 0.0 for value in shortest_s]
        self._live = _LiveJobs(self)
        self._inverse_sum = 0.0
        self._deadlines: list[tuple[float, int]] = []
        self._on_time: set[int] = set()
        self.time_s = 0.0
        self.jobs_in_system_s = 0.0
        self.slowdown_total = 0.0
        self.energy_j = 0.0
        self.utilization_variance_s = 0.0
        self.jobs_completed = 0
        self.jobs_ended = 0
        self.deadline_misses = 0

    @property
    def jobs_in_system(self) -> int:
        """Jobs in the system now."""
        return len(self._live)

    def job_arrived(self, job: Job) -> None:
        self._inverse_sum += self._inverse_shortest[job.application.index]
        deadline_s = job.application.spec.deadline_s
        if math.isfinite(deadline_s):
            heapq.heappush(self._deadlines, (job.arrival_s + deadline_s, job.id))

    def job_left(self, job: Job) -> None:
        self._inverse_sum = self._inverse_sum - self._inverse_shortest[job.application.index] if self._live else 0.0
        if math.isnan(job.finish_s):
            self.jobs_ended += 1
            return
        self.jobs_completed += 1
        deadline_s = job.application.spec.deadline_s
        if math.isfinite(deadline_s) and job.finish_s - job.arrival_s <= deadline_s:
            self._on_time.add(job.id)

    def advance(self, time_s: float) -> None:
        """Integrate the state (constant since the last event) up to ``time_s``, and count the deadlines passed
        before it."""
        elapsed = time_s - self.time_s
        if elapsed > 0:
            self.jobs_in_system_s += len(self._live) * elapsed
            self.slowdown_total += self._inverse_sum * elapsed
            power_w = 0.0
            total = square_total = 0.0
            for node in self._nodes:
                utilization = node.busy / node.slots
                total += utilization
                square_total += utilization * utilization
                if node.up:
                    spec = node.spec
                    power_w += spec.idle_power_w + (spec.busy_power_w - spec.idle_power_w) * utilization
            self.energy_j += power_w * elapsed
            mean = total / len(self._nodes)
            self.utilization_variance_s += max(square_total / len(self._nodes) - mean * mean, 0.0) * elapsed
            self.time_s = time_s
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] < time_s:
            self._count_deadline(heapq.heappop(deadlines)[1])

    def end(self, time_s: float) -> None:
        """The run ended at ``time_s``: integrate up to it; a job with a deadline not complete by now missed it."""
        self.advance(time_s)
        while self._deadlines:
            self._count_deadline(heapq.heappop(self._deadlines)[1])

    def _count_deadline(self, job_id: int) -> None:
        if job_id in self._on_time:
            self._on_time.discard(job_id)
        else:
            self.deadline_misses += 1


def _run_loop(simulation: Simulation, requests: SimpleQueue[Any], meter: RunMeter) -> None:
    """The run thread: the simulation's event loop to its end, then the message saying how it ended.

    The loop is `Environment.run`'s (the same ``until`` event, the same order), one ``step()`` per event with the
    meter advanced to the event's time before it."""
    env = simulation.env
    horizon = simulation.scenario.simulation.horizon_s
    try:
        if horizon is not None:
            until = reusable_event(env)
            until._value = None
            env.schedule(until, URGENT, (horizon if isinstance(horizon, int) else float(horizon)) - env.now)
            until.callbacks.append(StopSimulation.callback)
        queue = env._queue
        try:
            while queue:
                meter.advance(queue[0][0])
                env.step()
        except StopSimulation:
            pass
        meter.end(env.now)
    except _Abort:
        return
    except BaseException as error:  # handed to the controller's thread, which raises it
        requests.put(_Finished(error))
        return
    requests.put(_Finished(None))


def _abort(answers: SimpleQueue[Any], thread: threading.Thread) -> None:
    """End a run thread that waits for an answer that will never come (the stepper was closed or dropped)."""
    if thread.is_alive():
        answers.put(_ABORT)
        thread.join()


class DecisionStepper:
    """One run of ``scenario`` (immediate mode) whose placements are decided from outside, one at a time.

    Args:
        scenario: A validated scenario whose ``policy.mode`` is immediate.
        seed: The run's seed; default: the scenario's ``simulation.seed``.
        costs: Where service times come from; default: the scenario's cost table.

    Attributes:
        n_decisions: Decisions answered so far.
        meter: The run's running totals (`RunMeter`), up to the pending decision's time.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, costs: ServiceTimeModel | None = None) -> None:
        if scenario.policy.mode == BATCH:
            raise UserInputError([f"{scenario.path}: policy.mode is 'batch', but decision points are for immediate "
                                  "mode (one task placed at a time); set policy.mode = 'immediate'"])
        self._controller = _Controller()
        self._simulation = Simulation(scenario, self._controller,
                                      scenario.simulation.seed if seed is None else seed, costs)
        self.meter = RunMeter(self._simulation.nodes, self._simulation.applications)
        self._simulation.dispatcher.live_jobs = self.meter._live
        self.seed = self._simulation.seed
        self.n_decisions = 0
        self._requests: SimpleQueue[Any] = SimpleQueue()
        self._answers: SimpleQueue[Any] = SimpleQueue()
        self._controller.connect(self._requests, self._answers)
        self._thread = threading.Thread(target=_run_loop, args=(self._simulation, self._requests, self.meter),
                                        name="allocsim-decision-stepper", daemon=True)
        self._close = weakref.finalize(self, _abort, self._answers, self._thread)
        self._pending: Decision | None = None
        self._finished = False
        self._result: RunResult | None = None
        self._started_s = 0.0
        self._wall_s = 0.0

    @property
    def view(self) -> SystemView:
        """The read-only view of the run that policies and decisions see."""
        return self._controller.view_

    def next_decision(self) -> Decision | None:
        """Run until a placement must be decided and return it (the pending one if there is one already), or
        return None when the run is over (its horizon reached, or no event left)."""
        if self._pending is None and not self._finished:
            if not self._thread.is_alive():
                self._started_s = time.perf_counter()
                self._thread.start()
            self._await_run()
        return self._pending

    def decide(self, node: int) -> None:
        """Place the pending decision's task on ``node`` and run on to the next decision (or the end).

        Raises:
            RuntimeError: No decision is pending.
            ValueError: ``node`` is not one of the decision's available nodes; the decision stays pending and
                the run is untouched.
        """
        decision = self._pending
        if decision is None:
            raise RuntimeError("no decision is pending: call next_decision() first")
        if isinstance(node, bool) or not isinstance(node, int | np.integer) or node not in decision.available_nodes:
            raise ValueError(f"node {node!r} is not available to stage {decision.task.stage_name!r} of job "
                             f"{decision.task.job_id} at t={decision.time_s:g} s; available nodes: "
                             f"{list(decision.available_nodes)}")
        self._pending = None
        self.n_decisions += 1
        self._answers.put(int(node))
        self._await_run()

    def run_policy(self, policy: str | Policy | None = None) -> RunResult:
        """Answer every remaining decision with ``policy`` (a policy object, or a name: its parameters as `run`
        takes them; default: the scenario's policy), bound to the run's view with the run's policy stream as a
        plain run binds it, and return the result."""
        policy_object = scenario_policy(self._simulation.scenario, policy)
        if IMMEDIATE not in policy_object.modes:
            raise UserInputError([f"policy {policy_object.name!r} does not support immediate mode, which decision "
                                  f"points need; it supports: {', '.join(policy_object.modes)}"])
        policy_object.prepare(self._simulation.scenario)
        policy_object.bind(self.view, stream(self.seed, "policy"))
        decision = self.next_decision()
        while decision is not None:
            self.decide(policy_object.assign(decision.task))
            decision = self.next_decision()
        return self.result()

    def result(self) -> RunResult:
        """Run to the end and return the run's tables and summary, built as `Simulation.run` builds them (once:
        later calls return the same result).

        Raises:
            RuntimeError: A decision is pending, or one comes up before the run ends.
        """
        if self.next_decision() is not None:
            raise RuntimeError(f"a decision is pending at t={self._pending.time_s:g} s "  # type: ignore[union-attr]
                               "(answer it with decide(), or let a policy answer all: run_policy())")
        if self._result is None:
            self._result = self._simulation.result(self._wall_s)
        return self._result

    def close(self) -> None:
        """Abandon the run: its thread ends (also done when the stepper is garbage collected)."""
        self._close()

    def _await_run(self) -> None:
        """Wait until the run thread asks for a decision or ends; it is paused whenever this returns."""
        message = self._requests.get()
        if isinstance(message, _Finished):
            self._finished = True
            self._wall_s = time.perf_counter() - self._started_s
            self._thread.join()
            if message.error is not None:
                raise message.error
            return
        available: Sequence[int] = self.view.eligible_nodes(message)
        self._pending = Decision(message, self._simulation.env.now, tuple(available), self.view)
