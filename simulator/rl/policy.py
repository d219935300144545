"""What the ``drl`` policy (`simulator.policies.learned.DRLPolicy`) runs: a loaded agent deciding from the observer.

An agent file is loaded once per process and version of the file (its resolved path and modification time): a
sweep's worker running many replications, or a run with thousands of decisions, loads it once. The observation
and mask come from `Observer` of the scenario being run, exactly as the environment builds them in training, so
a stepped environment episode answered by the agent and a plain run with ``drl`` make the same decisions.
"""

from __future__ import annotations

import functools
from pathlib import Path

from simulator.config import Scenario
from simulator.policies import SystemView, TaskView
from simulator.rl.agents import Agent, load_agent
from simulator.rl.observation import Observer

__all__ = ["AgentDecider", "agent_decider"]


@functools.lru_cache(maxsize=32)
def _cached_agent(path: str, modified_ns: int) -> Agent:
    """The agent at ``path`` as it was at ``modified_ns`` (a newer file is another key: loaded again)."""
    return load_agent(path)


def _load(path: str | Path) -> Agent:
    resolved = Path(path).resolve()
    try:
        modified_ns = resolved.stat().st_mtime_ns
    except OSError:
        modified_ns = -1  # load_agent names the file and says what is wrong
    return _cached_agent(str(resolved), modified_ns)


class AgentDecider:
    """Places tasks of one scenario with a trained agent (deterministic; see the module docstring)."""

    def __init__(self, agent: Agent, observer: Observer) -> None:
        self.agent = agent
        self.observer = observer

    def decide(self, view: SystemView, task: TaskView) -> int:
        """The agent's node for ``task``; a choice outside the mask is replaced as the environment replaces it (its
        ``invalid_action = "first_available"``: the first of the available nodes)."""
        mask = self.observer.mask(view, task)
        action = self.agent.predict(self.observer.observe(view, task), mask)
        return action if mask[action] else int(view.eligible_nodes(task)[0])


def agent_decider(path: str | Path, scenario: Scenario) -> AgentDecider:
    """The decider of the agent file ``path`` for runs of ``scenario``.

    Raises:
        UserInputError: Naming the file: missing, not an agent, or its observation layout does not fit.
    """
    agent = _load(path)
    observer = Observer(scenario)
    agent.check_fits(scenario, observer)
    return AgentDecider(agent, observer)
