"""A trained agent as a policy (``drl``), and the agent file it reads.

An agent file is the zip Stable-Baselines3 saves, with one more member, ``allocsim_agent.json``: what the agent
was trained for (algorithm, observation layout: node names and stages, training seeds, reward). SB3 ignores
members it does not know, so the file loads in SB3 as it is. Reading the metadata needs only the standard
library: a scenario naming an agent is validated (the file exists and is an agent) without importing torch; the
model itself (torch, SB3 and the environment's observer: the extra [rl]) is loaded when a run prepares the
policy, once per process and version of the file (`simulator.rl.policy`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from simulator.errors import UserInputError
from simulator.plugins import ParameterError
from simulator.policies.base import IMMEDIATE, Policy, TaskView, register_policy

if TYPE_CHECKING:
    from simulator.config import Scenario
    from simulator.rl.policy import AgentDecider

__all__ = ["AGENT_FORMAT", "AGENT_METADATA_MEMBER", "RL_PACKAGES", "DRLPolicy", "missing_rl_extra",
           "read_agent_metadata", "write_agent_metadata"]

AGENT_METADATA_MEMBER = "allocsim_agent.json"
"""The zip member holding the metadata."""
AGENT_FORMAT = "allocsim-agent/1"
"""The metadata's ``format`` value; a file of another format is refused rather than misread."""

RL_PACKAGES = ("torch", "gymnasium", "stable_baselines3", "sb3_contrib")
"""The extra [rl]."""


def missing_rl_extra(error: ImportError, needed_by: str) -> UserInputError:
    """The error saying how to install the extra [rl] when ``error`` is a package of it missing; otherwise
    ``error`` itself is raised again (a broken module of ours keeps its traceback)."""
    missing = (error.name or "").partition(".")[0]
    if missing not in RL_PACKAGES:
        raise error
    return UserInputError([f"{needed_by} needs torch, gymnasium, stable-baselines3 and sb3-contrib ({missing} is "
                           "missing): install the rl extra: pip install 'allocsim[rl]'"])


def read_agent_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of the agent file ``path``.

    Raises:
        UserInputError: Naming the file: it does not exist, is not a zip, or is not an agent saved by `train`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError([f"{path}: no such agent file" if not path.exists() else f"{path}: not a file"])
    try:
        with zipfile.ZipFile(path) as archive:
            if AGENT_METADATA_MEMBER not in archive.namelist():
                raise UserInputError([f"{path}: not an allocsim agent (the zip has no {AGENT_METADATA_MEMBER}; save "
                                      "agents with `python -m simulator train`)"])
            metadata = json.loads(archive.read(AGENT_METADATA_MEMBER).decode("utf-8"))
    except (zipfile.BadZipFile, OSError) as error:
        raise UserInputError([f"{path}: not an agent file (not a readable zip archive: {error})"]) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserInputError([f"{path}: {AGENT_METADATA_MEMBER} is not valid JSON: {error}"]) from None
    if not isinstance(metadata, dict) or metadata.get("format") != AGENT_FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise UserInputError([f"{path}: agent format {found!r} is not {AGENT_FORMAT!r} (saved by another version?)"])
    return metadata


def write_agent_metadata(path: str | Path, metadata: dict[str, Any]) -> None:
    """Add the metadata to the zip SB3 saved at ``path`` (``format`` is set here)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(AGENT_METADATA_MEMBER, json.dumps({"format": AGENT_FORMAT, **metadata}, indent=2))


@register_policy("drl")
class DRLPolicy(Policy):
    """A trained agent (`python -m simulator train`) places each task: deterministic inference, immediate mode.

    Args:
        agent: Path of the agent file; in a scenario or experiment file relative to that file's directory.

    The agent sees what it saw in training (`simulator.rl.Observer` of the scenario, with the action mask:
    MaskablePPO chooses among the available nodes only; a PPO or DQN agent's choice of a node that is not
    available is replaced as the environment replaces it). A scenario whose nodes or stages differ from the
    agent's is refused.
    """

    modes: ClassVar[tuple[str, ...]] = (IMMEDIATE,)
    path_params: ClassVar[tuple[str, ...]] = ("agent",)

    def __init__(self, agent: str) -> None:
        self.agent = agent

    def check_params(self) -> None:
        if not isinstance(self.agent, str) or not self.agent:
            raise ParameterError(f"agent must be the path of an agent file saved by `python -m simulator train`, "
                                 f"got {self.agent!r}")
        try:
            read_agent_metadata(self.agent)
        except UserInputError as error:
            raise ParameterError(*(f"agent: {problem}" for problem in error.problems)) from None

    def prepare(self, scenario: Scenario) -> None:
        try:
            from simulator.rl.policy import agent_decider
        except ImportError as error:
            raise missing_rl_extra(error, "policy 'drl'") from None
        self.decider_: AgentDecider = agent_decider(self.agent, scenario)

    def assign(self, task: TaskView) -> int:
        decider = getattr(self, "decider_", None)
        if decider is None:
            raise RuntimeError("policy 'drl' decides for a scenario: call prepare(scenario) before bind and assign "
                               "(a run and DecisionStepper.run_policy do)")
        return decider.decide(self.view_, task)
