"""Unit tests of the four baseline policies against a hand-made read-only view (no simulation needed)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np
import pytest

from simulator.config import load_scenario
from simulator.errors import UnknownPolicyError
from simulator.plugins import ParameterError
from simulator.policies import POLICIES, make_policy
from simulator.policies.base import StageGraph
from simulator.simulation import run

pytestmark = pytest.mark.unit


@dataclass
class FakeTask:
    job_id: int = 0
    application: str = "app"
    stage_name: str = "s"
    model: str = "m"
    priority: float = 0.0
    deadline_s: float = float("inf")
    arrival_s: float = 0.0
    stage_index: int = 0
    slots: int = 1
    memory_bytes: float = 0.0
    work: float = 1.0
    """Multiplies the view's execution estimates of this task."""


@dataclass
class FakeView:
    loads: list[int]
    slot_counts: list[int]
    ready_s: list[float]
    exec_s: list[float]
    transfer_s: list[float]
    eligible: list[int] = field(default_factory=list)
    now: float = 0.0
    free_slot_counts: list[int] = field(default_factory=list)
    """Free slots per node (empty: the slots not loaded)."""
    memory: list[float] = field(default_factory=list)
    """Memory per node in bytes (empty: unlimited everywhere)."""
    free_memory: list[float] = field(default_factory=list)
    """Free memory per node in bytes (empty: all of it)."""
    busy_power: list[float] = field(default_factory=list)
    """Busy power per node in watts (empty: none)."""
    speeds: list[float] = field(default_factory=list)
    """Speed per node (empty: 1; capacity is slots x speed)."""
    work_left: list[float] = field(default_factory=list)
    """Work left per node in seconds (empty: (ready time - now) x slots)."""
    known_service: list[float] = field(default_factory=list)
    """The task's known service time per node (empty: sizes are not known)."""

    @property
    def n_nodes(self) -> int:
        return len(self.loads)

    node_names = ("a", "b", "c")
    node_kinds = ("k", "k", "k")

    def slots(self, node: int) -> int:
        return self.slot_counts[node]

    def capacity(self, node: int) -> float:
        return self.slot_counts[node] * (self.speeds[node] if self.speeds else 1.0)

    def power_w(self, node: int) -> tuple[float, float]:
        return 0.0, self.busy_power[node] if self.busy_power else 0.0

    def memory_bytes(self, node: int) -> float:
        return self.memory[node] if self.memory else float("inf")

    def free_slots(self, node: int) -> int:
        if self.free_slot_counts:
            return self.free_slot_counts[node]
        return max(0, self.slot_counts[node] - self.loads[node])

    def free_memory_bytes(self, node: int) -> float:
        return self.free_memory[node] if self.free_memory else self.memory_bytes(node)

    def demand(self, task) -> tuple[int, float]:
        return task.slots, task.memory_bytes

    def load(self, node: int) -> int:
        return self.loads[node]

    def expected_ready_time_s(self, node: int) -> float:
        return self.ready_s[node]

    def queue_length(self, node: int) -> int:
        return max(0, self.loads[node] - self.slot_counts[node])

    def work_left_s(self, node: int) -> float:
        return self.work_left[node] if self.work_left else (self.ready_s[node] - self.now) * self.slot_counts[node]

    @property
    def sizes_known(self) -> bool:
        return bool(self.known_service)

    def known_service_s(self, task, node: int) -> float:
        return self.known_service[node] if self.known_service else float("nan")

    def task_size_s(self, task) -> float:
        return self.known_service[0] if self.known_service else float("nan")

    def eligible_nodes(self, task) -> list[int]:
        return self.eligible or list(range(len(self.loads)))

    def is_up(self, node: int) -> bool:
        return True

    def exec_estimate_s(self, task, node: int) -> float:
        return self.exec_s[node] * task.work

    def transfer_estimate_s(self, task, node: int) -> float:
        return self.transfer_s[node]

    def stage_graph(self, task) -> StageGraph:
        """One stage that can run on the eligible nodes."""
        exec_s = np.full((1, len(self.loads)), np.inf)
        for node in self.eligible_nodes(task):
            exec_s[0, node] = self.exec_s[node]
        return StageGraph(names=("s",), predecessors=((),), output_bytes=(0.0,), exec_s=exec_s)

    def edge_estimate_s(self, source_node: int, target_node: int, n_bytes: float) -> float:
        return 0.0 if source_node == target_node else 1.0

    def input_estimate_s(self, task, stage_index: int, node: int) -> float:
        return self.transfer_s[node]


