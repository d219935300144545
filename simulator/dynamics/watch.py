"""Watching whether nodes have work, by composition: a node's ``enqueue`` and completion callback are wrapped on
the instance, so nodes nobody watches (and every node of a static run) keep their plain methods.

A node has work while it has a task queued or in service; a busy-clock failure process lets its time to failure
elapse only then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from simulator.cluster import Node
from simulator.workload import Task


def has_work(node: Node) -> bool:
    """Whether a task is queued at the node or in service on it."""
    return node.busy > 0 or node.queue_length > 0


class NodeWatch:
    """Calls ``on_change(node_index, has_work)`` whenever a watched node starts or stops having work.

    Changes made by the node itself (a task enqueued, a task done) are seen through the wrapped methods; the
    recovery layer, which takes tasks off nodes, calls `refresh` after it does.
    """

    def __init__(self, nodes: Sequence[Node], watched: Sequence[int],
                 on_change: Callable[[int, bool], None]) -> None:
        self._nodes = nodes
        self._on_change = on_change
        self.working = {index: has_work(nodes[index]) for index in watched}
        for index in watched:
            self._wrap(nodes[index])

    def _wrap(self, node: Node) -> None:
        enqueue = node.enqueue
        task_done = node._on_task_done
        index = node.index

        def watched_enqueue(task: Task) -> None:
            enqueue(task)
            self.refresh(index)

        def watched_task_done(task: Task) -> None:
            task_done(task)
            self.refresh(index)

        node.enqueue = watched_enqueue  # type: ignore[method-assign]
        node._on_task_done = watched_task_done

    def refresh(self, index: int) -> None:
        """Look at node ``index`` again and report a change of whether it has work."""
        if index not in self.working:
            return
        working = has_work(self._nodes[index])
        if working != self.working[index]:
            self.working[index] = working
            self._on_change(index, working)
