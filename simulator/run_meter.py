"""Running totals of a stepped run: what a learning agent's rewards are differences of.

`RunMeter` integrates, exactly between events, the number of jobs in the system (by Little's law its integral is
the jobs' total time in the system), the sum of their inverse shortest response times (slowdown), the nodes'
power (energy) and the variance of node utilization, and counts completed jobs and deadline misses. Only a
stepped run (`simulator.stepping.DecisionStepper`) keeps one: it replaces the dispatcher's ``live_jobs`` with a
dict that reports jobs entering and leaving, and advances the meter before each event. A plain run executes
none of this.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from simulator.cluster import Node
from simulator.workload import CompiledApplication, Job

__all__ = ["RunMeter", "shortest_response_s"]


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
