"""Expanding an experiment into independent runs, each with its fully resolved configuration, seed and key.

Every combination of factor levels gets its derived parameters, then every policy, then every replication;
combinations a filter rejects are left out. A run is a pure function of its resolved configuration and seed,
so its key (`run_key`) identifies its result: a changed experiment file reuses every run whose resolved
configuration did not change, and an interrupted sweep runs only the keys that are missing.

Seeds: replication r of root seed S uses `replication_seed` (S, r), the same for every factor combination
and policy, so all of them see the same arrivals and service-time draws in that replication (common random
numbers).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.capacity import capacity_per_s, stream_counts
from simulator.config import Scenario, apply_overrides, lookup, parse_scenario
from simulator.errors import ScenarioError
from simulator.runner.errors import ExperimentError
from simulator.runner.expressions import ExpressionError
from simulator.runner.spec import ExperimentSpec, PolicyEntry

__all__ = ["STORE_FORMAT", "RunSpec", "canonical_json", "expand", "replication_seed", "run_key"]

STORE_FORMAT = 1
"""Version of the run keys and records (the database's tables have their own `SCHEMA_VERSION` in
`simulator.runner.store`); a store written with another one is refused."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: everything a worker needs, and where the run sits in the grid.

    Attributes:
        key: The run's identity: sha256 of its resolved config, policy, parameters, seed and store format.
        experiment: The experiment's name.
        point: Index of the factor combination in the full grid (before filters).
        factors: Level of every factor (names as in the experiment file).
        derived: Value of every derived parameter (dotted paths).
        policy: The policy's label; policy_name and policy_params: what is instantiated.
        replication: Replication index; seed: the run's seed, derived from (root seed, replication).
        config: The fully resolved raw scenario configuration, policy table and seed included.
        scenario_file: The base scenario file, for messages; base_dir: where its relative paths start.
    """

    key: str
    experiment: str
    point: int
    factors: Mapping[str, Any]
    derived: Mapping[str, Any]
    policy: str
    policy_name: str
    policy_params: Mapping[str, Any]
    replication: int
    seed: int
    config: Mapping[str, Any]
    scenario_file: str
    base_dir: str

    def describe(self) -> str:
        """A short human-readable location: factor levels, policy and replication."""
        levels = ", ".join(f"{name}={value}" for name, value in self.factors.items())
        return f"{levels + ', ' if levels else ''}policy={self.policy}, replication={self.replication}"


def replication_seed(root_seed: int, replication: int) -> int:
    """The seed of replication ``replication``: a function of (root seed, replication) only."""
    return int(np.random.SeedSequence([root_seed, replication]).generate_state(1)[0])


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, recursively, so resolved configs serialize the same everywhere."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same bytes for the same content, in every process."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def run_key(config: Mapping[str, Any], policy_name: str, policy_params: Mapping[str, Any], seed: int) -> str:
    """sha256 (hex) of the canonical JSON of a run's inputs and the store format."""
    payload = {"store_format": STORE_FORMAT, "config": config, "policy": policy_name,
               "params": policy_params, "seed": seed}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _policy_table(base: Mapping[str, Any], entry: PolicyEntry) -> dict[str, Any]:
    table = {k: v for k, v in dict(base.get("policy", {})).items() if k not in ("name", "params")}
    table["name"] = entry.name
    table["params"] = dict(entry.params)
    if entry.mode is not None:
        table["mode"] = entry.mode
    if entry.batch_interval_s is not None:
        table["batch_interval_s"] = entry.batch_interval_s
    if entry.variant is not None:
        table["variant"] = entry.variant
    return table


class _Point:
    """One factor combination: its resolved config, its free factors and, lazily, the scenario that derived
    quantities (``capacity_per_s``, ``streams``) are computed from."""

    def __init__(self, spec: ExperimentSpec, config: dict[str, Any], free: Mapping[str, Any]) -> None:
        self.spec = spec
        self.config = config
        self.free = free
        self._scenario: Scenario | None = None

    def scenario(self) -> Scenario:
        if self._scenario is None:
            self._scenario = parse_scenario(self.config, source=str(self.spec.scenario_path.name),
                                            base_dir=self.spec.scenario_path.parent)
        return self._scenario

    def updated(self, path: str, value: Any) -> _Point:
        return _Point(self.spec, apply_overrides(self.config, {path: value}, source=self.spec.source), self.free)

    def name(self, name: str, extra: Mapping[str, Any] | None = None) -> Any:
        if name in self.free:
            return self.free[name]
        if extra and name in extra:
            return extra[name]
        if name == "capacity_per_s":
            try:
                return capacity_per_s(self.scenario())
            except ScenarioError as error:
                raise ExpressionError("capacity_per_s needs a valid scenario: " + "; ".join(error.problems)) from None
        raise ExpressionError(f"unknown name {name!r}")

    def path(self, path: str) -> Any:
        if not isinstance(path, str) or not path:
            raise ExpressionError(f"get() needs a dotted path string such as \"nodes.server.slots\", got {path!r}")
        try:
            return lookup(self.config, path)
        except KeyError as error:
            raise ExpressionError(f"cannot read {path!r}: {error.args[0]}") from None

    def functions(self) -> dict[str, Callable[..., Any]]:
        def streams(name: str) -> int:
            if not isinstance(name, str):
                raise ExpressionError(f"streams() needs the name of an arrival table, got {name!r}")
            counts = stream_counts(self.scenario())
            if name not in counts:
                raise ExpressionError(f"streams({name!r}): no [arrivals.{name}]; arrival tables: "
                                      f"{', '.join(counts) or '(none)'}")
            return counts[name]

        return {"get": self.path, "streams": streams}


