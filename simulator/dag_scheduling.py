"""HEFT (Heterogeneous Earliest Finish Time, Topcuoglu, Hariri & Wu, IEEE TPDS 13(3), 2002) for one DAG.

A pure function over arrays, so the published worked example can be checked exactly and the simulator's
``heft`` policy can plan each job's stages with the same code.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

EdgeTime = Callable[[int, int, int, int], float]
"""edge_time(from_task, to_task, from_processor, to_processor) -> seconds (0 on the same processor)."""


@dataclass(frozen=True)
class HeftSchedule:
    """Processor, start and finish time of every task, its upward rank, and the order HEFT placed them in."""

    processor: tuple[int, ...]
    start_s: tuple[float, ...]
    finish_s: tuple[float, ...]
    upward_rank: tuple[float, ...]
    order: tuple[int, ...]

    @property
    def makespan_s(self) -> float:
        return max(self.finish_s)


def upward_ranks(exec_s: np.ndarray, successors: Sequence[Sequence[int]],
                 mean_edge_s: Callable[[int, int], float]) -> list[float]:
    """rank_u(i) = mean execution time of i + max over successors j of (mean edge time i->j + rank_u(j)).

    Means are over the processors a task can run on (finite entries of its row of ``exec_s``). Computed in
    reverse topological order without recursion, so chains of any depth work.

    Raises:
        ValueError: If the successor lists contain a cycle.
    """
    n_tasks = len(exec_s)
    waiting = [len(successors[task]) for task in range(n_tasks)]  # successors whose rank is not known yet
    predecessors: list[list[int]] = [[] for _ in range(n_tasks)]
    for task in range(n_tasks):
        for successor in successors[task]:
            predecessors[successor].append(task)
    ranks = [math.nan] * n_tasks
    ready = [task for task in range(n_tasks) if waiting[task] == 0]  # exit tasks first
    done = 0
    while ready:
        task = ready.pop()
        row = exec_s[task]
        mean_exec = float(row[np.isfinite(row)].mean())
        ranks[task] = mean_exec + max((mean_edge_s(task, s) + ranks[s] for s in successors[task]), default=0.0)
        done += 1
        for before in predecessors[task]:
            waiting[before] -= 1
            if waiting[before] == 0:
                ready.append(before)
    if done < n_tasks:
        raise ValueError("the task graph has a cycle: upward ranks are undefined")
    return ranks


def heft(exec_s: np.ndarray, predecessors: Sequence[Sequence[int]], edge_time: EdgeTime,
         mean_edge_s: Callable[[int, int], float] | None = None,
         processor_ready_s: Sequence[float] | None = None,
         earliest_start_s: Callable[[int, int], float] | None = None) -> HeftSchedule:
    """Schedule a DAG with HEFT: tasks by decreasing upward rank, each on the processor giving it the earliest
    finish time, with insertion into idle gaps between already placed tasks.

    Args:
        exec_s: tasks x processors execution times; ``inf`` where a task cannot run.
        predecessors: For each task, the tasks it depends on.
        edge_time: Data transfer time of an edge between two given processors (must be 0 when equal).
        mean_edge_s: Average edge time used for ranks; default: the mean of ``edge_time`` over every pair of
            processors the two tasks can run on.
        processor_ready_s: When each processor becomes available (default 0).
        earliest_start_s: ``(task, processor) -> seconds``, the earliest a task may start there, e.g. when its
            input from outside the DAG arrives (default 0).

    Ties (equal ranks, equal finish times) go to the lower task / processor index.
    """
    exec_s = np.asarray(exec_s, dtype=float)
    n_tasks, n_processors = exec_s.shape
    successors: list[list[int]] = [[] for _ in range(n_tasks)]
    for task, befores in enumerate(predecessors):
        for before in befores:
            successors[before].append(task)
    allowed = [np.flatnonzero(np.isfinite(exec_s[task])).tolist() for task in range(n_tasks)]
    if mean_edge_s is None:
        def mean_edge_s(i: int, j: int) -> float:
            return float(np.mean([edge_time(i, j, p, q) for p in allowed[i] for q in allowed[j]]))
    ranks = upward_ranks(exec_s, successors, mean_edge_s)
    order = sorted(range(n_tasks), key=lambda task: (-round(ranks[task], 9), task))  # ties: lower index
    ready = list(processor_ready_s) if processor_ready_s is not None else [0.0] * n_processors
    busy: list[list[tuple[float, float]]] = [[] for _ in range(n_processors)]  # sorted (start, finish)
    processor = [-1] * n_tasks
    start = [math.nan] * n_tasks
    finish = [math.nan] * n_tasks
    for task in order:
        best: tuple[float, float, int] | None = None
        for p in allowed[task]:
            earliest = earliest_start_s(task, p) if earliest_start_s is not None else 0.0
            data_ready = max([earliest] + [finish[m] + edge_time(m, task, processor[m], p) for m in predecessors[task]])
            begin = _earliest_gap(busy[p], max(data_ready, ready[p]), float(exec_s[task, p]))
            end = begin + float(exec_s[task, p])
            if best is None or end < best[0]:
                best = (end, begin, p)
        assert best is not None, f"task {task} can run on no processor"
        end, begin, p = best
        processor[task], start[task], finish[task] = p, begin, end
        bisect.insort(busy[p], (begin, end))
    return HeftSchedule(tuple(processor), tuple(start), tuple(finish), tuple(ranks), tuple(order))


def _earliest_gap(intervals: list[tuple[float, float]], not_before: float, duration: float) -> float:
    """Earliest start >= not_before of an idle gap of ``duration`` among sorted busy intervals (insertion)."""
    candidate = not_before
    for begin, end in intervals:
        if candidate + duration <= begin:
            return candidate
        candidate = max(candidate, end)
    return candidate
