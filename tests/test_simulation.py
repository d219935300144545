"""Small deterministic runs whose every time can be worked out by hand: the engine's arithmetic, exactly."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from simulator.config import parse_scenario
from simulator.simulation import run

pytestmark = pytest.mark.unit

PIPELINE = """
[simulation]
max_jobs = 3
seed = 1

[policy]
name = "round_robin"

[nodes.a]
kind = "small"
[nodes.b]
kind = "big"
idle_power_w = 10.0
busy_power_w = 30.0

[network]
switches = ["sw"]
[network.links.la]
endpoints = ["a", "sw"]
latency_s = 0.01
bandwidth_bytes_per_s = 1e7
[network.links.lb]
endpoints = ["b", "sw"]
latency_s = 0.02
bandwidth_bytes_per_s = 1e6

[models.pre.devices.small]
mean_s = 0.2
distribution = "deterministic"
[models.main.devices.big]
mean_s = 0.3
distribution = "deterministic"

[applications.app]
source = "a"
input_bytes = 5e5
deadline_s = 0.75
[applications.app.stages.first]
model = "pre"
output_bytes = 1e5
[applications.app.stages.second]
model = "main"
after = ["first"]
output_bytes = 1e4

[arrivals.users]
application = "app"
process = "deterministic"
rate_per_s = 1.0
"""


def scenario(text: str, **overrides):
    raw = tomllib.loads(text)
    for dotted, value in overrides.items():
        table = raw
        *parents, last = dotted.split("__")
        for part in parents:
            table = table.setdefault(part, {})
        table[last] = value
    return parse_scenario(raw)


def test_pipeline_times_by_hand():
    """Job input is already on node a (source), so stage 1 starts on arrival: 0.2 s. Its 1e5 bytes go a -> sw
    -> b: latency 0.01 + 0.02, bottleneck 1e6 B/s -> 0.1 s, so 0.13 s. Stage 2: 0.3 s. The 1e4-byte result goes
    back b -> a: 0.03 + 0.01 s = 0.04 s. Response = 0.2 + 0.13 + 0.3 + 0.04 = 0.67 s; jobs do not overlap."""
    result = run(scenario(PIPELINE))
    assert result.summary["jobs_completed"] == 3
    np.testing.assert_allclose(result.jobs["response_s"], 0.67, rtol=1e-12)
    second = result.tasks[result.tasks["stage"] == "second"].sort_values("job_id")
    np.testing.assert_allclose(second["transfer_s"], 0.13, rtol=1e-12)
    np.testing.assert_allclose(second["dispatch_s"], [1.2, 2.2, 3.2], rtol=1e-12)
    assert result.summary["bytes_transferred"] == 3 * (1e5 + 1e4)
    assert result.summary["slo_attainment"] == 1.0
    # Node b: busy 3 x 0.3 s over the run (0 .. 3.67 s): energy = 10 W x 3.67 s + 20 W x 0.9 s.
    end = 3.67
    assert result.summary["duration_s"] == pytest.approx(end)
    b = result.nodes.set_index("node").loc["b"]
    assert b["utilization"] == pytest.approx(0.9 / end)
    assert b["energy_j"] == pytest.approx(10 * end + 20 * 0.9)


def test_deadline_misses_count_against_slo():
    result = run(scenario(PIPELINE, applications__app__deadline_s=0.5))
    assert result.summary["slo_attainment"] == 0.0


def test_horizon_reports_unfinished_jobs_and_tasks():
    """With the clock stopped at 1.5 s: job 0 (arrived at 1 s) is in its transfer between the stages."""
    result = run(scenario(PIPELINE, simulation__horizon_s=1.25))
    assert result.summary["jobs_completed"] == 0 and result.summary["jobs_unfinished"] == 1
    assert list(result.jobs["state"]) == ["unfinished"]
    states = dict(zip(result.tasks["stage"], result.tasks["state"], strict=True))
    assert states == {"first": "finished", "second": "transferring"}
    assert result.summary["duration_s"] == 1.25


def test_batch_mode_places_tasks_at_interval_ticks():
    """In batch mode a released task waits for the next multiple of batch_interval_s before placement."""
    text = PIPELINE.replace('[nodes.b]', '[nodes.c]\nkind = "big"\n[nodes.b]').replace(
        '[network.links.lb]', '[network.links.lc]\nendpoints = ["c", "sw"]\nbandwidth_bytes_per_s = 1e6\n'
        '[network.links.lb]')
    result = run(scenario(text, policy__mode="batch", policy__batch_interval_s=0.5))
    second = result.tasks[result.tasks["stage"] == "second"].sort_values("job_id")
    # released at 1.2, 2.2, 3.2 -> placed at the ticks 1.5, 2.5, 3.5
    np.testing.assert_allclose(second["dispatch_s"], [1.5, 2.5, 3.5], rtol=1e-12)


PRIORITY = """
[simulation]
max_jobs = 6
seed = 1
[nodes.n]
kind = "k"
queue = "priority"
[models.m.devices.k]
mean_s = 1.0
distribution = "deterministic"
[applications.urgent]
priority = 0
[applications.urgent.stages.s]
model = "m"
[applications.bulk]
priority = 5
[applications.bulk.stages.s]
model = "m"
[arrivals.bulk]
application = "bulk"
process = "deterministic"
rate_per_s = 10.0
[arrivals.urgent]
application = "urgent"
process = "deterministic"
rate_per_s = 4.0
"""


def test_priority_queue_serves_lower_priority_value_first():
    """Bulk jobs arrive at 0.1, 0.2, 0.3...; urgent at 0.25, 0.5. The first bulk job starts at 0.1 and runs
    until 1.1; when the node frees up, a waiting urgent job goes before every waiting bulk job (FIFO: by
    arrival)."""
    result = run(scenario(PRIORITY))
    order = result.tasks.sort_values("start_s")["application"].tolist()
    assert order[:3] == ["bulk", "urgent", "urgent"]
    fifo = run(scenario(PRIORITY.replace('queue = "priority"', 'queue = "fifo"')))
    assert fifo.tasks.sort_values("start_s")["application"].tolist()[:3] == ["bulk", "bulk", "urgent"]


def test_speed_and_work_scale_service_times():
    text = PIPELINE.replace('kind = "small"', 'kind = "small"\nspeed = 2.0').replace(
        'model = "pre"', 'model = "pre"\nwork = 3.0')
    result = run(scenario(text))
    first = result.tasks[result.tasks["stage"] == "first"]
    np.testing.assert_allclose(first["service_s"], 0.2 * 3.0 / 2.0, rtol=1e-12)


def test_warmup_excludes_early_jobs():
    result = run(scenario(PIPELINE, simulation__warmup_s=1.5))
    assert result.summary["jobs_completed"] == 2
    assert math.isclose(result.summary["response_time_mean_s"], 0.67)


def test_finished_jobs_are_freed_without_the_cycle_collector() -> None:
    """Reference: CPython frees an object when its reference count drops to zero, and only the cyclic
    collector frees objects in reference cycles. With the collector off during the run, finished jobs must
    not pile up: a job <-> task cycle left behind would keep all 400 alive. (Each node slot's reusable
    completion event still holds its last task, and so that task's job, until the slot's next task.)"""
    import gc

    from simulator.policies import make_policy
    from simulator.simulation import Simulation
    from simulator.workload import Job

    scenario = parse_scenario(tomllib.loads(PIPELINE.replace("max_jobs = 3", "max_jobs = 400")))
    simulation = Simulation(scenario, make_policy("round_robin", {}), seed=1)
    gc.collect()
    gc.disable()
    try:
        simulation.env.run()
        alive = sum(type(obj) is Job for obj in gc.get_objects())  # no isinstance: it reads
        # __class__, which some objects of libraries imported by other tests (torch) answer with a warning
    finally:
        gc.enable()
    assert simulation.dispatcher.jobs_created == 400
    total_slots = sum(node.slots for node in scenario.nodes)
    assert alive <= len(simulation.dispatcher.live_jobs) + total_slots


def test_run_result_shows_its_run_and_key_metrics_in_one_line_and_in_a_notebook_table() -> None:
    """The repr names scenario, policy, seed and horizon and gives the key metrics to four digits (the tables
    are left out); the notebook form holds the same fields as rows of an HTML table, text escaped."""
    result = run(scenario(PIPELINE, simulation__horizon_s=10.0, scenario__name="edge <cloud>"))
    text = repr(result)
    assert text.startswith("RunResult(scenario='edge <cloud>', policy='round_robin', seed=1, horizon_s=10, "
                           "jobs_completed=3, jobs_unfinished=0, response_time_mean_s=0.67, ")
    assert "energy_j=" in text and "\n" not in text and len(text) < 400
    page = result._repr_html_()
    assert page.startswith("<table>") and page.endswith("</table>")
    assert "<th style='text-align:left'>scenario</th><td style='text-align:left'>edge &lt;cloud&gt;</td>" in page
    assert "<th style='text-align:left'>response_time_mean_s</th><td style='text-align:left'>0.67</td>" in page
    assert page.count("<tr>") == len(result.overview()) == 12
