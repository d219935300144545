"""One run: scenario + policy + seed -> wired SimPy model -> `RunResult` with tidy tables and a summary."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator.cluster import ModelServerNode, build_nodes
from simulator.config import MAX_SEED, Scenario
from simulator.costs import CostTable, ServiceTimeModel
from simulator.disciplines import ProcessorSharingNode, RoundRobinNode
from simulator.dispatch import Dispatcher, with_mixin
from simulator.engine import Environment
from simulator.errors import UserInputError
from simulator.joins import JoinDispatcher, has_joins, with_joins
from simulator.metrics import explain_undefined, node_table, summarize
from simulator.network import build_network
from simulator.network.brokers import Broker, broker_table, build_brokers
from simulator.policies import Policy, make_policy
from simulator.randomness import stream
from simulator.recorder import Recorder, batch_table
from simulator.streaming import StreamingDispatcher, has_streaming
from simulator.user_files import user_output, writable_directory
from simulator.variants import VariantDispatcher, VariantRecorder, job_accuracy
from simulator.workload import CompiledApplication, compile_applications

if TYPE_CHECKING:
    from simulator.dynamics import Reallocation, World

__all__ = ["RunResult", "Simulation", "run", "scenario_policy"]

_OVERVIEW_METRICS = ("jobs_completed", "jobs_unfinished", "response_time_mean_s", "response_time_p95_s",
                     "throughput_per_s", "utilization_mean", "slo_attainment", "energy_j")
"""The summary metrics a `RunResult` shows at a glance (its repr and its notebook table)."""

_SLOT_INTERVAL_NODES = (ModelServerNode, ProcessorSharingNode, RoundRobinNode)
"""Nodes whose slots are not held by one task each from its start to its finish: they report their busy slot
intervals for the node table."""


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
    down_periods: pd.DataFrame = field(default_factory=lambda: down_period_table({}, {}))
    """One row per period a node or link was down: component (``node`` or ``link``), name, start_s, end_s (NaN if
    still down at the end); empty in a run without failures or outages."""
    brokers: pd.DataFrame = field(default_factory=lambda: broker_table([], 0.0, 0.0))
    """One row per message broker (`simulator.network.brokers.broker_table`); empty when the scenario has none."""

    def overview(self) -> dict[str, Any]:
        """What identifies the run (scenario name, policy, seed, horizon) and its key summary metrics."""
        return {"scenario": self.scenario.name, "policy": self.policy, "seed": self.seed,
                "horizon_s": self.scenario.simulation.horizon_s,
                **{key: self.summary[key] for key in _OVERVIEW_METRICS if key in self.summary}}

    def __repr__(self) -> str:
        """One line: the overview, floats to four significant digits (the tables are too large to print)."""
        fields = ", ".join(f"{key}={_short(value)}" for key, value in self.overview().items())
        return f"RunResult({fields})"

    def _repr_html_(self) -> str:
        """The overview as a small two-column table, which Jupyter shows in place of the repr."""
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
                       f"<td style='text-align:left'>{html.escape(_short(value, quote=False))}</td></tr>"
                       for key, value in self.overview().items())
        return f"<table><caption>RunResult</caption>{rows}</table>"

    def write(self, out_dir: str | Path, table_format: str = "csv") -> list[Path]:
        """Write the tables (CSV or Parquet), the summary and the resolved config into ``out_dir``."""
        if table_format not in ("csv", "parquet"):
            raise UserInputError([f"--format must be 'csv' or 'parquet', got {table_format!r}"])
        out = writable_directory(out_dir)
        written = []
        names = ["tasks", "jobs", "nodes", "transfers", "links"] + [
            name for name in ("batches", "down_periods", "brokers") if len(getattr(self, name))]
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


def _short(value: Any, quote: bool = True) -> str:
    """A float to four significant digits, anything else as its repr (or, with ``quote=False``, as text)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value) if quote else str(value)


