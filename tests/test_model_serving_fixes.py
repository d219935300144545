"""Model serving gives right answers or refuses: a model being loaded is not usable before its load ends, batches
of models with a hand-given cost follow the documented ``batch_scaling`` rule, a batching node without any batch
rule is refused, and the cost table's numbers stay in sane ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator import load_scenario
from simulator.config import (
    EMPIRICAL,
    ModelSpec,
    NodeSpec,
    Problems,
    ProfileBinding,
    ServiceSpec,
)
from simulator.config.checks import check_batch_rules
from simulator.costs import CostTable
from simulator.errors import ScenarioError
from simulator.simulation import run

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def write_scenario(tmp_path: Path, node: str, models: str, applications: str, times: list[float],
                   names: list[str]) -> Path:
    """One node ``server`` of kind cpu, the given models and applications, and trace arrivals."""
    (tmp_path / "trace.csv").write_text("time_s,application\n" + "".join(
        f"{t},{a}\n" for t, a in zip(times, names, strict=True)))
    path = tmp_path / "scenario.toml"
    path.write_text(f"""
[nodes.server]
kind = "cpu"
{node}

{models}

{applications}

[arrivals.requests]
application = "{names[0]}"
process = "trace"
file = "trace.csv"
""")
    return path


# -- 3. loads -----------------------------------------------------------------------------------------------------


def test_no_batch_uses_a_model_while_it_is_being_loaded_in_calibrated_vision() -> None:
    """In scenarios/calibrated_vision.toml (two slots, models swapped in 128 MiB) no batch of a model starts with
    no load time on a node while a load of that model there is in progress (the old code let 53 of 466 loads be
    skipped this way: the model counted as resident from the start of its load)."""
    result = run(load_scenario(ROOT / "scenarios" / "calibrated_vision.toml"))
    batches = result.batches
    loads = batches[batches["load_s"] > 0]
    assert len(loads) > 100  # the scenario does swap models
    free = batches[batches["load_s"] == 0]
    overlapping = 0
    for load in loads.itertuples():
        same = free[(free["node"] == load.node) & (free["model"] == load.model)]
        inside = (same["start_s"] >= load.start_s) & (same["start_s"] < load.start_s + load.load_s)
        overlapping += int(inside.sum())
    assert overlapping == 0


def test_a_second_batch_of_a_model_being_loaded_waits_for_the_load(tmp_path: Path) -> None:
    """Two slots, room for one of two models; a is resident. b arrives at 0 (load 0.25 s + 1 s) and again at
    0.1 s: the second b starts when the load ends (0.25 s) and finishes at 1.25 s, not at 1.1 s."""
    models = """
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
    apps = '[applications.a.stages.only]\nmodel = "a"\n[applications.b.stages.only]\nmodel = "b"\n'
    path = write_scenario(tmp_path, "slots = 2\nmemory_bytes = 10", models, apps, [0.0, 0.1], ["b", "b"])
    result = run(load_scenario(path))
    assert [round(v, 9) for v in result.tasks.sort_values("job_id")["finish_s"]] == [1.25, 1.25]
    batches = result.batches.sort_values("start_s")
    assert [round(v, 9) for v in batches["start_s"]] == [0.0, 0.25]
    assert list(batches["load_s"]) == [0.25, 0.0]


# -- 4. batch_scaling -----------------------------------------------------------------------------------------


BATCHED_APP = '[applications.app.stages.only]\nmodel = "net"\n'


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.8, 1.0])
def test_batch_scaling_closed_form(tmp_path: Path, alpha: float) -> None:
    """Deterministic service of mean 2 s, batch_scaling alpha, four simultaneous arrivals and a batch wait: one
    batch of 4 starting at 0, finishing at 2 * 4**alpha (time(1) * b**alpha, one draw for the batch)."""
    models = f'[models.net]\nbatch_scaling = {alpha}\n[models.net.devices.cpu]\nmean_s = 2.0\n' \
             'distribution = "deterministic"\n'
    path = write_scenario(tmp_path, "max_batch_size = 4\nmax_batch_wait_s = 1.0", models, BATCHED_APP,
                          [0.0] * 4, ["app"] * 4)
    result = run(load_scenario(path))
    assert result.batches["batch_size"].tolist() == [4]
    assert result.tasks["finish_s"].tolist() == pytest.approx([2.0 * 4**alpha] * 4, rel=1e-12)


