"""One run: scenario + policy + seed -> wired SimPy model -> `RunResult` with tidy tables and a summary."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.calibration.cost_model import BatchSampler
from simulator.cluster import ModelServerNode, ModelServing, Node
from simulator.config import MAX_SEED, NodeSpec, Scenario, eligible_nodes
from simulator.costs import CostTable, Sampler, ServiceTimeModel
from simulator.dispatch import Dispatcher
from simulator.engine import Environment
from simulator.errors import UserInputError
from simulator.metrics import node_table, summarize
from simulator.network import Network
from simulator.policies import Policy, make_policy
from simulator.randomness import stream
from simulator.recorder import Recorder
from simulator.user_files import user_output, writable_directory
from simulator.workload import CompiledApplication, CompiledStage

__all__ = ["RunResult", "Simulation", "run"]


def _scaled(sampler: Sampler, factor: float) -> Sampler:
    if factor == 1.0:
        return sampler
    return lambda: sampler() * factor


def compile_applications(scenario: Scenario, costs: ServiceTimeModel, seed: int) -> list[CompiledApplication]:
    """Precompute, per stage, the eligible nodes, scaled mean times and samplers (shared per model and kind)."""
    samplers: dict[tuple[str, str], Sampler] = {}
    applications = []
    for app_index, app in enumerate(scenario.applications.values()):
        names = [stage.name for stage in app.stages]
        successors: dict[str, list[int]] = {name: [] for name in names}
        for index, stage in enumerate(app.stages):
            for before in stage.after:
                successors[before].append(index)
        stages = []
        for index, stage in enumerate(app.stages):
            eligible = tuple(eligible_nodes(stage, scenario))
            means = [math.inf] * len(scenario.nodes)
            node_samplers: list[Sampler | None] = [None] * len(scenario.nodes)
            for node_index in eligible:
                node = scenario.nodes[node_index]
                key = (stage.model, node.kind)
                if key not in samplers:
                    samplers[key] = costs.sampler(stage.model, node.kind, seed)
                factor = stage.work / node.speed
                means[node_index] = costs.mean_s(stage.model, node.kind) * factor
                node_samplers[node_index] = _scaled(samplers[key], factor)
            stages.append(CompiledStage(
                index=index, spec=stage, application=app.name,
                predecessors=tuple(names.index(before) for before in stage.after),
                successors=tuple(successors[stage.name]), eligible=eligible,
                exec_mean_s=means, samplers=node_samplers,
            ))
        applications.append(CompiledApplication(
            index=app_index, spec=app, stages=stages,
            entry=tuple(s.index for s in stages if not s.predecessors),
            exits=tuple(s.index for s in stages if not s.successors),
        ))
    return applications


@dataclass
class RunResult:
    """Everything a run produced: tidy tables (times in seconds), the summary and the run's provenance."""

    scenario: Scenario
    policy: str
    policy_params: dict[str, Any]
    seed: int
    tasks: pd.DataFrame
    jobs: pd.DataFrame
    nodes: pd.DataFrame
    transfers: pd.DataFrame
    links: pd.DataFrame
    summary: dict[str, Any]
    wall_s: float
    config: dict[str, Any] = field(default_factory=dict)
    batches: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per batch served by a batching or memory-limited node (empty when the scenario has none)."""

    def write(self, out_dir: str | Path, table_format: str = "csv") -> list[Path]:
        """Write the tables (CSV or Parquet), the summary and the resolved config into ``out_dir``."""
        if table_format not in ("csv", "parquet"):
            raise UserInputError([f"--format must be 'csv' or 'parquet', got {table_format!r}"])
        out = writable_directory(out_dir)
        written = []
        names = ["tasks", "jobs", "nodes", "transfers", "links"] + (["batches"] if len(self.batches) else [])
        with user_output(out):
            for name in names:
                table: pd.DataFrame = getattr(self, name)
                path = out / f"{name}.{table_format}"
                if table_format == "csv":
                    table.to_csv(path, index=False)
                else:
                    table.to_parquet(path, index=False)
                written.append(path)
            for name, content in (("summary.json", self.summary), ("config.json", self.config)):
                path = out / name
                path.write_text(json.dumps(content, indent=2, default=str) + "\n")
                written.append(path)
        return written


class Simulation:
    """A scenario wired into a SimPy environment for one seed and one policy, ready to ``run()``."""

    def __init__(self, scenario: Scenario, policy: Policy, seed: int,
                 costs: ServiceTimeModel | None = None) -> None:
        if scenario.policy.mode not in policy.modes:
            raise UserInputError([f"{scenario.path}: policy.mode {scenario.policy.mode!r} is not supported by "
                                  f"policy {policy.name!r}; it supports: {', '.join(policy.modes)}"])
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
            raise UserInputError([f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}"])
        self.scenario = scenario
        self.seed = int(seed)
        self.policy = policy
        self.env = Environment()
        self.recorder = Recorder()
        self.network = Network(self.env, scenario.network, scenario.node_names)
        self.costs = costs or CostTable(scenario.models)
        self.applications = compile_applications(scenario, self.costs, seed)
        self.dispatcher = Dispatcher(
            self.env, [], self.network, self.applications, policy, stream(seed, "policy"), self.recorder,
            mode=scenario.policy.mode, batch_interval_s=scenario.policy.batch_interval_s,
            max_jobs=scenario.simulation.max_jobs,
        )
        batch_samplers: dict[tuple[str, str], BatchSampler] = {}
        self.nodes = [self._node(index, spec, batch_samplers) for index, spec in enumerate(scenario.nodes)]
        self.dispatcher.nodes.extend(self.nodes)
        for arrival in scenario.arrivals:
            source = self.network.vertex_index(arrival.source) if arrival.source else -1
            sink = self.network.vertex_index(arrival.sink) if arrival.sink else -1
            self.dispatcher.add_arrival_stream(arrival, stream(seed, "arrivals", arrival.name), source, sink)

    def _node(self, index: int, spec: NodeSpec, batch_samplers: dict[tuple[str, str], BatchSampler]) -> Node:
        """A plain `Node`, or a `ModelServerNode` where the node batches or its memory limits residency."""
        models = self.scenario.models
        resident = math.isfinite(spec.memory_bytes) and any(
            model.devices[spec.kind].memory_bytes > 0 for model in models.values() if spec.kind in model.devices)
        if spec.max_batch_size <= 1 and not resident:
            return Node(self.env, index, spec, self.dispatcher.on_task_done)
        serving = {}
        for name, model in models.items():
            service = model.devices.get(spec.kind)
            if service is None:
                continue
            limit, sampler = 1, None
            costs: Any = self.costs  # batch curves are optional: a plain ServiceTimeModel has none
            if spec.max_batch_size > 1 and hasattr(costs, "batch_sampler"):
                limit = min(spec.max_batch_size, costs.max_batch_size(name, spec.kind))
                if limit > 1:
                    key = (name, spec.kind)
                    if key not in batch_samplers:
                        batch_samplers[key] = costs.batch_sampler(name, spec.kind, self.seed)
                    sampler = batch_samplers[key]
            serving[name] = ModelServing(limit, sampler, service.memory_bytes, service.load_time_s)
        return ModelServerNode(self.env, index, spec, self.dispatcher.on_task_done, serving)

    def run(self) -> RunResult:
        started = time.perf_counter()
        horizon = self.scenario.simulation.horizon_s
        self.env.run(until=horizon)
        end_s = float(horizon if horizon is not None else self.env.now)
        return self._result(end_s, time.perf_counter() - started)

    def _result(self, end_s: float, wall_s: float) -> RunResult:
        scenario = self.scenario
        self.recorder.unfinished(list(self.dispatcher.live_jobs.values()))
        app_names = [app.name for app in self.applications]
        tasks = self.recorder.task_table(app_names, [[s.spec.name for s in app.stages] for app in self.applications],
                                         scenario.node_names)
        jobs = self.recorder.job_table(app_names, self.network.vertex_names,
                                       [app.spec.deadline_s for app in self.applications])
        warmup = scenario.simulation.warmup_s
        nodes = node_table(tasks, scenario.nodes, warmup, end_s)
        servers = [node for node in self.nodes if isinstance(node, ModelServerNode)]
        if servers:
            _count_batches_once(nodes, servers, warmup, end_s)
        summary = summarize(tasks, jobs, nodes, self.network.bytes_transferred, warmup, end_s)
        summary["wall_s"] = wall_s
        undefined, undefined_warnings = explain_undefined(scenario, summary)
        summary["undefined_metrics"] = undefined
        summary["warnings"] = [*scenario.warnings, *stability_warnings(scenario), *undefined_warnings]
        config = {**scenario.config, "policy": {**scenario.config.get("policy", {}), "name": self.policy.name,
                                                "params": self.policy.get_params()}}
        config.setdefault("simulation", {})
        config["simulation"] = {**config["simulation"], "seed": self.seed}
        return RunResult(
            scenario=scenario, policy=self.policy.name, policy_params=self.policy.get_params(), seed=self.seed,
            tasks=tasks, jobs=jobs, nodes=nodes, transfers=self.network.transfer_table(),
            links=self.network.link_table(end_s), summary=summary, wall_s=wall_s, config=config,
            batches=_batch_table(servers),
        )


_NO_DEADLINE = "no measured job has a deadline (applications.NAME.deadline_s)"
_UNDEFINED_BECAUSE = (
    ("slo_attainment", _NO_DEADLINE),
    ("load_cv jain_fairness", "no node was busy in the measured window"),
    ("throughput_per_s", "the measured window (simulation.warmup_s to the end of the run) is empty"),
)


def explain_undefined(scenario: Scenario, summary: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Why each summary metric that is not a finite number is undefined, so that no NaN goes unexplained.

    Returns:
        The reason per metric, and warnings (file named) for those that signal a problem with the run; a
        scenario without deadlines has no SLO attainment, which is expected and not warned about.
    """
    odd = {key for key, value in summary.items()
           if isinstance(value, float) and not math.isfinite(value) and key != "wall_s"}
    nothing_finished = ("no job that arrived after simulation.warmup_s finished within the run"
                        if summary.get("jobs_completed", 0) == 0 else "too few measured jobs or tasks")
    reasons: dict[str, str] = {}
    for keys, reason in _UNDEFINED_BECAUSE:
        reasons.update((key, reason) for key in keys.split() if key in odd)
    reasons.update((key, nothing_finished) for key in sorted(odd) if key not in reasons)
    by_reason: dict[str, list[str]] = {}
    for key, reason in reasons.items():
        if reason != _NO_DEADLINE:
            by_reason.setdefault(reason, []).append(key)
    warnings = [f"{scenario.path}: {', '.join(keys)} undefined: {reason}" for reason, keys in by_reason.items()]
    return reasons, warnings