class Simulation:
    """A scenario wired into a SimPy environment for one seed and one policy, ready to ``run()``."""

    def __init__(self, scenario: Scenario, policy: Policy, seed: int,
                 costs: ServiceTimeModel | None = None) -> None:
        if scenario.policy.mode not in policy.modes:
            raise UserInputError([f"{scenario.path}: policy.mode {scenario.policy.mode!r} is not supported by "
                                  f"policy {policy.name!r}; it supports: {', '.join(policy.modes)}"])
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
            raise UserInputError([f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}"])
        policy.prepare(scenario)
        self.scenario = scenario
        self.seed = int(seed)
        self.policy = policy
        self.env = Environment()
        self.network = build_network(self.env, scenario.network, scenario.node_names)
        self.costs = costs or CostTable(scenario.models)
        self.applications = compile_applications(scenario, self.costs, self.seed)
        self.recorder = VariantRecorder(self.applications) if scenario.has_variants else Recorder()
        self.world: World | None = None
        self.reallocation: Reallocation | None = None
        dispatcher_class: type[Dispatcher] = Dispatcher
        dispatcher_options: dict[str, Any] = {}
        if scenario.is_dynamic:  # only then: a static run executes the plain dispatcher and nodes
            from simulator.dynamics import DynamicDispatcher

            dispatcher_class, dispatcher_options = DynamicDispatcher, {"recovery": scenario.recovery}
        if scenario.policy.clairvoyant:  # only then: tasks draw their size at release
            from simulator.sizes import ClairvoyantDispatcher, TaskSizes

            dispatcher_class = with_mixin(ClairvoyantDispatcher, dispatcher_class)
            dispatcher_options["sizes"] = TaskSizes(scenario, self.seed)
        if has_joins(self.applications):  # only then: stages that wait for some of their predecessors
            dispatcher_class = with_joins(dispatcher_class)
        self.brokers: dict[str, Broker] = {}
        if has_streaming(self.applications):  # only then: chunked outputs, brokers, streaming stages
            self.brokers = build_brokers(self.env, self.network, self.seed)
            dispatcher_class = with_mixin(StreamingDispatcher, dispatcher_class)
            dispatcher_options["brokers"] = self.brokers
        if scenario.has_variants:  # only then: tasks get a model variant when placed
            dispatcher_class = with_mixin(VariantDispatcher, dispatcher_class)
            dispatcher_options["variant_rule"] = scenario.policy.variant
        self.dispatcher = dispatcher_class(
            self.env, [], self.network, self.applications, policy, stream(seed, "policy"), self.recorder,
            mode=scenario.policy.mode, batch_interval_s=scenario.policy.batch_interval_s,
            max_jobs=scenario.simulation.max_jobs, **dispatcher_options,
        )
        self.nodes = build_nodes(self.env, scenario, self.costs, self.seed, self.dispatcher.on_task_done)
        self.dispatcher.nodes.extend(self.nodes)
        if isinstance(self.dispatcher, StreamingDispatcher):
            self.dispatcher.gate_nodes()
        if scenario.is_dynamic:
            self._start_dynamics()
        for arrival in scenario.arrivals:
            source = self.network.vertex_index(arrival.source) if arrival.source else -1
            sink = self.network.vertex_index(arrival.sink) if arrival.sink else -1
            self.dispatcher.add_arrival_stream(arrival, stream(seed, "arrivals", arrival.name), source, sink)

    def _start_dynamics(self) -> None:
        """The world's up/down state, its failure processes and outages, wired to recovery and the network, and
        the re-allocation the scenario turns on (built first, so a busy-clock watch sees its wrapped methods)."""
        from simulator.dynamics import DynamicDispatcher, Reallocation, World, start_failures

        dispatcher = self.dispatcher
        assert isinstance(dispatcher, DynamicDispatcher)

        def link_changed(name: str, up: bool) -> None:
            self.network.set_link_up(name, up)
            dispatcher.component_changed(up)
            if up:
                dispatcher.examine_parked()

        self.reallocation = Reallocation(dispatcher, self.scenario)
        self.world = World(self.env, self.scenario.node_names, self.reallocation.on_node, link_changed)
        dispatcher.recovery.watch = start_failures(self.env, self.world, self.scenario.failures,
                                                   self.scenario.outages, self.seed, self.nodes)

    def run(self) -> RunResult:
        started = time.perf_counter()
        self.env.run(until=self.scenario.simulation.horizon_s)
        return self.result(time.perf_counter() - started)

    def result(self, wall_s: float) -> RunResult:
        """The tables and summary of the run once its event loop has ended (at the horizon or out of events);
        ``wall_s`` is the wall-clock time it took."""
        scenario = self.scenario
        horizon = scenario.simulation.horizon_s
        end_s = float(horizon if horizon is not None else self.env.now)
        self.dispatcher.record_unfinished()
        app_names = [app.name for app in self.applications]
        tasks = self.recorder.task_table(app_names, [[s.spec.name for s in app.stages] for app in self.applications],
                                         scenario.node_names)
        jobs = self.recorder.job_table(app_names, self.network.vertex_names,
                                       [app.spec.deadline_s for app in self.applications])
        warmup = scenario.simulation.warmup_s
        nodes = node_table(tasks, scenario.nodes, warmup, end_s,
                           slot_intervals={node.index: node.slot_intervals() for node in self.nodes
                                           if isinstance(node, _SLOT_INTERVAL_NODES)},
                           task_slots=_task_slots(tasks, self.applications),
                           down_intervals=self._node_down_intervals())
        if isinstance(self.dispatcher, JoinDispatcher):
            jobs["late_inputs"] = np.array(self.dispatcher.late_inputs_per_job(len(jobs)), dtype=np.int64)
        summary = summarize(tasks, jobs, nodes, self.network.bytes_transferred, warmup, end_s,
                            **self._dynamics_counts(warmup, end_s))
        if "late_inputs" in jobs:
            summary["late_inputs"] = int(jobs["late_inputs"].sum())
        brokers = broker_table(list(self.brokers.values()), warmup, end_s)
        if len(brokers):
            summary["broker_wait_mean_s"] = _weighted_mean(brokers["wait_mean_s"], brokers["messages"])
            summary["broker_utilization_mean"] = float(brokers["utilization"].mean())
        if scenario.has_variants:
            jobs["accuracy"] = job_accuracy(tasks, jobs)
            measured = jobs["accuracy"][(jobs["arrival_s"] >= warmup).to_numpy()].dropna()
            summary["accuracy_mean"] = float(measured.mean()) if len(measured) else float("nan")
        summary["wall_s"] = wall_s
        undefined, undefined_warnings = explain_undefined(summary, scenario.path)
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
            batches=batch_table({node.name: node.batches for node in self.nodes if isinstance(node, ModelServerNode)}),
            down_periods=down_period_table(self.world.node_down, self.world.link_down) if self.world else
            down_period_table({}, {}),
            brokers=brokers,
        )

    def _node_down_intervals(self) -> dict[int, list[list[float]]]:
        """Per node index, its down periods (none in a static run)."""
        if self.world is None:
            return {}
        index = {name: i for i, name in enumerate(self.scenario.node_names)}
        return {index[name]: periods for name, periods in self.world.node_down.items()}

    def _dynamics_counts(self, warmup_s: float, end_s: float) -> dict[str, Any]:
        """What the summary needs from the dynamics layer: retries, whether failed service is wasted, link
        failures (down periods of links starting in the measured window), steals and cancelled replicas."""
        if self.world is None or self.reallocation is None:
            return {}
        from simulator.dynamics import DynamicDispatcher

        assert isinstance(self.dispatcher, DynamicDispatcher)
        link_failures = sum(1 for periods in self.world.link_down.values() for start, _ in periods
                            if warmup_s <= start < end_s)
        return {"retries": self.dispatcher.recovery.retries,
                "failed_service_wasted": self.scenario.recovery.on_failure != "resume",
                "link_failures": link_failures, "failed_transfers": self.network.failed_transfers,
                **self.reallocation.counts()}