def test_batch_scaling_per_device_table_with_work_and_speed(tmp_path: Path) -> None:
    """batch_scaling given in the device table; a batch's time is scaled by stage work / node speed as a single
    task's is: 0.5 s x 3**1 x work 2 / speed 4 = 0.75 s."""
    models = '[models.net.devices.cpu]\nmean_s = 0.5\ndistribution = "deterministic"\nbatch_scaling = 1.0\n'
    apps = '[applications.app.stages.only]\nmodel = "net"\nwork = 2.0\n'
    path = write_scenario(tmp_path, "speed = 4.0\nmax_batch_size = 3\nmax_batch_wait_s = 1.0", models, apps,
                          [0.0] * 3, ["app"] * 3)
    result = run(load_scenario(path))
    assert result.batches["batch_size"].tolist() == [3]
    assert result.tasks["finish_s"].tolist() == pytest.approx([0.75] * 3, rel=1e-12)


def test_batch_scaling_mean_of_random_batches(tmp_path: Path) -> None:
    """With a gamma service time (mean 2 s, cv 0.5) and alpha 0.5, batches of 4 take 4 s on average (one draw
    times 4**0.5); CostTable.batch_mean_s says the same."""
    models = '[models.net]\nbatch_scaling = 0.5\n[models.net.devices.cpu]\nmean_s = 2.0\n' \
             'distribution = "gamma"\ncv = 0.5\n'
    path = write_scenario(tmp_path, "max_batch_size = 4", models, BATCHED_APP, [0.0], ["app"])
    costs = CostTable(load_scenario(path).models)
    assert costs.max_batch_size("net", "cpu") > 1000
    assert costs.batch_mean_s("net", "cpu", 4) == pytest.approx(4.0)
    draw = costs.batch_sampler("net", "cpu", seed=1)
    samples = np.array([draw(4) for _ in range(20000)])
    assert samples.mean() == pytest.approx(4.0, rel=0.02)
    assert samples.std() / samples.mean() == pytest.approx(0.5, rel=0.05)  # one draw: the cv is kept


@pytest.mark.parametrize(("table", "message"), [
    ("batch_scaling = 1.5\n[models.net.devices.cpu]\nmean_s = 1.0\n", "[0, 1], got 1.5"),
    ("batch_scaling = -0.1\n[models.net.devices.cpu]\nmean_s = 1.0\n", "[0, 1], got -0.1"),
    ('batch_scaling = "half"\n[models.net.devices.cpu]\nmean_s = 1.0\n', "a number"),
])
def test_batch_scaling_outside_zero_one_is_refused(tmp_path: Path, table: str, message: str) -> None:
    """batch_scaling is an exponent in [0, 1]; anything else is refused naming the field."""
    path = write_scenario(tmp_path, "", f"[models.net]\n{table}", BATCHED_APP, [0.0], ["app"])
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert any("batch_scaling must be" in problem and message in problem for problem in error.value.problems)


def test_batch_scaling_beside_a_profile_alone_is_refused(tmp_path: Path) -> None:
    """A model whose costs all come from a profile batches along the measured curve: batch_scaling there is a
    mistake, reported with what to do."""
    path = write_scenario(tmp_path, "", '[models.net]\nprofile = "cpu-2core"\nprofile_model = "resnet50"\n'
                          'batch_scaling = 0.5\n', BATCHED_APP, [0.0], ["app"])
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert any("models.net.batch_scaling" in p and "remove batch_scaling" in p for p in error.value.problems)


def _batch_problems(nodes: list[NodeSpec], models: dict[str, ModelSpec]) -> list[str]:
    problems = Problems("s.toml")
    check_batch_rules(problems, nodes, models)
    return problems.items


def test_a_batching_node_without_any_batch_rule_is_refused(tmp_path: Path) -> None:
    """max_batch_size > 1 on a node where no model has a batch rule (a plain cost table) would silently form
    batches of one: refused naming nodes.GROUP.max_batch_size (once per group) and saying what to add."""
    nodes = [NodeSpec(name=f"server-{i}", kind="cpu", group="server", max_batch_size=8) for i in range(2)]
    plain = {"net": ModelSpec("net", {"cpu": ServiceSpec(mean_s=1.0)})}
    problems = _batch_problems(nodes, plain)
    assert len(problems) == 1
    assert problems[0].startswith("s.toml: nodes.server.max_batch_size is 8")
    assert "batch_scaling" in problems[0] and "max_batch_size = 1" in problems[0]


