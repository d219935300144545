"""DAG scheduling in the simulator: HEFT plans every job's stages when its first task is released."""

from __future__ import annotations

from functools import partial

import numpy as np

from simulator.dag_scheduling import heft
from simulator.policies.base import IMMEDIATE, Policy, SystemView, TaskView, pick_min, register_policy


@register_policy("heft")
class HeftPolicy(Policy):
    """HEFT (Topcuoglu et al. 2002) per job: upward ranks from mean execution and transfer estimates, then each
    stage on the node slot giving the earliest finish time, with insertion, from the nodes' expected ready
    times and the network's current estimates. Later stages of the job follow the plan.

    In a run where nodes fail, the plan may name a node that is no longer available to the stage (down, or
    unreachable from its inputs), or a stage may be placed again after its planned node was used (a retry, a
    move): the stage then goes to the available node of earliest expected finish time (HEFT's rule for one task,
    from the nodes' expected ready times and the transfer of its inputs)."""

    modes = (IMMEDIATE,)

    def __init__(self) -> None:
        pass

    def bind(self, view: SystemView, rng: np.random.Generator) -> None:
        super().bind(view, rng)
        self.plans_: dict[int, list[int]] = {}

    def assign(self, task: TaskView) -> int:
        plan = self.plans_.get(task.job_id)
        if plan is None:
            plan = self.plans_[task.job_id] = self._plan(task)
        node = plan[task.stage_index]
        plan[task.stage_index] = -1
        if all(entry < 0 for entry in plan):
            del self.plans_[task.job_id]
        available = self.view_.eligible_nodes(task)
        if node in available:
            return node
        return pick_min(available, partial(self._finish_s, task), "lowest_index", self.rng_)

    def _finish_s(self, task: TaskView, node: int) -> float:
        view = self.view_
        start = max(view.expected_ready_time_s(node), view.now + view.transfer_estimate_s(task, node))
        return start + view.exec_estimate_s(task, node)

    def _plan(self, task: TaskView) -> list[int]:
        view = self.view_
        graph = view.stage_graph(task)
        slot_node = [node for node in range(view.n_nodes) for _ in range(view.slots(node))]
        exec_s = graph.exec_s[:, slot_node]
        eligible = [np.flatnonzero(np.isfinite(row)).tolist() for row in graph.exec_s]
        now = view.now
        edge_cache: dict[tuple[int, int, int], float] = {}

        def node_edge_s(stage: int, source: int, target: int) -> float:
            if source == target:
                return 0.0
            key = (stage, source, target)
            if key not in edge_cache:
                edge_cache[key] = view.edge_estimate_s(source, target, graph.output_bytes[stage])
            return edge_cache[key]

        def mean_edge_s(i: int, j: int) -> float:
            return float(np.mean([node_edge_s(i, p, q) for p in eligible[i] for q in eligible[j]]))

        def earliest_start_s(stage: int, slot: int) -> float:
            if graph.predecessors[stage]:
                return now
            return now + view.input_estimate_s(task, stage, slot_node[slot])

        schedule = heft(
            exec_s, graph.predecessors,
            lambda i, j, p, q: node_edge_s(i, slot_node[p], slot_node[q]),
            mean_edge_s=mean_edge_s,
            processor_ready_s=[view.expected_ready_time_s(node) for node in slot_node],
            earliest_start_s=earliest_start_s,
        )
        return [slot_node[slot] for slot in schedule.processor]
