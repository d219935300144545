"""Sub-command ``train`` of ``python -m simulator`` (see `simulator.cli`): train an agent on a scenario.

``python -m simulator train SCENARIO --algorithm ppo|maskable_ppo|dqn --timesteps N --out agents/NAME.zip
[--seed S] [--reward response|name=weight,...] [--envs K] [--tensorboard DIR] [--eval-seeds 101-110]
[--imitate POLICY [--imitation-decisions N]] [--set a.b=v]``

``--imitate POLICY`` first clones a heuristic's decisions on training episodes (behaviour cloning,
`simulator.rl.imitation`), then trains ``--timesteps`` decisions with the algorithm (0: the cloned agent).

The learning curve is written beside the agent (``NAME.curve.csv``); with ``--eval-seeds`` the agent is run
against the heuristics of `simulator.rl.evaluate.BASELINES` on those seeds (which training never uses) and the
comparison is printed and written beside the agent (``NAME.evaluation.csv``, one row per run). The RL libraries
are imported only when the command runs: without them it says how to install them and exits 2.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.cli import int_in_range
from simulator.config import MAX_SEED, load_scenario
from simulator.errors import UserInputError
from simulator.policies.learned import missing_rl_extra
from simulator.user_files import user_output

__all__ = ["parse_seeds", "register_commands"]

ALGORITHM_NAMES = ("ppo", "maskable_ppo", "dqn")
MAX_TIMESTEPS = 10**9
MAX_ENVS = 64
MAX_EVAL_SEEDS = 10_000
IMITATION_DECISIONS_DEFAULT = 20_000
"""`simulator.rl.agents.IMITATION_DECISIONS` (tests check they agree; the CLI's help must not import torch)."""


def parse_seeds(text: str) -> list[int]:
    """``101-110``, ``1,2,5`` or both (``1-3,7``) -> the seeds, in order, each once (an argparse type)."""
    seeds: list[int] = []
    for part in text.split(","):
        low_text, dash, high_text = part.strip().partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if dash else low
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be seeds like 101-110 or 1,2,5, got {text!r}") from None
        if not 0 <= low <= high <= MAX_SEED:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a range of seeds in [0, {MAX_SEED}] from low to "
                                             "high")
        if len(seeds) + high - low + 1 > MAX_EVAL_SEEDS:
            raise argparse.ArgumentTypeError(f"at most {MAX_EVAL_SEEDS} seeds, got more in {text!r}")
        seeds.extend(seed for seed in range(low, high + 1) if seed not in seeds)
    return seeds


