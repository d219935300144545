"""The scenario file of a dynamic world (docs/dynamics.md, "Scenario file"): failures of node groups and link
tables in every duration family, scripted outages, recovery, rebalancing, work stealing, job timeouts and
replicas, resolved into the specs the runtime reads; and every refusal naming the file and the dotted field."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import MINIMAL, ROOT
from test_config import schema_errors

from simulator.config import parse_scenario
from simulator.config.json_schema import scenario_json_schema
from simulator.config.schema import DURATION_TABLES
from simulator.config.specs import (
    DurationSpec,
    FailureProcessSpec,
    RebalancingSpec,
    RecoverySpec,
    Scenario,
    WorkStealingSpec,
)
from simulator.distributions import DURATION_DISTRIBUTIONS
from simulator.errors import ScenarioError

pytestmark = pytest.mark.unit

WORLD = MINIMAL.replace("max_jobs = 50", "max_jobs = 50\nhorizon_s = 1000.0") + """
[nodes.edge]
kind = "cpu"
count = 3

[network]
switches = ["sw"]

[network.links.lan]
endpoints = ["edge", "sw"]
bandwidth_bytes_per_s = 1e9

[network.links.uplink]
endpoints = ["server", "sw"]
bandwidth_bytes_per_s = 1e9
"""
"""MINIMAL with a horizon, a group of three edge nodes and two link tables: lan (one link per edge node) and
uplink (one link)."""

EXPONENTIAL = '{ distribution = "exponential", mean_s = 60.0 }'


def scenario(extra: str = "", base: str = WORLD) -> Scenario:
    return parse_scenario(tomllib.loads(base + extra), source="s.toml")


def problems(extra: str, base: str = WORLD) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        scenario(extra, base)
    return caught.value.problems


def node_failures(time_to_failure: str, *, group: str = "edge", more: str = "") -> str:
    return (f"[nodes.{group}.failures]\ntime_to_failure = {time_to_failure}\n"
            f"time_to_repair = {{ mean_s = 5.0 }}\n{more}")


def validate_with_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", "validate", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


# ----------------------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize("table, expected", [
    ('{ distribution = "exponential", mean_s = 60.0 }', DurationSpec("exponential", 60.0)),
    ("{ mean_s = 60.0 }", DurationSpec("exponential", 60.0)),
    ('{ distribution = "deterministic", mean_s = 30.0 }', DurationSpec("deterministic", 30.0)),
    ('{ distribution = "lognormal", mean_s = 120.0, cv = 0.5 }', DurationSpec("lognormal", 120.0, cv=0.5)),
    ('{ distribution = "lognormal", mean_s = 120.0, cv = 0 }', DurationSpec("lognormal", 120.0, cv=0.0)),
    ('{ distribution = "gamma", mean_s = 10.0, cv = 2.0 }', DurationSpec("gamma", 10.0, cv=2.0)),
    ('{ distribution = "weibull", shape = 1.5, scale_s = 7200.0 }',
     DurationSpec("weibull", 7200.0 * math.gamma(1 + 1 / 1.5), shape=1.5, scale_s=7200.0)),
    ('{ distribution = "weibull", shape = 0.5, scale_s = 100.0 }',
     DurationSpec("weibull", 100.0 * math.gamma(3.0), shape=0.5, scale_s=100.0)),
    ('{ distribution = "empirical", samples_s = [10.0, 20.0, 60.0] }',
     DurationSpec("empirical", 30.0, samples_s=(10.0, 20.0, 60.0))),
])
def test_every_duration_family_resolves_to_its_spec_with_its_mean(table: str, expected: DurationSpec):
    """mean_s is the distribution's mean whatever the family: a Weibull's is scale x Gamma(1 + 1/shape)
    (math.gamma), an empirical one's the samples' mean; the exponential is the default family."""
    resolved = scenario(node_failures(table, group="server")).failures
    assert len(resolved) == 1
    spec = resolved[0].time_to_failure
    assert (spec.distribution, spec.cv, spec.shape, spec.scale_s, spec.samples_s) == (
        expected.distribution, expected.cv, expected.shape, expected.scale_s, expected.samples_s)
    assert spec.mean_s == pytest.approx(expected.mean_s, rel=1e-12)
    assert resolved[0].time_to_repair == DurationSpec("exponential", 5.0)


def test_the_file_reads_every_family_the_samplers_draw():
    assert set(DURATION_TABLES) == set(DURATION_DISTRIBUTIONS)


@pytest.mark.parametrize("table, field, message", [
    ('{ distribution = "exponential", mean_s = 60.0, scale_s = 5.0 }', "scale_s",
     "is a weibull parameter; exponential takes mean_s"),
    ('{ distribution = "weibull", shape = 2.0, scale_s = 5.0, mean_s = 3.0 }', "mean_s",
     "is a parameter of exponential, deterministic, lognormal and gamma; weibull takes shape, scale_s"),
    ('{ distribution = "deterministic", mean_s = 3.0, cv = 0.1 }', "cv",
     "is a parameter of lognormal and gamma; deterministic takes mean_s"),
    ('{ distribution = "gamma", mean_s = 3.0, cv = 0.5, samples_s = [1.0] }', "samples_s",
     "is an empirical parameter; gamma takes mean_s, cv"),
    ('{ distribution = "gamma", mean_s = 3.0, cv = 0 }', "cv", "must be a number in [1e-06, 10], got 0"),
    ('{ distribution = "lognormal", mean_s = 3.0 }', "cv", "is required"),
    ('{ distribution = "pareto", mean_s = 3.0 }', "distribution",
     "must be one of 'exponential', 'deterministic', 'lognormal', 'gamma', 'weibull', 'empirical', got 'pareto'"),
    ('{ distribution = "weibull", shape = 0.01, scale_s = 5.0 }', "shape", "must be a number in [0.05, 100]"),
    ('{ distribution = "empirical", samples_s = [] }', "samples_s", "must be a list of 1 to 100000 numbers"),
    ('{ distribution = "empirical", samples_s = [1.0, 0.0] }', "samples_s", "[1] must be a number in [1e-06, 1e+09]"),
    ("5.0", "", "must be a table, got 5.0 (float)"),
])
def test_a_duration_table_refuses_what_its_family_does_not_take(table: str, field: str, message: str):
    """A parameter of another family is named as such, with the parameters the family takes."""
    path = "nodes.edge.failures.time_to_failure" + (f".{field}" if field else "")
    assert f"s.toml: {path} {message}" in " | ".join(problems(node_failures(table)))


@pytest.mark.parametrize("value", ["0", "0.0", "-1.0", "nan", "inf", '"60"', "1e-9", "2e9"])
@pytest.mark.parametrize("where", ["mean_s", "weibull scale_s", "empirical samples_s", "repair mean_s",
                                   "outage duration_s"])
def test_zero_negative_nan_infinite_or_string_times_are_refused(where: str, value: str):
    """A time to failure or repair (mean, scale, sample) or an outage's duration is a number in [1e-6, 1e9]
    seconds: 0 would make a failure process spin without advancing time."""
    tables = {
        "mean_s": (node_failures(f"{{ mean_s = {value} }}"), "nodes.edge.failures.time_to_failure.mean_s"),
        "weibull scale_s": (node_failures(f'{{ distribution = "weibull", shape = 2.0, scale_s = {value} }}'),
                            "nodes.edge.failures.time_to_failure.scale_s"),
        "empirical samples_s": (node_failures(f'{{ distribution = "empirical", samples_s = [{value}] }}'),
                                "nodes.edge.failures.time_to_failure.samples_s"),
        "repair mean_s": (f"[nodes.edge.failures]\ntime_to_failure = {{ mean_s = 60.0 }}\n"
                          f'time_to_repair = {{ distribution = "deterministic", mean_s = {value} }}\n',
                          "nodes.edge.failures.time_to_repair.mean_s"),
    }
    if where == "outage duration_s":
        found = problems(f'[[outages]]\ntarget = "edge"\nstart_s = 1.0\nduration_s = {value}\n')
        path = "outages[0].duration_s"
    else:
        text, path = tables[where]
        found = problems(text)
    assert len(found) == 1 and found[0].startswith(f"s.toml: {path} "), found
    expected = "must be a number, got" if value == '"60"' else "must be a number in [1e-06, 1e+09]"
    assert expected in found[0], found


def test_a_weibull_whose_mean_is_no_sane_time_is_refused():
    found = problems(node_failures('{ distribution = "weibull", shape = 0.05, scale_s = 1e9 }'))
    assert found == ["s.toml: nodes.edge.failures.time_to_failure has a mean of 2.433e+27 s (scale_s x "
                     "Gamma(1 + 1/shape)), outside [1e-06, 1e+09] s: raise shape or change scale_s"]


# ----------------------------------------------------------------------------------------------------------
# Failure processes


def test_a_group_fails_member_by_member_or_all_together():
    """correlated = false: one process per member, named by the member; true: one process for the group."""
    independent = scenario(node_failures(EXPONENTIAL, more='clock = "busy"\n'))
    assert [(p.name, p.nodes, p.links, p.table, p.clock) for p in independent.failures] == [
        (f"edge-{i}", (f"edge-{i}",), (), "nodes.edge.failures", "busy") for i in range(3)]
    together = scenario(node_failures(EXPONENTIAL, more="correlated = true\n"))
    assert [(p.name, p.nodes, p.links, p.clock) for p in together.failures] == [
        ("edge", ("edge-0", "edge-1", "edge-2"), (), "wall")]
    single = scenario(node_failures(EXPONENTIAL, group="server"))
    assert [(p.name, p.nodes) for p in single.failures] == [("server", ("server",))]
    assert all(p.time_to_failure == DurationSpec("exponential", 60.0) for p in independent.failures)


def link_failures(link: str, more: str = "") -> str:
    return (f"[network.links.{link}.failures]\ntime_to_failure = {{ mean_s = 600.0 }}\n"
            f'time_to_repair = {{ distribution = "deterministic", mean_s = 10.0 }}\n{more}')


def test_a_link_table_fails_link_by_link_or_all_together():
    """A link table expanded per member of a group makes one process per link (named as the link), or one
    process named as the table when correlated."""
    per_link = scenario(link_failures("lan")).failures
    assert [(p.name, p.nodes, p.links, p.table) for p in per_link] == [
        (f"lan-edge-{i}", (), (f"lan-edge-{i}",), "network.links.lan.failures") for i in range(3)]
    together = scenario(link_failures("lan", "correlated = true\n") + link_failures("uplink")).failures
    assert [(p.name, p.links) for p in together] == [("lan", ("lan-edge-0", "lan-edge-1", "lan-edge-2")),
                                                    ("uplink", ("uplink",))]
    assert isinstance(together[0], FailureProcessSpec) and together[0].clock == "wall"


def test_a_link_has_no_busy_clock():
    assert problems(link_failures("lan", 'clock = "busy"\n')) == [
        "s.toml: network.links.lan.failures.clock must be one of 'wall', got 'busy' (a link has no busy time)"]


@pytest.mark.parametrize("value", ['"yes"', "1"])
def test_correlated_is_true_or_false(value: str):
    found = problems(node_failures(EXPONENTIAL, more=f"correlated = {value}\n"))
    assert len(found) == 1 and found[0].startswith("s.toml: nodes.edge.failures.correlated must be true or false")


def test_failures_without_a_horizon_are_refused_by_the_cli(write_scenario):
    """Failure processes never end by themselves: `validate` exits with status 2 and a message naming the field
    and why, without a traceback."""
    text = WORLD.replace("horizon_s = 1000.0", "") + node_failures(EXPONENTIAL)
    completed = validate_with_cli(write_scenario(text))
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert ("scenario.toml: simulation.horizon_s is required with failures ([nodes.edge.failures]): failure "
            "processes never end") in completed.stderr
    assert "set simulation.horizon_s" in completed.stderr


def test_a_rebalancing_monitor_needs_a_horizon_too():
    found = problems('[rebalancing]\ntrigger = "periodic"\n', WORLD.replace("horizon_s = 1000.0", ""))
    assert found == ["s.toml: simulation.horizon_s is required with rebalancing.trigger = 'periodic': the "
                     "rebalancing monitor checks every interval_s for ever, so only a horizon ends the run: set "
                     "simulation.horizon_s"]
    outage_only = scenario('[[outages]]\ntarget = "edge"\nstart_s = 1.0\nduration_s = 2.0\n',
                           WORLD.replace("horizon_s = 1000.0", ""))
    assert outage_only.simulation.horizon_s is None and outage_only.is_dynamic  # outages end by themselves


# ----------------------------------------------------------------------------------------------------------
# Outages


def test_outages_name_a_node_a_group_a_link_or_a_link_table():
    """A group names its members, a link table every link it made; overlapping outages are fine."""
    text = "".join(f'[[outages]]\ntarget = "{target}"\nstart_s = {start}\nduration_s = 50.0\n'
                   for target, start in [("edge-1", 100.0), ("edge", 120.0), ("lan-edge-2", 0.0), ("lan", 0),
                                         ("uplink", 10.0), ("server", 5.0)])
    outages = scenario(text.replace('"server"', '"nodes.server"')).outages
    assert [(o.target, o.nodes, o.links, o.start_s, o.duration_s) for o in outages] == [
        ("edge-1", ("edge-1",), (), 100.0, 50.0),
        ("edge", ("edge-0", "edge-1", "edge-2"), (), 120.0, 50.0),
        ("lan-edge-2", (), ("lan-edge-2",), 0.0, 50.0),
        ("lan", (), ("lan-edge-0", "lan-edge-1", "lan-edge-2"), 0.0, 50.0),
        ("uplink", (), ("uplink",), 10.0, 50.0),
        ("nodes.server", ("server",), (), 5.0, 50.0),
    ]


def test_a_name_shared_by_a_node_and_a_link_must_say_which():
    base = WORLD.replace("[network.links.uplink]", "[network.links.server]")
    outage = '[[outages]]\ntarget = "{}"\nstart_s = 1.0\nduration_s = 2.0\n'
    assert problems(outage.format("server"), base) == [
        "s.toml: outages[0].target 'server' is both a node (or group) and a link (or link table): write "
        "\"nodes.server\" or \"network.links.server\""]
    qualified = scenario(outage.format("network.links.server") + outage.format("nodes.server"), base).outages
    assert [(o.nodes, o.links) for o in qualified] == [((), ("server",)), (("server",), ())]


def test_an_unknown_outage_target_is_refused_by_the_cli_with_what_it_may_name(write_scenario):
    completed = validate_with_cli(write_scenario(
        WORLD + '[[outages]]\ntarget = "rack-7"\nstart_s = 1.0\nduration_s = 2.0\n'))
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert ("scenario.toml: outages[0].target names no node, node group, link or link table: 'rack-7'; it may "
            "name the nodes and groups server, edge-0, edge-1, edge-2, edge, or the links and link tables "
            "lan-edge-0, lan-edge-1, lan-edge-2, uplink, lan") in completed.stderr


@pytest.mark.parametrize("text, message", [
    ('[outages]\ntarget = "edge"\n', "outages must be an array of tables ([[...]] in TOML), got {"),
    ('[[outages]]\ntarget = "edge"\nstart_s = 1.0\nduration_s = 2.0\nend_s = 3.0\n',
     "outages[0].end_s is not a known field; allowed here: target, start_s, duration_s"),
    ('[[outages]]\ntarget = "edge"\nduration_s = 2.0\n', "outages[0].start_s is required"),
    ('[[outages]]\ntarget = "edge"\nstart_s = -1.0\nduration_s = 2.0\n',
     "outages[0].start_s must be a number in [0, 1e+09], got -1.0"),
])
def test_an_outage_table_names_its_position(text: str, message: str):
    assert any(problem.startswith(f"s.toml: {message}") for problem in problems(text)), problems(text)


# ----------------------------------------------------------------------------------------------------------
# Recovery, rebalancing, work stealing, timeouts, replicas


def test_without_the_new_tables_nothing_is_dynamic_and_the_defaults_are_the_specs():
    plain = scenario()
    assert not plain.is_dynamic
    assert (plain.failures, plain.outages) == ((), ())
    assert (plain.recovery, plain.rebalancing, plain.work_stealing) == (
        RecoverySpec(), RebalancingSpec(), WorkStealingSpec())
    assert plain.applications["app"].timeout_s == math.inf
    assert plain.applications["app"].stages[0].replicas == 1


def test_recovery_rebalancing_and_work_stealing_resolve_as_given():
    given = scenario('[recovery]\non_failure = "restart"\nmax_retries = 5\nbackoff_s = 0.5\nbackoff_factor = 3.0\n'
                     '[rebalancing]\ntrigger = "threshold"\ninterval_s = 5.0\nwindow_s = 20.0\n'
                     'utilization_above = 0.8\nqueue_above = inf\nmax_moves = 4\n'
                     "[work_stealing]\nenabled = true\nmin_queue = 2\n")
    assert given.recovery == RecoverySpec("restart", 5, 0.5, 3.0)
    assert given.rebalancing == RebalancingSpec("threshold", 5.0, 20.0, 0.8, math.inf, 4)
    assert given.work_stealing == WorkStealingSpec(True, 2)
    assert given.is_dynamic


@pytest.mark.parametrize("text, message", [
    ('[recovery]\non_failure = "ignore"\n', "recovery.on_failure must be one of 'redispatch', 'resume', 'restart'"),
    ("[recovery]\nmax_retries = 1001\n", "recovery.max_retries must be an integer in [0, 1000]"),
    ("[recovery]\nbackoff_factor = 0.5\n", "recovery.backoff_factor must be a number in [1, 100]"),
    ("[recovery]\nbackoff_s = 1.0\nbackoff_factor = 100\nmax_retries = 10\n",
     "recovery.backoff_factor makes the last retry wait backoff_s x backoff_factor ** (max_retries - 1) = about "
     "1e18 s, more than 1e+09 s"),
    ('[rebalancing]\ntrigger = "threshold"\ninterval_s = 10.0\nwindow_s = 5.0\n',
     "rebalancing.window_s (5 s) must be at least interval_s (10 s)"),
    ('[rebalancing]\ntrigger = "threshold"\nutilization_above = 1.0\n',
     'rebalancing with trigger = "threshold" can never trigger'),
    ("[rebalancing]\ninterval_s = 0.0\n", "rebalancing.interval_s must be a number in [1e-06, 1e+09]"),
    ("[rebalancing]\nutilization_above = 1.5\n", "rebalancing.utilization_above must be a number in [0, 1]"),
    ("[rebalancing]\nqueue_above = -1\n", "rebalancing.queue_above must be a number in [0, 1e+06] or inf"),
    ("[rebalancing]\nmax_moves = 0\n", "rebalancing.max_moves must be an integer in [1, 1000000]"),
    ('[work_stealing]\nenabled = "true"\n', "work_stealing.enabled must be true or false"),
    ("[work_stealing]\nmin_queue = 0\n", "work_stealing.min_queue must be an integer in [1, 1000000]"),
])
def test_recovery_rebalancing_and_work_stealing_refusals_name_the_field(text: str, message: str):
    assert any(problem.startswith(f"s.toml: {message}") for problem in problems(text)), problems(text)


def test_a_periodic_monitor_does_not_need_a_window_as_long_as_its_interval():
    """The window only averages what the threshold trigger compares."""
    periodic = scenario('[rebalancing]\ntrigger = "periodic"\ninterval_s = 60.0\n')
    assert (periodic.rebalancing.interval_s, periodic.rebalancing.window_s) == (60.0, 30.0)


def test_timeouts_and_replicas_resolve_into_the_application():
    text = WORLD.replace('[applications.app.stages.only]\nmodel = "m"\n',
                         '[applications.app]\ntimeout_s = 10.0\n[applications.app.stages.only]\nmodel = "m"\n'
                         "replicas = 2\n")
    resolved = scenario("", text)
    assert resolved.applications["app"].timeout_s == 10.0
    assert resolved.applications["app"].stages[0].replicas == 2
    assert resolved.is_dynamic and resolved.warnings == ()
    assert scenario("", text.replace("timeout_s = 10.0", "timeout_s = inf")).applications["app"].timeout_s == math.inf


@pytest.mark.parametrize("replicas", [0, 65])
def test_replicas_outside_1_to_64_are_refused(replicas: int):
    text = WORLD.replace('model = "m"\n', f'model = "m"\nreplicas = {replicas}\n')
    assert problems("", text) == [f"s.toml: applications.app.stages.only.replicas must be an integer in [1, 64], "
                                  f"got {replicas} (int)"]


def test_more_replicas_than_eligible_nodes_is_a_warning():
    text = WORLD.replace('model = "m"\n', 'model = "m"\nplacement = ["edge"]\nreplicas = 4\n')
    assert scenario("", text).warnings == (
        "s.toml: applications.app.stages.only.replicas is 4, but the stage may run on only 3 nodes (edge-0, edge-1, "
        "edge-2): a task runs on at most 3 at once",)


def test_timeout_zero_or_negative_is_refused():
    text = WORLD.replace('[applications.app.stages.only]', '[applications.app]\ntimeout_s = 0\n'
                         '[applications.app.stages.only]')
    assert problems("", text) == ["s.toml: applications.app.timeout_s must be a number in (0, 1e+09] or inf, got 0"]


# ----------------------------------------------------------------------------------------------------------
# JSON Schema


def test_the_json_schema_describes_the_new_tables_and_refuses_a_family_s_foreign_field():
    """Each duration family is its own table (distribution a constant), a link's clock is only "wall", and an
    editor refuses what `validate` refuses: a parameter of another family, a busy link, a zero time."""
    schema = scenario_json_schema()
    definitions = schema["$defs"]
    assert definitions["WeibullDuration"]["properties"]["distribution"] == {"const": "weibull",
                                                                            "title": "Distribution"}
    assert definitions["LinkFailuresTable"]["properties"]["clock"]["enum"] == ["wall"]
    assert {"outages", "recovery", "rebalancing", "work_stealing"} <= set(schema["properties"])
    assert "UnknownDuration" not in definitions
    weibull = '{ distribution = "weibull", shape = 1.5, scale_s = 10.0 }'
    raw: dict[str, Any] = tomllib.loads(WORLD + node_failures(weibull) + link_failures("lan")
                                        + '[[outages]]\ntarget = "edge"\nstart_s = 1.0\nduration_s = 2.0\n')
    assert schema_errors(raw, schema, schema) == []
    failures = raw["nodes"]["edge"]["failures"]
    for broken in ({"distribution": "exponential", "mean_s": 1.0, "scale_s": 1.0}, {"mean_s": 0.0},
                   {"distribution": "gamma", "mean_s": 1.0}):
        failures["time_to_repair"] = broken
        assert schema_errors(raw, schema, schema), broken
    failures["time_to_repair"] = {"mean_s": 1.0}
    raw["network"]["links"]["lan"]["failures"]["clock"] = "busy"
    assert schema_errors(raw, schema, schema)