def bound(name: str, view: FakeView, seed: int = 0, scenario=None, **params):
    """The policy bound to ``view`` as a run binds it (prepared for ``scenario`` first, when one is given)."""
    policy = make_policy(name, params)
    if scenario is not None:
        policy.prepare(scenario)
    policy.bind(view, np.random.default_rng(seed))
    return policy


def test_least_loaded_divides_load_by_slots():
    view = FakeView(loads=[2, 3, 1], slot_counts=[1, 4, 1], ready_s=[0, 0, 0], exec_s=[1, 1, 1], transfer_s=[0] * 3)
    assert bound("least_loaded", view).assign(FakeTask()) == 1  # 3/4 < 1/1 < 2/1


def test_least_loaded_tie_breaks():
    view = FakeView(loads=[1, 0, 0], slot_counts=[1, 1, 1], ready_s=[0] * 3, exec_s=[1] * 3, transfer_s=[0] * 3)
    assert bound("least_loaded", view, tie_break="lowest_index").assign(FakeTask()) == 1
    picks = {bound("least_loaded", view, seed=s).assign(FakeTask()) for s in range(30)}
    assert picks == {1, 2}


def test_min_completion_time_counts_transfer_ready_time_and_execution():
    # completion = max(ready, now + transfer) + exec: node 0: max(5, 0) + 1 = 6; node 1: max(0, 4) + 1 = 5;
    # node 2: max(1, 1) + 3.5 = 4.5
    view = FakeView(loads=[0] * 3, slot_counts=[1] * 3, ready_s=[5, 0, 1], exec_s=[1, 1, 3.5], transfer_s=[0, 4, 1])
    assert bound("min_completion_time", view).assign(FakeTask()) == 2


def test_least_work_left_divides_work_left_by_slots_and_ignores_task_counts():
    # work per slot: 6/2 = 3, 2/1 = 2, 2.5/1 = 2.5; node 1 holds the most tasks but the least work
    view = FakeView(loads=[1, 5, 0], slot_counts=[2, 1, 1], ready_s=[0] * 3, exec_s=[1] * 3, transfer_s=[0] * 3,
                    work_left=[6.0, 2.0, 2.5])
    assert bound("least_work_left", view).assign(FakeTask()) == 1
    idle = FakeView(loads=[0] * 3, slot_counts=[1] * 3, ready_s=[0] * 3, exec_s=[1] * 3, transfer_s=[0] * 3,
                    work_left=[0.0, 1.0, 0.0])
    assert bound("least_work_left", idle, tie_break="lowest_index").assign(FakeTask()) == 0
    assert {bound("least_work_left", idle, seed=seed).assign(FakeTask()) for seed in range(30)} == {0, 2}


def test_shortest_expected_delay_adds_own_service_and_transfer():
    # delay = work left / slots + own service + transfer. Expected service: node 0: 1 + 4 + 0 = 5,
    # node 1: 4/2 + 1 + 1 = 4, node 2: 0 + 3 + 0.5 = 3.5 -> node 2
    view = FakeView(loads=[0] * 3, slot_counts=[1, 2, 1], ready_s=[0] * 3, exec_s=[4, 1, 3], transfer_s=[0, 1, 0.5],
                    work_left=[1.0, 4.0, 0.0])
    assert bound("shortest_expected_delay", view).assign(FakeTask()) == 2
    # a known size replaces the expected one: node 0: 1 + 0.5 = 1.5, node 1: 2 + 0.3 + 1 = 3.3, node 2: 0 + 6 + 0.5
    view.known_service = [0.5, 0.3, 6.0]
    assert bound("shortest_expected_delay", view).assign(FakeTask()) == 0


def test_round_robin_cycles_over_eligible_nodes():
    view = FakeView(loads=[0] * 3, slot_counts=[1] * 3, ready_s=[0] * 3, exec_s=[1] * 3, transfer_s=[0] * 3,
                    eligible=[0, 2])
    policy = bound("round_robin", view)
    assert [policy.assign(FakeTask()) for _ in range(5)] == [0, 2, 0, 2, 0]


