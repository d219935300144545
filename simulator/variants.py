"""Model variants: a stage may offer several models of different cost and stated accuracy, one chosen per task.

A stage lists ``variants = [{ model = "...", accuracy = ... }, ...]`` instead of one ``model``. The decision for a
task of such a stage is the pair (node, variant): the policy picks the node as for any task, planning with the
variant the scenario's rule prefers on each node (`preferred_variant`: the most accurate for ``most_accurate``, the
fastest otherwise; the stage's expected times and samplers are that variant's, see
`simulator.workload.compile_applications`); then, when the task is placed on its node, it gets its variant there:

- the policy's own choice, if it makes one (`simulator.policies.Policy.choose_variant` returns an index), else
- the rule ``[policy] variant`` (`choose_variant`): ``fastest`` (the smallest expected service time on the node),
  ``most_accurate`` (the highest stated accuracy), or ``deadline`` (the default: the most accurate variant whose
  expected completion on the node, ``max(ready time, now + input transfer) + its expected service``, is within the
  job's deadline, ``arrival + deadline_s``; else the fastest there). The deadline rule is greedy and per stage: it
  does not reserve time for the stages after this one (nor for the result's way to the sink), so it fits a job's
  last (or only) stage with variants best; a job without a deadline always gets the most accurate variant.
  Ties in accuracy go to the faster variant on the node, ties in time to the more accurate, then to the first
  listed.

The task then draws its service time from its variant and counts its variant's expected time in its node's
backlog (``task.samplers``, ``task.exec_s``), so nodes need no code of their own. A moved or redispatched attempt
is placed again and may get another variant; one resumed or restarted where it was keeps its own.

Accuracy is what the user states for each model (its published benchmark, e.g. COCO mAP or ImageNet top-1); the
simulator does not measure it. It reports it: the task table's ``model`` and ``accuracy`` columns, the job table's
``accuracy`` (the product of the accuracies of the variants its finished tasks ran: the probability that every
stage with variants is right when their errors are independent), and the summary's ``accuracy_mean`` over measured
jobs. A run without variants builds none of this (`VariantDispatcher`, `VariantRecorder` are used only when
`Scenario.has_variants`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.dispatch import Dispatcher
from simulator.recorder import TASK_ROW, Recorder
from simulator.workload import CompiledApplication, CompiledVariant, Job, Task

__all__ = ["VariantDispatcher", "VariantRecorder", "choose_variant", "job_accuracy", "preferred_variant"]


def _runs(variant: CompiledVariant, node: int) -> bool:
    return variant.exec_mean_s[node] != math.inf


def _fastest(variants: Sequence[CompiledVariant], node: int, among: Sequence[int]) -> int:
    return min(among, key=lambda index: (variants[index].exec_mean_s[node], -variants[index].accuracy, index))


def _most_accurate(variants: Sequence[CompiledVariant], node: int, among: Sequence[int]) -> int:
    return min(among, key=lambda index: (-variants[index].accuracy, variants[index].exec_mean_s[node], index))


def preferred_variant(variants: Sequence[CompiledVariant], node: int, rule: str) -> int:
    """The variant policies plan with on ``node``: the most accurate there for ``most_accurate``, the fastest
    otherwise (``deadline`` places for time, then spends the slack the node leaves on accuracy); -1 if none runs
    there."""
    runnable = [index for index, variant in enumerate(variants) if _runs(variant, node)]
    if not runnable:
        return -1
    return _most_accurate(variants, node, runnable) if rule == "most_accurate" else _fastest(variants, node, runnable)


def choose_variant(variants: Sequence[CompiledVariant], node: int, rule: str, start_s: float,
                   due_s: float) -> int:
    """The variant ``rule`` gives a task placed on ``node`` (see the module docstring): ``start_s`` is when it is
    expected to start there, ``due_s`` when its job's deadline falls (inf without one)."""
    runnable = [index for index, variant in enumerate(variants) if _runs(variant, node)]
    if rule == "fastest":
        return _fastest(variants, node, runnable)
    if rule == "most_accurate":
        return _most_accurate(variants, node, runnable)
    in_time = [index for index in runnable if start_s + variants[index].exec_mean_s[node] <= due_s]
    return _most_accurate(variants, node, in_time) if in_time else _fastest(variants, node, runnable)