def expand(spec: ExperimentSpec) -> list[RunSpec]:
    """All runs of an experiment, replication-major (so a partial sweep covers the whole grid), each checked.

    Raises:
        ExperimentError: A derived parameter or filter that cannot be evaluated, or a combination whose
            resolved scenario is invalid, each naming the experiment file and the combination.
    """
    names = [factor.name for factor in spec.factors]
    problems: list[str] = []
    seen_problems: dict[str, int] = {}
    cells: list[tuple[int, dict[str, Any], dict[str, Any], PolicyEntry, dict[str, Any]]] = []
    for point, levels in enumerate(itertools.product(*(factor.levels for factor in spec.factors))):
        assignment = dict(zip(names, levels, strict=True))
        where = ", ".join(f"{name} = {value!r}" for name, value in assignment.items()) or "the base scenario"
        try:
            config = apply_overrides(spec.base_config, {k: v for k, v in assignment.items() if "." in k},
                                     source=spec.source)
        except ScenarioError as error:
            problems.extend(f"{spec.source}: with {where}: {problem}" for problem in error.problems)
            continue
        state = _Point(spec, config, {k: v for k, v in assignment.items() if "." not in k})
        derived: dict[str, Any] = {}
        try:
            for path, expression in spec.derived:
                value = _plain(expression.evaluate(state.name, state.path, state.functions()))
                if isinstance(value, float) and not math.isfinite(value):
                    raise ExpressionError(f"{expression.text!r} gave {value}")
                derived[path] = value
                state = state.updated(path, value)
        except ExpressionError as error:
            problems.append(f"{spec.source}: derived.\"{path}\" with {where}: {error}")
            continue
        for entry in spec.policies:
            extra = {"policy": entry.label, "policy_name": entry.name}
            keep = True
            for expression in spec.filters:
                try:
                    keep = bool(expression.evaluate(functools.partial(state.name, extra=extra),
                                                    state.path, state.functions()))
                except ExpressionError as error:
                    problems.append(f"{spec.source}: experiment.filters {expression.text!r} with {where}: {error}")
                    keep = False
                if not keep:
                    break
            if not keep:
                continue
            config = dict(state.config)
            config["policy"] = _policy_table(config, entry)
            try:
                parse_scenario(config, source=spec.scenario_path.name, base_dir=spec.scenario_path.parent)
            except ScenarioError as error:
                for problem in error.problems:
                    seen_problems[problem] = seen_problems.get(problem, 0) + 1
                    if seen_problems[problem] == 1:
                        problems.append(f"{spec.source}: with {where}, policy {entry.label}: {problem}")
                continue
            cells.append((point, assignment, derived, entry, config))
    repeated = [problem for problem, count in seen_problems.items() if count > 1]
    if repeated:
        problems.append(f"{spec.source}: ({len(repeated)} of these problems occur in several combinations)")
    if problems:
        raise ExperimentError(problems)
    if not cells:
        raise ExperimentError([f"{spec.source}: the filters leave no run to do"])

    runs = []
    for replication in range(spec.replications):
        seed = replication_seed(spec.seed, replication)
        for point, assignment, derived, entry, config in cells:
            resolved = _plain({**config, "simulation": {**config.get("simulation", {}), "seed": seed}})
            runs.append(RunSpec(
                key=run_key(resolved, entry.name, entry.params, seed), experiment=spec.name, point=point,
                factors=_plain(assignment), derived=derived, policy=entry.label, policy_name=entry.name,
                policy_params=_plain(entry.params), replication=replication, seed=seed, config=resolved,
                scenario_file=str(spec.scenario_path), base_dir=str(spec.scenario_path.parent),
            ))
    return runs