def stability_warnings(scenario: Scenario) -> list[str]:
    """Warn when the offered load exceeds the fluid compute capacity: the queue then grows for as long as
    the run lasts, and a mean response time describes the run length rather than the system."""
    from simulator.capacity import capacity_per_s, mean_rate_per_s

    if any(arrival.process == "trace" for arrival in scenario.arrivals):
        return []  # a replayed trace is finite: its rate says little about stability
    offered = sum(mean_rate_per_s(arrival) for arrival in scenario.arrivals)
    capacity = capacity_per_s(scenario)
    if not offered > capacity * (1 + 1e-9):
        return []
    return [f"{scenario.path}: the offered load ({offered:.4g} jobs/s) exceeds the compute capacity "
            f"({capacity:.4g} jobs/s, utilization {offered / capacity:.3g}): the system is unstable, queues grow "
            "without bound and response times grow with the length of the run"]


def _count_batches_once(nodes: pd.DataFrame, servers: list[ModelServerNode], window_start_s: float,
                        window_end_s: float) -> None:
    """Busy time, utilization and energy of batching nodes from their batches (the task table would count a
    batch of ``b`` tasks ``b`` times), in place."""
    duration = max(window_end_s - window_start_s, 0.0)
    for node in servers:
        busy = node.busy_slot_seconds(window_start_s, window_end_s)
        spec = node.spec
        nodes.loc[node.index, "busy_slot_s"] = busy
        nodes.loc[node.index, "utilization"] = busy / (spec.slots * duration) if duration > 0 else 0.0
        nodes.loc[node.index, "energy_j"] = (spec.idle_power_w * duration
                                             + (spec.busy_power_w - spec.idle_power_w) * busy / spec.slots)