def down_period_table(node_down: Mapping[str, Sequence[Sequence[float]]],
                      link_down: Mapping[str, Sequence[Sequence[float]]]) -> pd.DataFrame:
    """The down periods of nodes and links (name -> ``[start_s, end_s]`` each) as one table, in start order."""
    rows = [(component, name, start, end) for component, periods in (("node", node_down), ("link", link_down))
            for name, intervals in periods.items() for start, end in intervals]
    frame = pd.DataFrame(rows, columns=["component", "name", "start_s", "end_s"]).astype(
        {"start_s": float, "end_s": float})
    return frame.sort_values(["start_s", "component", "name"], kind="stable").reset_index(drop=True)


def _weighted_mean(values: pd.Series, weights: pd.Series) -> float:
    """The mean of ``values`` weighted by ``weights`` (NaN when they sum to 0)."""
    total = float(weights.sum())
    return float((values.fillna(0.0) * weights).sum() / total) if total else float("nan")


def _task_slots(tasks: pd.DataFrame, applications: Sequence[CompiledApplication]) -> np.ndarray | None:
    """The slots each task row holds while it runs (its stage's demand), or None when every stage holds one."""
    demands = {(app.name, stage.spec.name): stage.spec.slots for app in applications for stage in app.stages}
    if all(slots == 1 for slots in demands.values()):
        return None
    keys = zip(tasks["application"].astype(str), tasks["stage"].astype(str), strict=True)
    return np.array([demands[key] for key in keys], dtype=float)


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
    return Simulation(scenario, scenario_policy(scenario, policy, params),
                      scenario.simulation.seed if seed is None else seed, costs).run()


def scenario_policy(scenario: Scenario, policy: str | Policy | None = None,
                    params: Mapping[str, Any] | None = None) -> Policy:
    """The policy object for a run of ``scenario``: ``policy`` itself, or the one named (default: the scenario's)
    with ``params`` (default: the scenario's ``policy.params`` when the name is the scenario's, else none)."""
    if isinstance(policy, Policy):
        return policy
    name = policy or scenario.policy.name
    if params is None:
        params = scenario.policy.params if name == scenario.policy.name else {}
    return make_policy(name, dict(params))
