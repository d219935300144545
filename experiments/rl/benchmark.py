"""Train (or load) the agent of each learning-based allocation benchmark and evaluate it against the heuristics
on held-out seeds; write the files the paper's figures read (experiments/rl/results/NAME/).

    python experiments/rl/benchmark.py                      # load each shipped agent, evaluate, write results
    python experiments/rl/benchmark.py --retrain            # train again first (the budgets in suite.py)
    python experiments/rl/benchmark.py --only wan_offload   # one benchmark (repeatable)
    python experiments/rl/benchmark.py --quick --results /tmp/rl --agents /tmp/rl  # a smoke run in seconds

The benchmarks (scenario, training budget, evaluation seeds, heuristics) are defined in ``suite.py``. An agent
is trained on shorter episodes of its scenario (``training_overrides``) and evaluated on the scenario unchanged.
Per benchmark this writes ``evaluation.csv`` (a row per policy and evaluation seed), ``training_reference.csv``
(the heuristics on training-length episodes, design seeds), and, when it trains, ``learning_curve.csv`` and
``training.json``. ``--quick`` trains a few hundred decisions on 100-job runs and evaluates on two seeds: it
checks the pipeline, its numbers mean nothing, and it refuses to write into the committed results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
for folder in (REPOSITORY, Path(__file__).resolve().parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import pandas as pd  # noqa: E402
from suite import (  # noqa: E402
    AGENT,
    AGENTS,
    BENCHMARKS,
    RESULTS,
    Benchmark,
    compare_with_best,
    format_comparison,
)

from simulator import load_scenario  # noqa: E402
from simulator.config import Scenario  # noqa: E402
from simulator.errors import UserInputError  # noqa: E402

DESIGN_SEEDS = (1, 2, 3, 4, 5)
"""Seeds of the training-length reference runs: the seeds the scenarios were designed on, never evaluation seeds."""

QUICK = {"timesteps": 512, "evaluation_seeds": 2, "imitation_decisions": 300}
QUICK_OVERRIDES = {"simulation.max_jobs": 100}
"""``--quick``: a smoke run of the whole pipeline."""


def train_or_load(item: Benchmark, training_scenario: Scenario, *, folder: Path, agent_path: Path, retrain: bool,
                  quick: bool) -> None:
    """Train ``item``'s agent (writing its learning curve and training record) unless its file exists."""
    from simulator.rl.agents import load_agent, train_agent

    if not retrain and agent_path.exists():
        load_agent(agent_path)  # refuses a damaged file before any run
        print(f"{item.name}: loaded {agent_path}", flush=True)
        return
    timesteps = QUICK["timesteps"] if quick else item.timesteps
    warm_start = f" after cloning {item.imitate}" if item.imitate else ""
    print(f"{item.name}: training {item.algorithm} for {timesteps} decisions{warm_start} ...", flush=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    agent = train_agent(training_scenario, item.algorithm, timesteps, seed=item.training_seed, reward=item.reward,
                        n_envs=item.n_envs,
                        out=agent_path, progress=not quick, learning_curve=folder / "learning_curve.csv",
                        hyperparameters=dict(item.hyperparameters), imitate=item.imitate,
                        imitation_decisions=QUICK["imitation_decisions"] if quick else item.imitation_decisions)
    record = {"benchmark": item.name, "scenario": str(item.scenario.relative_to(REPOSITORY)),
              "algorithm": item.algorithm, "timesteps": timesteps, "training_seed": item.training_seed,
              "n_envs": item.n_envs, "reward": item.reward, "imitation": agent.metadata.get("imitation"),
              "training_overrides": dict(training_scenario_overrides(item, quick)),
              "hyperparameters": agent.metadata.get("hyperparameters", {}),
              "wall_s": round(time.perf_counter() - started, 1),
              "cpu_s": round(time.process_time() - cpu_started, 1), "quick": quick}
    (folder / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"{item.name}: trained in {record['wall_s']} s ({record['cpu_s']} s of CPU), saved {agent_path}", flush=True)


def training_scenario_overrides(item: Benchmark, quick: bool) -> dict[str, Any]:
    return {**item.training_overrides, **(QUICK_OVERRIDES if quick else {})}


def scenario_digest(item: Benchmark, overrides: dict[str, Any]) -> str:
    """What a stored heuristic run depends on: the scenario file's bytes and the overrides."""
    content = item.scenario.read_bytes() + json.dumps(overrides, sort_keys=True).encode()
    return hashlib.sha256(content).hexdigest()[:16]


def evaluate_policies(item: Benchmark, scenario: Scenario, policies: list[str | Path], seeds: Sequence[int],
                      digest: str, stored: pd.DataFrame | None, workers: int) -> pd.DataFrame:
    """Every (policy, seed) run, the heuristics' taken from ``stored`` where it holds them for the same scenario
    digest (a heuristic's run does not depend on the agent); the agent always runs."""
    from simulator.rl.evaluate import evaluate

    kept = pd.DataFrame()
    if stored is not None and "scenario_digest" in stored.columns:
        kept = stored[(stored["scenario_digest"] == digest) & stored["policy"].isin(item.policies)
                      & stored["seed"].isin(seeds)]
    done = set(zip(kept.get("policy", []), kept.get("seed", []), strict=True))
    frames = [kept]
    for policy in policies:
        missing = [seed for seed in seeds if (policy, seed) not in done]
        if missing:
            frames.append(evaluate(scenario, [policy], missing, workers=workers).assign(scenario_digest=digest))
    evaluation = pd.concat([frame for frame in frames if len(frame)], ignore_index=True)
    evaluation["policy"] = evaluation["policy"].where(evaluation["policy_name"] != "drl", AGENT)
    rank = evaluation["policy"].map({policy: index for index, policy in enumerate([*item.policies, AGENT])})
    return (evaluation.assign(rank=rank).sort_values(["rank", "seed"], kind="stable")
            .drop(columns="rank").reset_index(drop=True))


def run_benchmark(item: Benchmark, *, results: Path, agents: Path, retrain: bool, quick: bool,
                  with_agent: bool = True, evaluate_runs: bool = True, workers: int = 1) -> pd.DataFrame | None:
    """Train or load ``item``'s agent, evaluate it and the heuristics, write the result files; the evaluation.

    ``with_agent`` false: neither training nor the agent, the heuristics only; ``evaluate_runs`` false: training
    only (returns None).
    """
    from simulator.rl.agents import check_evaluation_seeds

    folder = results / item.name
    folder.mkdir(parents=True, exist_ok=True)
    agent_path = agents / f"{item.name}.zip"
    training_scenario = load_scenario(item.scenario, training_scenario_overrides(item, quick))
    overrides = QUICK_OVERRIDES if quick else {}
    scenario = load_scenario(item.scenario, overrides)
    if with_agent:
        train_or_load(item, training_scenario, folder=folder, agent_path=agent_path, retrain=retrain, quick=quick)
    if not evaluate_runs:
        return None
    reference = evaluate_policies(item, training_scenario, list(item.policies),
                                  DESIGN_SEEDS[:2] if quick else DESIGN_SEEDS,
                                  scenario_digest(item, training_scenario_overrides(item, quick)),
                                  _stored(folder / "training_reference.csv"), workers)
    reference.to_csv(folder / "training_reference.csv", index=False)
    seeds = item.evaluation_seeds[:QUICK["evaluation_seeds"]] if quick else item.evaluation_seeds
    check_evaluation_seeds(seeds)
    policies: list[str | Path] = [*item.policies, *([agent_path] if with_agent else [])]
    evaluation = evaluate_policies(item, scenario, policies, seeds, scenario_digest(item, overrides),
                                   _stored(folder / "evaluation.csv"), workers)
    evaluation.to_csv(folder / "evaluation.csv", index=False)
    return evaluation


def _stored(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=[item.name for item in BENCHMARKS],
                        help="run this benchmark only (repeatable; default: all)")
    parser.add_argument("--retrain", action="store_true", help="train even where the agent file exists")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny training, short runs, two seeds")
    parser.add_argument("--train-only", action="store_true", help="train (where needed), do not evaluate")
    parser.add_argument("--heuristics-only", action="store_true",
                        help="evaluate the heuristics only (no agent): their rows are kept for the next call")
    parser.add_argument("--workers", type=int, default=1, help="processes for the evaluation runs (default 1)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (default experiments/rl/results)")
    parser.add_argument("--agents", type=Path, default=AGENTS, help="agent folder (default scenarios/rl/agents)")
    args = parser.parse_args(argv)
    from simulator.rl.evaluate import evaluation_table, format_evaluation

    if args.quick and (args.results.resolve() == RESULTS or args.agents.resolve() == AGENTS):
        parser.error("--quick writes numbers that mean nothing: give --results and --agents outside the "
                     "committed folders")
    selected = [item for item in BENCHMARKS if not args.only or item.name in args.only]
    args.agents.mkdir(parents=True, exist_ok=True)
    try:
        for item in selected:
            evaluation = run_benchmark(item, results=args.results, agents=args.agents, retrain=args.retrain,
                                       quick=args.quick, with_agent=not args.heuristics_only,
                                       evaluate_runs=not args.train_only, workers=args.workers)
            if evaluation is not None:
                seeds = ", ".join(map(str, evaluation["seed"].unique()))
                print(f"\n{item.title} ({item.name}), evaluation seeds {seeds}:")
                print(format_evaluation(evaluation_table(evaluation)))
                comparison = compare_with_best(evaluation)
                print((format_comparison(comparison) if comparison else "") + "\n", flush=True)
    except UserInputError as error:
        print("\n".join(f"error: {problem}" for problem in error.problems), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