def _batch_table(servers: list[ModelServerNode]) -> pd.DataFrame:
    """One row per finished batch: node, model, start, finish, size and the load time it included."""
    rows = [(node.name, model, start, finish, size, load)
            for node in servers for model, start, finish, size, load in node.batches]
    frame = pd.DataFrame(rows, columns=["node", "model", "start_s", "finish_s", "batch_size", "load_s"])
    frame["batch_size"] = frame["batch_size"].astype(np.int64)
    return frame.sort_values(["start_s", "node"], kind="stable").reset_index(drop=True)


def run(scenario: Scenario, policy: str | Policy | None = None, seed: int | None = None,
        params: Mapping[str, Any] | None = None, costs: ServiceTimeModel | None = None) -> RunResult:
    """Run one scenario once.

    Args:
        scenario: A validated scenario (see `load_scenario`).
        policy: A registered policy name or a policy object; default: the scenario's ``[policy]``.
        seed: The run's seed; default: the scenario's ``simulation.seed``.
        params: Policy parameters; default: the scenario's ``policy.params`` when the policy is the scenario's.
        costs: Where service times come from; default: the scenario's cost table.
    """
    if isinstance(policy, Policy):
        policy_object = policy
    else:
        name = policy or scenario.policy.name
        if params is None:
            params = scenario.policy.params if name == scenario.policy.name else {}
        policy_object = make_policy(name, dict(params))
    return Simulation(scenario, policy_object, scenario.simulation.seed if seed is None else seed, costs).run()
