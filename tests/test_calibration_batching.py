"""Model-server nodes: dynamic batching with profile batch curves, and model residency (memory, LRU eviction,
load time). Deterministic hand-made profiles and trace arrivals, so every time is exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import load_scenario, run
from simulator.cluster import ModelServerNode, Node
from simulator.policies import make_policy
from simulator.simulation import Simulation

pytestmark = pytest.mark.unit

# Batch of 1: 1.0 s, of 2: 1.5 s, of 4: 2.0 s (so 3 interpolates to 1.75 s); no samples: deterministic.
PROFILE = """model,device_kind,batch_size,mean_s,weights_bytes,load_time_s
net,cpu,1,1.0,6,0.5
net,cpu,2,1.5,6,0.5
net,cpu,4,2.0,6,0.5
"""


def write_setup(tmp_path: Path, times: list[float], node: str, models: str | None = None,
                applications: list[str] | None = None, extra: str = "") -> Path:
    (tmp_path / "net.csv").write_text(PROFILE)
    trace = tmp_path / "trace.csv"
    if applications is None:
        trace.write_text("time_s\n" + "".join(f"{t}\n" for t in times))
    else:
        trace.write_text("time_s,application\n" + "".join(f"{t},{a}\n" for t, a in zip(times, applications,
                                                                                         strict=True)))
    models = models or '[models.net]\nprofile = "net.csv"\n'
    apps = extra or '[applications.app.stages.only]\nmodel = "net"\n'
    path = tmp_path / "scenario.toml"
    path.write_text(f"""
[nodes.server]
kind = "cpu"
slots = 1
{node}

{models}

{apps}

[arrivals.requests]
application = "{'app' if applications is None else applications[0]}"
process = "trace"
file = "trace.csv"
""")
    return path


def finishes(path: Path) -> list[float]:
    result = run(load_scenario(path))
    return [round(v, 9) for v in result.tasks.sort_values("job_id")["finish_s"]]


def test_without_a_batch_wait_the_first_task_starts_alone(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0, 0, 0, 0], "max_batch_size = 4")
    assert finishes(path) == [1.0, 2.75, 2.75, 2.75]  # then the three queued ones as a batch of 3 (1.75 s)


def test_a_batch_wait_lets_simultaneous_tasks_form_a_full_batch(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0, 0, 0, 0], "max_batch_size = 4\nmax_batch_wait_s = 0.1")
    assert finishes(path) == [2.0] * 4


def test_a_partial_batch_starts_when_its_oldest_task_has_waited_long_enough(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0, 0.1, 0.2, 3.0], "max_batch_size = 4\nmax_batch_wait_s = 0.5")
    # 0.5: a batch of 3 (1.75 s) -> 2.25; the task of 3.0 waits alone until 3.5 -> 4.5
    assert finishes(path) == [2.25, 2.25, 2.25, 4.5]


def test_batches_never_exceed_the_largest_measured_batch_size(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0] * 6, "max_batch_size = 16\nmax_batch_wait_s = 0.1")
    assert finishes(path) == [2.0] * 4 + [3.5, 3.5]


def test_busy_time_counts_a_batch_once_and_batches_are_tabled(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0] * 6, "max_batch_size = 16\nmax_batch_wait_s = 0.1")
    result = run(load_scenario(path))
    assert result.nodes.loc[0, "busy_slot_s"] == pytest.approx(3.5)
    assert result.nodes.loc[0, "utilization"] == pytest.approx(1.0)
    batches = result.batches
    assert list(batches["batch_size"]) == [4, 2]
    assert list(batches["start_s"]) == [0.0, 2.0]
    assert list(batches["finish_s"]) == [2.0, 3.5]
    assert set(batches["model"]) == {"net"} and set(batches["load_s"]) == {0.0}
    out = result.write(tmp_path / "out")
    assert tmp_path / "out" / "batches.csv" in out


def test_tasks_of_different_models_are_not_batched_together(tmp_path: Path) -> None:
    models = ('[models.net]\nprofile = "net.csv"\n[models.twin]\nprofile = "net.csv"\nprofile_model = "net"\n')
    apps = ('[applications.a.stages.only]\nmodel = "net"\n[applications.b.stages.only]\nmodel = "twin"\n')
    path = write_setup(tmp_path, [0, 0, 0, 0], "max_batch_size = 4\nmax_batch_wait_s = 0.1", models,
                       ["a", "b", "a", "b"], apps)
    result = run(load_scenario(path))
    assert sorted(result.batches["batch_size"]) == [2, 2]
    assert sorted(result.batches["finish_s"]) == [1.6, 3.1]  # neither group fills: the first waits 0.1 s


def test_plain_nodes_stay_plain(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0, 1], "")
    simulation = Simulation(load_scenario(path), make_policy("least_loaded"), seed=1)
    assert type(simulation.nodes[0]) is Node
    path = write_setup(tmp_path, [0, 1], "max_batch_size = 2")
    simulation = Simulation(load_scenario(path), make_policy("least_loaded"), seed=1)
    assert isinstance(simulation.nodes[0], ModelServerNode)
    assert run(load_scenario(path)).batches["batch_size"].tolist() == [1, 1]


# -- residency -------------------------------------------------------------------------------------------

TWO_MODELS = """
[models.a.devices.cpu]
mean_s = 1.0
distribution = "deterministic"
memory_bytes = 6
load_time_s = 0.5