def test_random_is_uniform_over_eligible_nodes():
    view = FakeView(loads=[0] * 3, slot_counts=[1] * 3, ready_s=[0] * 3, exec_s=[1] * 3, transfer_s=[0] * 3)
    policy = bound("random", view, seed=1)
    counts = np.bincount([policy.assign(FakeTask()) for _ in range(3000)], minlength=3)
    assert np.all(np.abs(counts - 1000) < 120)  # binomial sd ~ 26: over 4.5 sd


QUICK_PARAMS = {  # small budgets so the metaheuristics stay fast in tests
    "ga": {"max_generations": 3, "population_size": 6},
    "pso": {"max_iterations": 5, "n_particles": 6},
    "nsga2": {"max_generations": 3, "population_size": 8},
    "mopso": {"max_iterations": 3, "n_particles": 8},
}


def quick_params(name: str, request: pytest.FixtureRequest, agent: str = "fake_view") -> dict:
    """Parameters of policy ``name`` for the battery: small budgets; for ``drl``, a small agent trained on the
    scenario the test runs (``agent``: a name of the ``drl_agents`` fixture)."""
    if name == "drl":
        return {"agent": str(request.getfixturevalue("drl_agents")[agent])}
    return QUICK_PARAMS.get(name, {})


@pytest.fixture(scope="module")
def fake_view_scenario(tmp_path_factory):
    """The scenario the battery's FakeView describes (its nodes and its one stage), which policies are prepared for."""
    from rl_support import FAKE_VIEW_SCENARIO

    path = tmp_path_factory.mktemp("fake_view") / "fake_view.toml"
    path.write_text(FAKE_VIEW_SCENARIO)
    return load_scenario(path)


def decisions(policy, n_tasks: int = 10) -> list[int]:
    """Place ``n_tasks`` tasks one by one (immediate mode) or all at once (batch-only policies)."""
    tasks = [FakeTask(job_id=i) for i in range(n_tasks)]
    if "immediate" in policy.modes:
        return [policy.assign(task) for task in tasks]
    return list(policy.assign_batch(tasks))


TIE_BREAKING_ONLY = {"least_loaded", "least_work_left", "shortest_expected_delay"}
"""Policies whose random stream breaks ties only."""


@pytest.mark.contract
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policy_contract(name, request, fake_view_scenario):
    """Every registered policy (scikit-learn's common checks, adapted): parameters round-trip, picklable,
    valid eligible nodes, view untouched, same seed -> same decisions, and a stochastic policy's decisions
    depend on the seed. Each is prepared for the scenario the view describes, as a run prepares it."""
    cls = POLICIES[name]
    params = quick_params(name, request)
    policy = make_policy(name, params)
    assert make_policy(name, policy.get_params()).get_params() == policy.get_params()
    pickle.loads(pickle.dumps(policy))
    assert cls.modes and set(cls.modes) <= {"immediate", "batch"}

    def fresh_view() -> FakeView:
        return FakeView(loads=[1, 0, 2, 0], slot_counts=[1, 2, 1, 1], ready_s=[1, 0, 2, 0.5], exec_s=[1, 2, 1, 1.5],
                        transfer_s=[0, 1, 0, 0.2], eligible=[0, 1, 2])

    view = fresh_view()
    first = decisions(bound(name, view, seed=4, scenario=fake_view_scenario, **params))
    assert view == fresh_view()  # the view (and what it holds) is never modified by a policy
    assert first == decisions(bound(name, fresh_view(), seed=4, scenario=fake_view_scenario, **params))
    assert all(node in (0, 1, 2) for node in first)
    # Seed dependence is visible in single decisions of the immediate-mode samplers (least_loaded, least_work_left
    # and shortest_expected_delay draw only to break ties); the metaheuristics' seed dependence is checked on
    # harder instances in test_solvers.py.
    if cls.stochastic and "immediate" in cls.modes and name not in TIE_BREAKING_ONLY:
        assert any(decisions(bound(name, fresh_view(), seed=seed, **params), 30) != decisions(
            bound(name, fresh_view(), seed=4, **params), 30) for seed in range(5, 10))


def test_unknown_policy_and_parameter_messages():
    with pytest.raises(UnknownPolicyError, match="unknown policy 'nope'; known policies: .*least_loaded"):
        make_policy("nope")
    with pytest.raises(ParameterError, match="unknown parameter 'd' for policy 'random'"):
        make_policy("random", {"d": 2})
    with pytest.raises(ParameterError, match="tie_break must be one of"):
        make_policy("least_loaded", {"tie_break": "coin"})


