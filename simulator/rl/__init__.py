"""Learning-based allocation (the extra ``[rl]``): any scenario as a Gymnasium environment.

`AllocationEnv` steps a run decision by decision; `Observer` turns a policy view and a task into the observation
and action mask (the same for training and for a trained agent run as a policy); `parse_reward` reads a reward
made of `REWARD_TERMS`. Importing this package imports gymnasium: core modules never import it.
"""

from __future__ import annotations

try:
    import gymnasium  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    from simulator.errors import UserInputError

    raise UserInputError(["learning-based allocation needs gymnasium: install the rl extra: "
                          "pip install 'allocsim[rl]'"]) from error

from simulator.rl.env import AllocationEnv
from simulator.rl.observation import Observer
from simulator.rl.rewards import REWARD_TERMS, parse_reward

__all__ = ["REWARD_TERMS", "AllocationEnv", "Observer", "parse_reward"]