[models.b.devices.cpu]
mean_s = 1.0
distribution = "deterministic"
memory_bytes = 6
load_time_s = 0.25
"""
TWO_APPS = '[applications.a.stages.only]\nmodel = "a"\n[applications.b.stages.only]\nmodel = "b"\n'


def test_a_model_that_is_not_resident_is_loaded_evicting_the_least_recently_used(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0, 0, 0], "memory_bytes = 10", TWO_MODELS, ["a", "b", "a"], TWO_APPS)
    simulation = Simulation(load_scenario(path), make_policy("least_loaded"), seed=1)
    node = simulation.nodes[0]
    assert isinstance(node, ModelServerNode)
    assert node.resident_models == ("a",)  # a fits at the start; b does not fit beside it
    result = simulation.run()
    # a (resident): 0 -> 1; b: load 0.25 evicting a, 1 -> 2.25; a: load 0.5 evicting b, 2.25 -> 3.75
    assert [round(v, 9) for v in result.tasks.sort_values("job_id")["finish_s"]] == [1.0, 2.25, 3.75]
    assert (node.model_loads, node.evictions) == (2, 2)
    assert list(result.batches["load_s"]) == [0.0, 0.25, 0.5]
    assert node.resident_models == ("a",)


def test_models_that_fit_together_stay_resident(tmp_path: Path) -> None:
    path = write_setup(tmp_path, [0, 0, 0], "memory_bytes = 12", TWO_MODELS, ["a", "b", "a"], TWO_APPS)
    result = run(load_scenario(path))
    assert [round(v, 9) for v in result.tasks.sort_values("job_id")["finish_s"]] == [1.0, 2.0, 3.0]
    assert set(result.batches["load_s"]) == {0.0}


def test_a_model_in_use_is_not_evicted(tmp_path: Path) -> None:
    # two slots: while a runs, b cannot be loaded (a is held), so b waits for a to finish
    node = "slots = 2\nmemory_bytes = 10"
    path = write_setup(tmp_path, [0, 0], node, TWO_MODELS, ["a", "b"], TWO_APPS)
    text = path.read_text().replace("slots = 1\n", "")
    path.write_text(text)
    result = run(load_scenario(path))
    assert [round(v, 9) for v in result.tasks.sort_values("job_id")["finish_s"]] == [1.0, 2.25]


def test_profile_memory_and_load_time_drive_residency(tmp_path: Path) -> None:
    models = '[models.net]\nprofile = "net.csv"\n[models.twin]\nprofile = "net.csv"\nprofile_model = "net"\n'
    apps = '[applications.a.stages.only]\nmodel = "net"\n[applications.b.stages.only]\nmodel = "twin"\n'
    path = write_setup(tmp_path, [0, 0], "memory_bytes = 10", models, ["a", "b"], apps)
    result = run(load_scenario(path))
    assert [round(v, 9) for v in result.tasks.sort_values("job_id")["finish_s"]] == [1.0, 2.5]