def test_power_of_d_samples_d_nodes_and_joins_the_shorter():
    view = FakeView(loads=[5, 0, 5, 5], slot_counts=[1] * 4, ready_s=[0] * 4, exec_s=[1] * 4, transfer_s=[0] * 4)
    # with d = 4 (all nodes) it is JSQ; with d = 1 it is uniform random
    assert bound("power_of_d", view, d=4).assign(FakeTask()) == 1
    policy = bound("power_of_d", view, seed=2, d=1)
    counts = np.bincount([policy.assign(FakeTask()) for _ in range(2000)], minlength=4)
    assert np.all(counts > 400)
    # d = 2: node 1 is chosen exactly when sampled: probability 1 - (3/4)(2/3) = 1/2
    policy = bound("power_of_d", view, seed=3, d=2)
    share = np.mean([policy.assign(FakeTask()) == 1 for _ in range(4000)])
    assert share == pytest.approx(0.5, abs=0.04)


def test_olb_and_met_follow_braun_definitions():
    view = FakeView(loads=[0] * 3, slot_counts=[1] * 3, ready_s=[4, 2, 3], exec_s=[1, 9, 5], transfer_s=[0] * 3)
    assert bound("olb", view).assign(FakeTask()) == 1  # earliest ready, whatever the execution time
    assert bound("min_execution_time", view).assign(FakeTask()) == 0  # fastest, whatever the load


def test_capacity_proportional_splits_work_by_capacity():
    """Capacities 1, 2 and 5 (slots): of every 8 tasks, 1, 2 and 5 go to the three nodes, interleaved."""
    view = FakeView(loads=[0] * 3, slot_counts=[1, 2, 5], ready_s=[0] * 3, exec_s=[1] * 3, transfer_s=[0] * 3)
    policy = bound("capacity_proportional", view)
    picks = [policy.assign(FakeTask()) for _ in range(80)]
    assert np.bincount(picks).tolist() == [10, 20, 50]
    assert np.bincount(picks[:8]).tolist() == [1, 2, 5]


def test_weighted_balance_weighs_load_more_for_background_tasks():
    # node 0: idle but slow (completion 10); node 1: loaded but fast (completion 2)
    view = FakeView(loads=[0, 4], slot_counts=[1, 1], ready_s=[0, 0], exec_s=[10, 2], transfer_s=[0, 0])
    assert bound("weighted_balance", view).assign(FakeTask(priority=0)) == 1  # urgent: completion time only
    assert bound("weighted_balance", view, load_weight=1.0).assign(FakeTask(priority=99)) == 0  # background: load


FAILING_WORLD = {
    "simulation.max_jobs": 60, "simulation.horizon_s": 80.0, "simulation.warmup_s": 0.0,
    "policy.batch_interval_s": 0.5,
    "nodes.edge.failures": {"time_to_failure": {"distribution": "exponential", "mean_s": 8.0},
                            "time_to_repair": {"distribution": "exponential", "mean_s": 3.0}},
    "outages": [{"target": "cloud-1", "start_s": 5.0, "duration_s": 30.0},
                {"target": "camera", "start_s": 20.0, "duration_s": 5.0}],
}
"""The demo in a world where the edge servers fail and recover, a cloud server is out for 30 s and every camera for
5 s: nodes go down while tasks run, queue or travel to them, and some tasks have no available node for a while."""


@pytest.mark.contract
@pytest.mark.parametrize("name, mode", [(name, mode) for name in sorted(POLICIES) for mode in POLICIES[name].modes])
def test_every_policy_places_only_on_available_nodes_while_nodes_fail(name, mode, request):
    """Every registered policy, in every mode it supports, runs the demo while nodes fail without the dispatcher
    refusing one of its decisions (it refuses any for a node that is down or unreachable), and jobs complete: about
    25 jobs arrive while cloud-1, the fastest node, is out, so every policy decides with a node missing."""
    scenario = load_scenario("demo_edge_cloud", {**FAILING_WORLD, "policy.mode": mode})
    result = run(scenario, policy=name, params=quick_params(name, request, agent="demo"), seed=2)
    assert result.summary["node_failures"] >= 4 and result.summary["jobs_completed"] > 30
    tasks = result.tasks
    on_cloud_1 = tasks[(tasks["node"] == "cloud-1") & (tasks["dispatch_s"] >= 5.0) & (tasks["dispatch_s"] < 35.0)]
    assert on_cloud_1.empty  # no decision during its outage went to it
