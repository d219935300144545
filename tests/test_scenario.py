"""Unit tests of scenario loading and validation: every kind of bad input gets a message naming file and field."""

from __future__ import annotations

import math

import pytest
from conftest import MINIMAL, SCENARIOS

from simulator.config import apply_overrides, load_scenario, parse_override
from simulator.errors import ScenarioError

pytestmark = pytest.mark.unit


def problems_of(write_scenario, text: str) -> list[str]:
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    for problem in caught.value.problems:
        assert problem.startswith(str(path)), problem
    return caught.value.problems


def test_minimal_scenario_loads_with_defaults(write_scenario):
    scenario = load_scenario(write_scenario(MINIMAL))
    assert scenario.name == "scenario"
    assert scenario.nodes[0].slots == 2 and scenario.nodes[0].queue == "fifo"
    service = scenario.models["m"].devices["cpu"]
    assert (service.mean_s, service.distribution, service.cv) == (0.5, "exponential", 1.0)
    assert scenario.policy.name == "least_loaded" and scenario.policy.mode == "immediate"
    assert scenario.applications["app"].deadline_s == math.inf


def test_malformed_toml_names_the_file(write_scenario):
    (problem,) = problems_of(write_scenario, "[nodes\nkind=")
    assert "not valid TOML" in problem


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "absent.toml")


def test_unknown_key_is_an_error_listing_allowed_keys(write_scenario):
    (problem,) = problems_of(write_scenario, MINIMAL.replace("slots = 2", "slots = 2\nslot = 3"))
    assert "nodes.server.slot is not a known field" in problem and "slots" in problem


def test_wrong_type_and_value(write_scenario):
    problems = problems_of(write_scenario, MINIMAL.replace("slots = 2", 'slots = "two"'))
    assert any("nodes.server.slots must be an integer in [1, 100000], got 'two' (str)" in p for p in problems)
    problems = problems_of(write_scenario, MINIMAL.replace("slots = 2", "slots = 0"))
    assert any("nodes.server.slots must be an integer in [1, 100000], got 0" in p for p in problems)


def test_negative_bandwidth(write_scenario):
    text = MINIMAL + """
[network]
switches = ["switch"]
[network.links.uplink]
endpoints = ["server", "switch"]
latency_s = 0.001
bandwidth_bytes_per_s = -5
"""
    problems = problems_of(write_scenario, text)
    message = "network.links.uplink.bandwidth_bytes_per_s must be a number in [1, 1e+15] or inf, got -5"
    assert any(message in p for p in problems)


def test_unknown_model_and_policy(write_scenario):
    problems = problems_of(write_scenario, MINIMAL.replace('model = "m"', 'model = "gpt-9"')
                           + '[policy]\nname = "telepathy"\n')
    assert any("applications.app.stages.only.model unknown model 'gpt-9'" in p for p in problems)
    assert any("policy.name unknown policy 'telepathy'; known policies:" in p and "least_loaded" in p
               for p in problems)


def test_unknown_policy_parameter(write_scenario):
    problems = problems_of(write_scenario, MINIMAL + '[policy]\nname = "least_loaded"\nparams = { depth = 2 }\n')
    assert any("unknown parameter 'depth' for policy 'least_loaded'; allowed: tie_break" in p for p in problems)


def test_dag_cycle_is_reported_with_the_cycle(write_scenario):
    text = MINIMAL.replace('[applications.app.stages.only]\nmodel = "m"', """
[applications.app.stages.a]
model = "m"
after = ["c"]
[applications.app.stages.b]
model = "m"
after = ["a"]
[applications.app.stages.c]
model = "m"
after = ["b"]
""")
    problems = problems_of(write_scenario, text)
    assert any("applications.app.stages must form a DAG" in p and "cycle" in p for p in problems)


def test_every_problem_is_reported_at_once(write_scenario):
    text = MINIMAL.replace("slots = 2", "slots = -1").replace("rate_per_s = 1.0", "rate_per_s = 0")
    problems = problems_of(write_scenario, text)
    assert len(problems) == 2