def register_commands(subparsers: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``train`` to ``python -m simulator``; returns its handler by name."""
    train = subparsers.add_parser(
        "train", help="train a reinforcement-learning agent on a scenario (extra [rl])",
        description="Train an agent (Stable-Baselines3) on the scenario's environment and save it for the `drl` "
                    "policy; the learning curve is written beside it.")
    train.add_argument("scenario", type=Path, help="scenario TOML file")
    train.add_argument("--algorithm", required=True, choices=ALGORITHM_NAMES,
                       help="ppo, maskable_ppo (chooses among available nodes only) or dqn (no action masks)")
    train.add_argument("--timesteps", required=True, type=int_in_range(0, MAX_TIMESTEPS),
                       help="decisions to train on, all environments together (0 only with --imitate)")
    train.add_argument("--out", required=True, type=Path, help="the agent file, e.g. agents/NAME.zip")
    train.add_argument("--seed", type=int_in_range(0, 2**32 - 1), default=0,
                       help="training seed: the algorithm and the training episodes' run seeds (default 0)")
    train.add_argument("--reward", default="response",
                       help="a reward term (response, slowdown, slo, energy, load_variance) or weights, e.g. "
                            "response=1,energy=0.001 (default: response)")
    train.add_argument("--envs", type=int_in_range(1, MAX_ENVS), default=1,
                       help="environments stepped together (more than one: in subprocesses)")
    train.add_argument("--tensorboard", type=Path, metavar="DIR", help="write TensorBoard logs here")
    train.add_argument("--eval-seeds", type=parse_seeds, metavar="SEEDS",
                       help="after training, compare the agent with the heuristics on these run seeds, e.g. 101-110")
    train.add_argument("--imitate", metavar="POLICY",
                       help="first clone this heuristic's decisions (an immediate-mode policy, e.g. least_work_left), "
                            "then fine-tune with the algorithm (ppo or maskable_ppo)")
    train.add_argument("--imitation-decisions", type=int_in_range(1, MAX_TIMESTEPS), metavar="N",
                       help=f"teacher decisions to clone (default {IMITATION_DECISIONS_DEFAULT}; needs --imitate)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a scenario field by dotted path")
    return {"train": _command_train}


def _command_train(args: argparse.Namespace) -> int:
    try:
        from simulator.rl.agents import check_evaluation_seeds, train_agent
        from simulator.rl.evaluate import BASELINES, evaluate, evaluation_table, format_evaluation
        from simulator.rl.rewards import parse_reward
    except ImportError as error:
        raise missing_rl_extra(error, "train") from None
    from simulator.policies import POLICIES
    from simulator.rl.imitation import check_teacher

    problems = _imitation_problems(args)
    for option, check in (("--reward", lambda: parse_reward(args.reward)),
                          ("--eval-seeds", lambda: check_evaluation_seeds(args.eval_seeds or [])),
                          ("--imitate", lambda: check_teacher(args.imitate) if args.imitate is not None else None)):
        try:
            check()
        except UserInputError as error:
            problems.extend(f"{option}: {problem.removeprefix('imitate: ')}" for problem in error.problems)
    if problems:
        raise UserInputError(problems)
    scenario = load_scenario(args.scenario, args.overrides)
    out: Path = args.out
    curve = out.with_suffix(".curve.csv")
    progress = args.log_level <= logging.INFO
    agent = train_agent(scenario, args.algorithm, args.timesteps, seed=args.seed, reward=args.reward,
                        n_envs=args.envs, out=out, tensorboard_dir=args.tensorboard, progress=progress,
                        learning_curve=curve, imitate=args.imitate,
                        imitation_decisions=args.imitation_decisions or IMITATION_DECISIONS_DEFAULT)
    imitation = agent.metadata.get("imitation")
    if imitation:
        print(f"cloned {imitation['teacher']} on {imitation['decisions']} decisions ({imitation['episodes']} "
              f"episodes): the agent's most likely node is the teacher's in {100 * imitation['agreement']:.1f}%")
    print(f"agent written to {out} ({out.stat().st_size / 1000:.0f} kB, {args.algorithm}, "
          f"{agent.metadata['timesteps']} timesteps in {agent.metadata['training_s']:.0f} s); "
          f"learning curve: {curve}")
    if not args.eval_seeds:
        return 0
    policies: list[Any] = [out, *(name for name in BASELINES if name in POLICIES)]
    runs = evaluate(scenario, policies, args.eval_seeds)
    evaluation = out.with_suffix(".evaluation.csv")
    with user_output(evaluation, "--out"):
        runs.to_csv(evaluation, index=False)
    print(f"\nscenario {scenario.name}, seeds {_seed_text(args.eval_seeds)}:")
    print(format_evaluation(evaluation_table(runs)))
    print(f"runs written to {evaluation}")
    return 0


def _imitation_problems(args: argparse.Namespace) -> list[str]:
    """The option combinations `train` refuses: a zero budget without imitation, imitation with DQN or its
    decisions without it."""
    problems = []
    if args.imitate is None:
        if args.timesteps == 0:
            problems.append("--timesteps: 0 trains nothing; it is allowed only with --imitate (the cloned agent)")
        if args.imitation_decisions is not None:
            problems.append("--imitation-decisions: needs --imitate POLICY (the teacher whose decisions to clone)")
    elif args.algorithm == "dqn":
        problems.append("--imitate: the imitation warm start fits a policy network to the teacher's nodes; DQN has "
                        "none (only Q-values): use --algorithm ppo or maskable_ppo")
    return problems


def _seed_text(seeds: list[int]) -> str:
    contiguous = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    return f"{seeds[0]}-{seeds[-1]}" if contiguous and len(seeds) > 1 else ",".join(map(str, seeds))
