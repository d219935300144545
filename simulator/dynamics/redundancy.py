"""Redundant execution (`StageSpec.replicas`): a task runs on up to k distinct nodes at once, the first to finish
wins and the others are cancelled, their service wasted (hedged requests; the articles' competition-based
collaboration).

The attempts of one (job, stage) racing each other form a group. The policy places the primary; each replica is
its own `Task`, placed by asking the policy again with the nodes already chosen excluded (immediate mode), or put
into the same batch as the primary, a sibling the batch puts on a node that already has one being dropped. A group
lives until one member finishes or the job ends, so rebalancing and stealing leave its members where they are. A
member lost to a node failure while a sibling still races is not replaced; losing the last one ends the group and
recovery treats it as any lost attempt (the retry, if any, races again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.workload import Job, Task, new_attempt

if TYPE_CHECKING:
    from simulator.cluster import Node
    from simulator.dynamics.dispatcher import DynamicDispatcher


class Redundancy:
    """The replica groups of a run, keyed by (job id, stage index), and the count of race losers cancelled."""

    def __init__(self, dispatcher: DynamicDispatcher) -> None:
        self.dispatcher = dispatcher
        self.recovery = dispatcher.recovery
        self.groups: dict[tuple[int, int], list[Task]] = {}
        self.cancelled = 0
        for node in dispatcher.nodes:
            self._watch(node)

    def _watch(self, node: Node) -> None:
        """The race is decided before the dispatcher hears of the winner, so successors take its node."""
        task_done = node._on_task_done

        def deciding_task_done(task: Task) -> None:
            if task.stage.spec.replicas > 1:
                self._won(task)
            task_done(task)

        node._on_task_done = deciding_task_done

    def replicated(self, task: Task) -> bool:
        """Whether the task races siblings (rebalancing and stealing leave such a task where it is)."""
        return (task.job.id, task.stage.index) in self.groups

    # -- placing the members ---------------------------------------------------------------------------------

    def with_replicas(self, tasks: list[Task]) -> list[Task]:
        """Batch mode: the tick's tasks, each replicated stage's task followed by its replicas."""
        expanded = []
        for task in tasks:
            expanded.append(task)
            key = (task.job.id, task.stage.index)
            if task.stage.spec.replicas > 1 and key not in self.groups:
                members = self.groups[key] = [task]
                for _ in range(task.stage.spec.replicas - 1):
                    replica = self._replica(task)
                    members.append(replica)
                    expanded.append(replica)
        return expanded

    def admits(self, task: Task, node: int) -> bool:
        """Called before an attempt of a replicated stage is assigned to ``node``: False for a batch sibling the
        batch put where a sibling already is (it is dropped; it was never placed, so it leaves no row)."""
        key = (task.job.id, task.stage.index)
        members = self.groups.get(key)
        if members is None:
            self.groups[key] = [task]
        elif task not in members:
            members.append(task)
        elif any(sibling.node == node for sibling in members if sibling is not task):
            members.remove(task)
            return False
        return True

    def placed(self, task: Task, now: float) -> None:
        """Immediate mode: a primary was assigned; place its replicas on other distinct available nodes, each
        through the policy with the nodes already chosen excluded (fewer when fewer nodes are available)."""
        dispatcher = self.dispatcher
        members = self.groups[(task.job.id, task.stage.index)]
        if dispatcher.batch_mode or len(members) > 1:
            return
        for _ in range(task.stage.spec.replicas - 1):
            replica = self._replica(task)
            dispatcher.exclusions[replica] = frozenset(member.node for member in members)
            if not dispatcher.view.eligible_nodes(replica):
                del dispatcher.exclusions[replica]
                return
            members.append(replica)
            dispatcher._assign(replica, dispatcher._checked(replica, dispatcher.policy.assign(replica)), now)

    def _replica(self, primary: Task) -> Task:
        """A new attempt of the primary's stage, released when it was; the job's current attempt stays the
        primary."""
        job, index = primary.job, primary.stage.index
        replica = new_attempt(primary, primary.dispatch_s)
        job.tasks[index] = primary
        return replica

    # -- ending the race -------------------------------------------------------------------------------------

    def _won(self, task: Task) -> None:
        """A member finished first: it becomes the job's task of its stage; its siblings are cancelled."""
        key = (task.job.id, task.stage.index)
        members = self.groups.get(key)
        if members is None or task not in members:
            return
        del self.groups[key]
        task.job.tasks[task.stage.index] = task
        for sibling in members:
            if sibling is not task:
                self.recovery.cancel(sibling)
                self.cancelled += 1

    def lost(self, task: Task, recorded: bool) -> bool:
        """Recovery's question when a node failure takes an attempt: True when it is a member and a sibling still
        races (it is then not replaced; a queued one, not ``recorded`` yet, is recorded ``cancelled``). Losing
        the last member ends the group (False: recovery replaces it as usual)."""
        key = (task.job.id, task.stage.index)
        members = self.groups.get(key)
        if members is None or task not in members:
            return False
        members.remove(task)
        if not members:
            del self.groups[key]
            return False
        if task.job.tasks[task.stage.index] is task:
            task.job.tasks[task.stage.index] = members[0]
        if not recorded:
            self.dispatcher.recorder.attempt(task, "cancelled")
        return True

    def end_groups(self, job: Job) -> None:
        """The job ends early (`Recovery.end_job` calls this first): members other than the job's current attempt
        are cancelled here (recovery ends that one); failed members awaiting their replacement were recorded
        already."""
        recorded = self.recovery.recorded
        for stage in job.application.stages:
            for member in self.groups.pop((job.id, stage.index), ()):
                if member is job.tasks[stage.index]:
                    continue
                if member in recorded:
                    recorded.discard(member)
                else:
                    self.recovery.cancel(member)