class VariantDispatcher(Dispatcher):
    """A dispatcher whose tasks of stages with variants get their variant when they are placed on a node (mixed in
    before the run's dispatcher class by `dispatch.with_mixin`)."""

    def __init__(self, *args: Any, variant_rule: str, **kwargs: Any) -> None:
        self.variant_rule = variant_rule
        super().__init__(*args, **kwargs)

    def _assign(self, task: Task, node_index: int, now: float) -> None:
        variants = task.stage.variants
        if variants:
            chosen = self._variant_for(task, node_index, now)
            variant = variants[chosen]
            task.variant = chosen
            task.samplers = variant.samplers
            task.exec_s = variant.exec_mean_s
        super()._assign(task, node_index, now)

    def _variant_for(self, task: Task, node: int, now: float) -> int:
        """The policy's choice if it makes one (checked), else the scenario's rule."""
        variants = task.stage.variants
        chosen = self.policy.choose_variant(task, node)
        if chosen is None:
            view = self.view
            start_s = max(view.expected_ready_time_s(node), now + view.transfer_estimate_s(task, node))
            return choose_variant(variants, node, self.variant_rule, start_s, task.job.arrival_s + task.deadline_s)
        if (isinstance(chosen, bool) or not isinstance(chosen, int | np.integer) or not 0 <= chosen < len(variants)
                or not _runs(variants[int(chosen)], node)):
            runnable = [index for index, variant in enumerate(variants) if _runs(variant, node)]
            raise RuntimeError(f"policy {self.policy.name!r} chose variant {chosen!r} for stage {task.stage_name!r} "
                               f"of application {task.application!r} on node {node}; the variants that run there "
                               f"are {runnable} (indices into the stage's variants), or None for the scenario's rule")
        return int(chosen)


class VariantRecorder(Recorder):
    """A recorder that also keeps, for each task row, the variant the task ran (-1: its stage has none, or it was
    never placed), and adds the ``model`` and ``accuracy`` columns to the task table."""

    def __init__(self, applications: Sequence[CompiledApplication]) -> None:
        super().__init__()
        self.applications = applications
        self.variant_rows = bytearray()

    def _variants_of(self, tasks: Sequence[Task | None]) -> None:
        self.variant_rows += np.array([getattr(task, "variant", -1) for task in tasks if task is not None],
                                      dtype="<i8").tobytes()

    def job(self, job: Job, finished: bool = True) -> None:
        super().job(job, finished)
        self._variants_of(job.tasks)

    def tasks_of(self, job: Job) -> None:
        super().tasks_of(job)
        self._variants_of(job.tasks)

    def attempt(self, task: Task, state: str) -> None:
        super().attempt(task, state)
        self._variants_of([task])

    def task_table(self, application_names: Sequence[str], stage_names: Sequence[Sequence[str]],
                   node_names: Sequence[str]) -> pd.DataFrame:
        """The plain task table with ``model`` (the model the task ran: its variant's, or its stage's one model;
        empty for a task of a stage with variants that was never placed) and ``accuracy`` (its variant's stated
        accuracy; NaN for a stage without variants or a task never placed)."""
        frame = super().task_table(application_names, stage_names, node_names)
        rows = np.frombuffer(self.task_rows, dtype=TASK_ROW)
        variants = np.frombuffer(self.variant_rows, dtype="<i8")
        models: list[str] = []
        accuracy = np.full(len(rows), math.nan)
        for position, (application, stage, variant) in enumerate(zip(rows["application"], rows["stage"], variants,
                                                                     strict=True)):
            compiled = self.applications[application].stages[stage]
            if not compiled.variants:
                models.append(compiled.spec.model)
            elif variant < 0:
                models.append("")
            else:
                models.append(compiled.variants[variant].model)
                accuracy[position] = compiled.variants[variant].accuracy
        position = list(frame.columns).index("node")
        frame.insert(position, "model", pd.Series(pd.Categorical(models), index=frame.index))
        frame.insert(position + 1, "accuracy", accuracy)
        return frame


def job_accuracy(tasks: pd.DataFrame, jobs: pd.DataFrame) -> np.ndarray:
    """Per job (in job order): the product of the stated accuracies of the variants its finished tasks ran (errors
    of its stages independent: the probability that all are right); NaN for a job that did not finish or ran no
    stage with variants."""
    ran = tasks[(tasks["state"] == "finished") & tasks["accuracy"].notna()]
    product = ran.groupby("job_id")["accuracy"].prod()
    accuracy = np.full(len(jobs), math.nan)
    accuracy[product.index.to_numpy()] = product.to_numpy()
    accuracy[(jobs["state"] != "finished").to_numpy()] = math.nan
    return accuracy
