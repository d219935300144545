"""The queue disciplines of simulator.disciplines on small cases worked out by hand, their busy time, and the
scenario fields that choose them (checked like every other field)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulator import ScenarioError, load_scenario, run
from simulator.cli import main
from simulator.cluster import Node
from simulator.disciplines import (
    ProcessorSharingNode,
    RoundRobinNode,
    ShortestJobFirstNode,
    SlotIntervals,
    WeightedFairNode,
)
from simulator.policies import make_policy
from simulator.simulation import Simulation

MODELS = """
[models.short.devices.cpu]
mean_s = 1.0
distribution = "deterministic"

[models.long.devices.cpu]
mean_s = 2.0
distribution = "deterministic"

[applications.a.stages.run]
model = "short"

[applications.b.stages.run]
model = "long"
"""


def scenario_file(tmp_path: Path, node: str, arrivals: list[tuple[float, str]], extra: str = "") -> Path:
    """One node ``server`` of kind cpu with the given settings, applications a (1 s) and b (2 s), trace arrivals."""
    (tmp_path / "trace.csv").write_text("time_s,application\n" + "".join(f"{t},{a}\n" for t, a in arrivals))
    path = tmp_path / "scenario.toml"
    path.write_text(f"""
[nodes.server]
kind = "cpu"
{node}
{MODELS}
{extra}
[arrivals.requests]
application = "a"
process = "trace"
file = "trace.csv"
""")
    return path


def finishes(tmp_path: Path, node: str, arrivals: list[tuple[float, str]]) -> list[float]:
    """Finish time of each job, in arrival order."""
    result = run(load_scenario(scenario_file(tmp_path, node, arrivals)))
    return result.jobs.sort_values("job_id")["finish_s"].tolist()


def test_processor_sharing_shares_the_slot_equally(tmp_path: Path) -> None:
    """Two tasks of 1 s and 2 s arrive together at one shared slot: each runs at half speed until the short one
    is done at 2 s, then the long one has 1 s left alone: it finishes at 3 s."""
    assert finishes(tmp_path, 'queue = "ps"', [(0.0, "a"), (0.0, "b")]) == pytest.approx([2.0, 3.0])


def test_processor_sharing_with_two_slots_gives_each_task_a_whole_slot_until_there_are_more(tmp_path: Path) -> None:
    """Two slots, three tasks (1, 2, 1 s) at 0: each runs at 2/3 until the short ones finish at 1.5 s; the long
    one has 1 s left and runs alone at full rate (rate min(1, 2/1) = 1): 2.5 s."""
    done = finishes(tmp_path, 'queue = "ps"\nslots = 2', [(0.0, "a"), (0.0, "b"), (0.0, "a")])
    assert done == pytest.approx([1.5, 2.5, 1.5])


def test_round_robin_alternates_quanta(tmp_path: Path) -> None:
    """Quantum 0.5 s, tasks of 1 s (a) and 2 s (b) at 0: a 0-0.5, b 0.5-1, a 1-1.5 (done), b runs on to 3 s."""
    assert finishes(tmp_path, 'queue = "rr"\nquantum_s = 0.5', [(0.0, "a"), (0.0, "b")]) == pytest.approx([1.5, 3.0])


def test_shortest_job_first_starts_the_short_waiting_task_first(tmp_path: Path) -> None:
    """b (2 s) starts at 0; then b arrives at 0.1 s and a (1 s) at 0.2 s: a goes first (2 to 3 s), the second b
    after it (3 to 5 s); FIFO would finish them at 4 and 5 s in arrival order."""
    arrivals = [(0.0, "b"), (0.1, "b"), (0.2, "a")]
    for by in ("expected", "drawn"):
        assert finishes(tmp_path, f'queue = "sjf"\nsjf_by = "{by}"', arrivals) == pytest.approx([2.0, 5.0, 3.0])
    assert finishes(tmp_path, 'queue = "fifo"', arrivals) == pytest.approx([2.0, 4.0, 5.0])


def test_weighted_fair_queueing_orders_by_virtual_finish_tags(tmp_path: Path) -> None:
    """a has weight 4, b weight 1, each task takes 1 s here (both models run 1 s: b's stage has work 0.5). While
    one a runs, three of each wait: the tags (virtual time V = 0 at their arrival) are a: 0.25, 0.5, 0.75 and
    b: 1, 2, 3 (after the first a's 0.25), so the waiting a tasks all go before the first waiting b."""
    path = scenario_file(tmp_path, 'queue = "wfq"', [(0.0, "a")] + [(0.01, name) for name in "ababab"])
    text = path.read_text().replace("[applications.a.stages.run]", "[applications.a]\nweight = 4.0\n"
                                    "[applications.a.stages.run]")
    path.write_text(text.replace('model = "long"', 'model = "long"\nwork = 0.5'))
    result = run(load_scenario(path))
    tasks = result.tasks.sort_values("start_s")
    assert list(tasks["application"]) == ["a", "a", "a", "a", "b", "b", "b"]


def test_node_classes_are_chosen_only_when_asked(tmp_path: Path) -> None:
    """fifo and priority keep the plain Node; each other discipline gets its own class."""
    expected = {"fifo": Node, "priority": Node, "sjf": ShortestJobFirstNode, "ps": ProcessorSharingNode,
                "rr": RoundRobinNode, "wfq": WeightedFairNode}
    for queue, cls in expected.items():
        node = f'queue = "{queue}"' + ("\nquantum_s = 0.1" if queue == "rr" else "")
        spec = load_scenario(scenario_file(tmp_path, node, [(0.0, "a")]))
        (simulated_node,) = Simulation(spec, make_policy("least_loaded", {}), seed=1).nodes
        assert type(simulated_node) is cls


def test_slot_intervals_integrate_the_level() -> None:
    """Raising the level opens intervals, lowering closes the latest: the total is the integral of the level."""
    intervals = SlotIntervals()
    for level, now in [(1, 0.0), (2, 1.0), (1, 3.0), (0, 4.0), (1, 6.0)]:
        intervals.set_level(level, now)
    closed = [(s, f) for s, f in intervals.intervals() if not math.isnan(f)]
    assert sum(f - s for s, f in closed) == pytest.approx(4.0 + 2.0)  # 1 slot for 0-4, a 2nd for 1-3
    assert [s for s, f in intervals.intervals() if math.isnan(f)] == [6.0]


@pytest.mark.parametrize("node", ['queue = "ps"\nslots = 2', 'queue = "rr"\nquantum_s = 0.25\nslots = 2'])
def test_busy_time_counts_occupied_slots_not_task_spans(tmp_path: Path, node: str) -> None:
    """Three tasks (1, 2, 1 s) at 0 on two slots: 4 s of work, so 4 busy slot-seconds (two slots busy until the
    work left fits one slot), although the tasks' start-to-finish spans add up to more."""
    path = scenario_file(tmp_path, node, [(0.0, "a"), (0.0, "b"), (0.0, "a")],
                         extra="[simulation]\nhorizon_s = 10.0\n")
    result = run(load_scenario(path))
    spans = float((result.tasks["finish_s"] - result.tasks["start_s"]).sum())
    assert spans > 4.5
    assert result.nodes["busy_slot_s"].iloc[0] == pytest.approx(4.0)
    assert result.summary["utilization_mean"] == pytest.approx(4.0 / (2 * 10.0))


def test_round_robin_needs_a_quantum(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, 'queue = "rr"', [(0.0, "a")])
    with pytest.raises(ScenarioError, match=r"nodes\.server\.quantum_s is required with queue = \"rr\""):
        load_scenario(path)


@pytest.mark.parametrize("queue", ["sjf", "ps", "rr", "wfq"])
def test_new_disciplines_refuse_batching_and_residency(tmp_path: Path, queue: str) -> None:
    """Batching and model residency belong to fifo and priority nodes; the message names file and field."""
    node = f'queue = "{queue}"\nquantum_s = 0.1'
    with pytest.raises(ScenarioError, match=r"scenario\.toml: nodes\.server\.queue is .*does not batch"):
        load_scenario(scenario_file(tmp_path, node + "\nmax_batch_size = 4", [(0.0, "a")],
                                    extra='[models.short]\nbatch_scaling = 0.5\n'))
    path = scenario_file(tmp_path, node + "\nmemory_bytes = 1e9", [(0.0, "a")])
    path.write_text(path.read_text().replace('mean_s = 1.0\n', 'mean_s = 1.0\nmemory_bytes = 5e8\n', 1))
    with pytest.raises(ScenarioError, match=r"nodes\.server\.queue is .*does not manage model residency"):
        load_scenario(path)


@pytest.mark.parametrize(("setting", "field"), [('queue = "lifo"', "nodes.server.queue"),
                                                ('sjf_by = "guess"', "nodes.server.sjf_by"),
                                                ("quantum_s = 0.0", "nodes.server.quantum_s")])
def test_bad_discipline_fields_exit_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       setting: str, field: str) -> None:
    path = scenario_file(tmp_path, setting, [(0.0, "a")])
    assert main(["validate", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"scenario.toml: {field} " in error and "Traceback" not in error


def test_bad_weight_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_file(tmp_path, 'queue = "wfq"', [(0.0, "a")])
    path.write_text(path.read_text().replace("[applications.a.stages.run]",
                                             "[applications.a]\nweight = 0.0\n[applications.a.stages.run]"))
    assert main(["validate", str(path)]) == 2
    assert "scenario.toml: applications.a.weight must be a number in [1e-06, 1e+06]" in capsys.readouterr().err