def test_one_model_with_a_batch_rule_is_enough(tmp_path: Path) -> None:
    """A batch rule (batch_scaling, or a profile measured at batch sizes above 1) on any model the node runs
    makes max_batch_size meaningful; nodes that do not batch and models of other kinds are not checked."""
    nodes = [NodeSpec(name="server", kind="cpu", group="server", max_batch_size=8),
             NodeSpec(name="edge", kind="arm", group="edge")]
    models = {"net": ModelSpec("net", {"cpu": ServiceSpec(mean_s=1.0)}),
              "scaled": ModelSpec("scaled", {"cpu": ServiceSpec(mean_s=1.0, batch_scaling=0.7)})}
    assert _batch_problems(nodes, models) == []
    (tmp_path / "p.csv").write_text("model,device_kind,batch_size,mean_s\nnet,cpu,1,0.1\nnet,cpu,4,0.2\n"
                                    "single,cpu,1,0.1\n")
    binding = ProfileBinding("p.csv", str(tmp_path / "p.csv"), "net")
    curved = {"net": ModelSpec("net", {"cpu": ServiceSpec(mean_s=0.1, distribution=EMPIRICAL)}, binding)}
    assert _batch_problems(nodes, curved) == []
    single = ProfileBinding("p.csv", str(tmp_path / "p.csv"), "single")
    flat = {"single": ModelSpec("single", {"cpu": ServiceSpec(mean_s=0.1, distribution=EMPIRICAL)}, single)}
    assert len(_batch_problems(nodes, flat)) == 1  # measured at batch size 1 only: no batch rule


# -- 5. numeric extremes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("device", "field", "expected"), [
    ("mean_s = 1e308", "mean_s", ("[1e-09, 1e+06]", "1e+308", "seconds")),
    ("mean_s = 5e-324", "mean_s", ("[1e-09, 1e+06]", "5e-324", "seconds")),
    ("mean_s = 1.0\nmemory_bytes = 1e308", "memory_bytes", ("[0, 1e+15]", "1e+308", "bytes")),
    ("mean_s = 1.0\nload_time_s = 1e308", "load_time_s", ("[0, 1e+06]", "1e+308", "seconds")),
    ('mean_s = 1.0\ndistribution = "lognormal"\ncv = 1e308', "cv", ("[0, 10]", "1e+308")),
    ('mean_s = 1.0\ndistribution = "gamma"\ncv = 1e-200', "cv", ("[1e-06, 10] for a gamma distribution",)),
    ('mean_s = 1.0\ndistribution = "gamma"\ncv = 0.0', "cv", ("[1e-06, 10] for a gamma distribution",)),
])
def test_cost_table_numbers_outside_their_sane_range_are_refused(tmp_path: Path, device: str, field: str,
                                                                expected: tuple[str, ...]) -> None:
    """mean_s, memory_bytes, load_time_s and cv have documented ranges (stated in the message) so that derived
    quantities stay finite; the old code accepted 1e308 and 5e-324, and a gamma cv of 1e-200 crashed the run
    (1 / cv**2 divided by zero)."""
    path = write_scenario(tmp_path, "", f"[models.net.devices.cpu]\n{device}\n", BATCHED_APP, [0.0], ["app"])
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert any(f"models.net.devices.cpu.{field} must be" in problem and all(part in problem for part in expected)
               for problem in error.value.problems), error.value.problems


def test_profile_overrides_have_the_same_ranges(tmp_path: Path) -> None:
    """memory_bytes and load_time_s overriding a profile's are range-checked too."""
    path = write_scenario(tmp_path, "", '[models.net]\nprofile = "cpu-2core"\nprofile_model = "resnet50"\n'
                          'memory_bytes = 1e308\nload_time_s = 1e308\n', BATCHED_APP, [0.0], ["app"])
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert any("models.net.memory_bytes must be" in p and "[0, 1e+15]" in p for p in error.value.problems)
    assert any("models.net.load_time_s must be" in p and "[0, 1e+06]" in p for p in error.value.problems)


def test_the_limits_themselves_are_accepted_and_run(tmp_path: Path) -> None:
    """Values at the limits are valid and a run with them gives finite results."""
    models = ('[models.net.devices.cpu]\nmean_s = 1e-9\ndistribution = "gamma"\ncv = 10\n'
              'memory_bytes = 1e15\nload_time_s = 1e6\n')
    path = write_scenario(tmp_path, "memory_bytes = 1e15", models, BATCHED_APP, [0.0, 1.0], ["app", "app"])
    result = run(load_scenario(path))
    assert np.isfinite(result.tasks["finish_s"]).all()