def test_stage_that_can_run_nowhere(write_scenario):
    problems = problems_of(write_scenario, MINIMAL.replace("[models.m.devices.cpu]", "[models.m.devices.gpu]"))
    assert any("can run on no node" in p and "'gpu'" in p for p in problems)


def test_unconnected_transfer_is_reported(write_scenario):
    text = MINIMAL.replace("[nodes.server]", "[nodes.camera]\nkind = \"edge\"\n\n[nodes.server]") + (
        '[applications.app]\nsource = "camera"\n')
    problems = problems_of(write_scenario, text)
    assert any("needs data transfers between vertices that no links connect" in p for p in problems)


def test_run_without_end_is_rejected(write_scenario):
    problems = problems_of(write_scenario, MINIMAL.replace("max_jobs = 50", ""))
    assert any("needs max_jobs or horizon_s" in p for p in problems)


def test_overrides_by_dotted_path(write_scenario):
    path = write_scenario(MINIMAL)
    scenario = load_scenario(path, ["arrivals.users.rate_per_s=2.5", "nodes.server.slots=4",
                                    'policy.params.tie_break="lowest_index"'])
    assert scenario.arrivals[0].params["rate_per_s"] == 2.5
    assert scenario.nodes[0].slots == 4
    assert scenario.policy.params == {"tie_break": "lowest_index"}
    assert parse_override("a.b=hello") == ("a.b", "hello")
    with pytest.raises(ScenarioError, match="must look like dotted.key=value"):
        parse_override("nonsense")
    with pytest.raises(ScenarioError, match="is not a table"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_override_of_unknown_field_is_caught(write_scenario):
    with pytest.raises(ScenarioError, match="arrivals.users.rate is not a known field"):
        load_scenario(write_scenario(MINIMAL), ["arrivals.users.rate=2"])


def test_switching_policy_drops_the_other_policys_params(write_scenario):
    text = MINIMAL + '[policy]\nname = "least_loaded"\nparams = { tie_break = "random" }\n'
    scenario = load_scenario(write_scenario(text), policy="round_robin")
    assert scenario.policy.name == "round_robin" and scenario.policy.params == {}


def test_group_count_expands_nodes_links_and_streams(write_scenario):
    text = MINIMAL.replace("[nodes.server]", "[nodes.cam]\nkind = \"edge\"\ncount = 3\n\n[nodes.server]") + """
[network]
switches = ["sw"]
[network.links.radio]
endpoints = ["cam", "sw"]
bandwidth_bytes_per_s = 1e6
[network.links.lan]
endpoints = ["server", "sw"]
bandwidth_bytes_per_s = 1e8
[applications.app]
source = "cam"
"""
    text = text.replace('rate_per_s = 1.0', 'rate_per_s = 1.0\nsource = "cam"')
    scenario = load_scenario(write_scenario(text))
    assert [n.name for n in scenario.nodes] == ["cam-0", "cam-1", "cam-2", "server"]
    assert sorted(link.name for link in scenario.network.links) == ["lan", "radio-cam-0", "radio-cam-1",
                                                                    "radio-cam-2"]
    assert [(a.name, a.source, a.sink) for a in scenario.arrivals] == [
        ("users-cam-0", "cam-0", "cam-0"), ("users-cam-1", "cam-1", "cam-1"), ("users-cam-2", "cam-2", "cam-2")]


def test_trace_replay_file_errors(write_scenario, tmp_path):
    (tmp_path / "trace.csv").write_text("time_s,application\n0.5,app\n0.2,app\n")
    text = MINIMAL.replace('process = "poisson"\nrate_per_s = 1.0', 'process = "trace"\nfile = "trace.csv"')
    problems = problems_of(write_scenario, text)
    assert any("line 3: time_s must not decrease" in p for p in problems)


SHIPPED = sorted(p for p in SCENARIOS.rglob("*.toml") if "data" not in p.parts)


@pytest.mark.examples
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path):
    load_scenario(path)
