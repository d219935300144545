"""Streaming transfers and message brokers (`simulator.streaming`, `simulator.network.brokers`): hand-computed
chunked and streaming cases, a hand-computed broker case, brokers against queueing theory (Pollaczek-Khinchine's
M/D/1 and Erlang C's M/M/c mean waits), refusals of every bad value, and plain runs that build none of it."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator import ScenarioError, parse_scenario, run
from simulator.cli import main
from simulator.config.json_schema import scenario_json_schema
from simulator.config.network_spec import BrokerSpec, NetworkSpec, network_problems
from simulator.dispatch import Dispatcher
from simulator.policies import make_policy
from simulator.simulation import Simulation
from simulator.streaming import StreamingDispatcher

LATENCY_S = 0.01
BANDWIDTH = 1e6


def pipeline(producer_s: float = 0.1, consumer_s: float = 0.2, output_bytes: float = 1e5, chunks: int = 4,
             streaming: bool = True, broker: dict[str, Any] | None = None) -> dict[str, Any]:
    """One job: stage ``p`` on node ``a`` (``producer_s``), its output to stage ``c`` on node ``b``
    (``consumer_s``), both deterministic; a link a-b of latency 0.01 s and 1e6 bytes/s, or with ``broker`` the
    links a-q (same) and q-b (0.01 s, infinite bandwidth) through broker ``q``."""
    stages: dict[str, Any] = {
        "p": {"model": "mp", "output_bytes": output_bytes, "chunks": chunks},
        "c": {"model": "mc", "after": ["p"], "streaming": streaming},
    }
    links: dict[str, Any] = {"a-b": {"endpoints": ["a", "b"], "latency_s": LATENCY_S,
                                     "bandwidth_bytes_per_s": BANDWIDTH}}
    network: dict[str, Any] = {"links": links}
    if broker is not None:
        stages["p"]["broker"] = "q"
        network = {"brokers": {"q": broker}, "links": {
            "a-q": {"endpoints": ["a", "q"], "latency_s": LATENCY_S, "bandwidth_bytes_per_s": BANDWIDTH},
            "q-b": {"endpoints": ["q", "b"], "latency_s": LATENCY_S, "bandwidth_bytes_per_s": math.inf}}}
    return {"simulation": {"max_jobs": 1, "seed": 3},
            "nodes": {"a": {"kind": "ka", "slots": 2}, "b": {"kind": "kb", "slots": 2}},
            "models": {"mp": {"distribution": "deterministic", "devices": {"ka": producer_s}},
                       "mc": {"distribution": "deterministic", "devices": {"kb": consumer_s}}},
            "network": network,
            "applications": {"app": {"stages": stages}},
            "arrivals": {"users": {"application": "app", "process": "deterministic", "rate_per_s": 0.01}}}


def times(raw: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """(ready_s, start_s, finish_s) of each stage of the one job, relative to its arrival."""
    result = run(parse_scenario(raw), "round_robin")
    arrival = float(result.jobs["arrival_s"][0])
    rows = result.tasks.set_index("stage")
    return {stage: (rows.loc[stage, "ready_s"] - arrival, rows.loc[stage, "start_s"] - arrival,
                    rows.loc[stage, "finish_s"] - arrival) for stage in ("p", "c")}


# -- hand-computed streaming cases -----------------------------------------------------------------------------

def test_a_streaming_consumer_starts_on_the_first_chunk():
    """p ends at 0.1 s; 4 chunks of 25,000 bytes, one after another, each 0.01 + 0.025 s: they arrive at 0.135,
    0.17, 0.205 and 0.24 s. c (0.2 s) starts at 0.135 s and ends at max(0.135 + 0.2, 0.24 + 0.2 / 4) = 0.335 s."""
    stages = times(pipeline())
    assert stages["p"][2] == pytest.approx(0.1)
    assert stages["c"][0] == pytest.approx(0.135) and stages["c"][1] == pytest.approx(0.135)
    assert stages["c"][2] == pytest.approx(0.335)


def test_a_streaming_consumer_cannot_finish_before_its_last_chunk_plus_its_share():
    """c takes 0.04 s: its service would end at 0.175 s, but the last chunk arrives at 0.24 s and its quarter of the
    service (0.01 s) follows: c finishes at 0.25 s, holding its slot until then."""
    stages = times(pipeline(consumer_s=0.04))
    assert stages["c"][1] == pytest.approx(0.135)
    assert stages["c"][2] == pytest.approx(0.25)


def test_a_consumer_that_does_not_stream_waits_for_the_last_chunk():
    """Without streaming c is ready when the last chunk is in (0.24 s) and ends 0.2 s later."""
    stages = times(pipeline(streaming=False))
    assert stages["c"][0] == pytest.approx(0.24) and stages["c"][2] == pytest.approx(0.44)


def test_one_chunk_is_todays_transfer():
    """chunks = 1: one message of 1e5 bytes, 0.01 + 0.1 s; c starts at 0.21 s, streaming or not, and ends at 0.41 s,
    exactly as a run without the fields."""
    plain = pipeline(chunks=1, streaming=False)
    del plain["applications"]["app"]["stages"]["p"]["chunks"], plain["applications"]["app"]["stages"]["c"]["streaming"]
    for raw in (pipeline(chunks=1), pipeline(chunks=1, streaming=False), plain):
        stages = times(raw)
        assert stages["c"][1] == pytest.approx(0.21) and stages["c"][2] == pytest.approx(0.41)


def test_each_chunk_pays_the_protocol_overhead():
    """A protocol of 1,000 header bytes and 0.005 s per message: each chunk takes 0.005 + 0.01 + 26,000 / 1e6 =
    0.041 s, the last arrives at 0.1 + 4 x 0.041 = 0.264 s; c (0.04 s) ends at 0.264 + 0.01 = 0.274 s."""
    raw = pipeline(consumer_s=0.04)
    raw["network"]["protocol"] = {"header_bytes": 1000.0, "latency_s": 0.005}
    stages = times(raw)
    assert stages["c"][1] == pytest.approx(0.141)
    assert stages["c"][2] == pytest.approx(0.274)


def test_chunked_results_reach_the_sink_after_their_last_chunk():
    """An exit stage with chunks = 2 and a sink one link away: the job completes when the second chunk arrives,
    0.1 + 2 x (0.01 + 0.05) = 0.22 s after arrival."""
    raw = pipeline(chunks=2)
    stages = raw["applications"]["app"]["stages"]
    del stages["c"]
    raw["applications"]["app"]["sink"] = "b"
    raw["nodes"]["b"]["kind"] = "sensor"
    del raw["models"]["mc"]
    result = run(parse_scenario(raw), "round_robin")
    assert result.jobs["response_s"][0] == pytest.approx(0.22)


def test_the_transfer_estimate_follows_chunks_and_streaming():
    """Policies price a chunked input as its chunks one after another (4 x 0.035 s), and a streaming consumer's by
    its first chunk (0.035 s)."""
    for streaming, expected in ((False, 0.14), (True, 0.035)):
        simulation = Simulation(parse_scenario(pipeline(streaming=streaming)), make_policy("round_robin"), 1)
        dispatcher = simulation.dispatcher
        while not dispatcher.live_jobs or next(iter(dispatcher.live_jobs.values())).tasks[1] is None:
            simulation.env.step()  # until p has finished and c is placed on b
        consumer = next(iter(dispatcher.live_jobs.values())).tasks[1]
        assert consumer is not None
        assert dispatcher.view.transfer_estimate_s(consumer, 1) == pytest.approx(expected)


# -- brokers ---------------------------------------------------------------------------------------------------

def test_a_message_through_a_broker_is_sent_queued_served_and_forwarded():
    """p ends at 0.1 s; its one message (1e5 bytes) reaches the broker at 0.1 + 0.01 + 0.1 = 0.21 s, is served for
    0.02 + 0.1 MB x 0.1 s/MB = 0.03 s, and reaches b 0.01 s later (infinite bandwidth): c runs 0.25 .. 0.45 s."""
    stages = times(pipeline(chunks=1, streaming=False, broker={"service_s": 0.02, "s_per_mb": 0.1}))
    assert stages["c"][1] == pytest.approx(0.25) and stages["c"][2] == pytest.approx(0.45)


def test_two_messages_queue_at_a_one_slot_broker():
    """p's output goes to two successors on b: both messages share the link a-q (5e5 bytes/s each) and reach the
    broker together at 0.1 + 0.01 + 0.2 = 0.31 s; one is served 0.31 .. 0.34 s, the other waits 0.03 s and is
    served 0.34 .. 0.37 s; c1 and c2 start at 0.35 and 0.38 s. The broker table: 2 messages, mean wait 0.015 s."""
    raw = pipeline(chunks=1, streaming=False, broker={"service_s": 0.02, "s_per_mb": 0.1})
    stages = raw["applications"]["app"]["stages"]
    stages["c2"] = copy.deepcopy(stages["c"])
    result = run(parse_scenario(raw), "round_robin")
    starts = sorted(result.tasks.set_index("stage").loc[["c", "c2"], "start_s"] - result.jobs["arrival_s"][0])
    assert starts == pytest.approx([0.35, 0.38])
    row = result.brokers.set_index("broker").loc["q"]
    assert row["messages"] == 2 and row["queue_length_max"] == 1
    assert row["wait_mean_s"] == pytest.approx(0.015) and row["wait_max_s"] == pytest.approx(0.03)
    assert row["service_mean_s"] == pytest.approx(0.03)
    assert result.summary["broker_wait_mean_s"] == pytest.approx(0.015)


def poisson_broker(rate_per_s: float, service_s: float, slots: int, distribution: str, seed: int,
                   horizon_s: float) -> dict[str, Any]:
    """Poisson jobs whose one stage (many slots, deterministic 1 ms: an M/D/inf station, whose departures are
    Poisson) sends its 0-byte result to the sink through broker q over links without latency or bandwidth limit:
    the broker sees a Poisson stream of messages of rate ``rate_per_s``."""
    return {"simulation": {"horizon_s": horizon_s, "warmup_s": 50.0, "seed": seed},
            "nodes": {"e": {"kind": "ke", "slots": 512}, "s": {"kind": "sensor"}},
            "models": {"m": {"distribution": "deterministic", "devices": {"ke": 0.001}}},
            "network": {"brokers": {"q": {"service_s": service_s, "slots": slots, "distribution": distribution}},
                        "links": {"e-q": {"endpoints": ["e", "q"], "bandwidth_bytes_per_s": math.inf},
                                  "q-s": {"endpoints": ["q", "s"], "bandwidth_bytes_per_s": math.inf}}},
            "applications": {"app": {"sink": "s", "stages": {"emit": {"model": "m", "broker": "q"}}}},
            "arrivals": {"users": {"application": "app", "rate_per_s": rate_per_s}}}


def erlang_c_wait_s(rate_per_s: float, service_s: float, servers: int) -> float:
    """Mean wait in queue of M/M/c (Erlang C): C(c, a) / (c mu - lambda)."""
    a = rate_per_s * service_s
    rho = a / servers
    head = sum(a**k / math.factorial(k) for k in range(servers))
    tail = a**servers / math.factorial(servers) / (1 - rho)
    return tail / (head + tail) / (servers / service_s - rate_per_s)


@pytest.mark.parametrize(("distribution", "slots", "expected_s"), [
    # M/D/1, Pollaczek-Khinchine: Wq = rho / (2 mu (1 - rho)) with rho = 0.7, mu = 100 / s.
    ("deterministic", 1, 0.7 / (2 * 100 * 0.3)),
    # M/M/2, Erlang C: lambda = 140 / s, mu = 100 / s per server.
    ("exponential", 2, erlang_c_wait_s(140.0, 0.01, 2)),
])
def test_a_broker_fed_by_poisson_messages_waits_as_queueing_theory_says(distribution: str, slots: int,
                                                                           expected_s: float):
    """The broker's mean wait for a server against the M/D/1 mean wait (Pollaczek-Khinchine formula) and the M/M/2
    one (Erlang C; Kleinrock, Queueing Systems vol. 1, 1975, sections 3.5 and 5.6), within 6 % over three seeds
    of about 40,000 messages each; its utilization against rho = 0.7."""
    rate = 70.0 * slots
    waits, utilizations = [], []
    for seed in (1, 2, 3):
        result = run(parse_scenario(poisson_broker(rate, 0.01, slots, distribution, seed, 650.0)), "round_robin")
        waits.append(result.summary["broker_wait_mean_s"])
        utilizations.append(result.summary["broker_utilization_mean"])
    assert np.mean(waits) == pytest.approx(expected_s, rel=0.06)
    assert np.mean(utilizations) == pytest.approx(0.7, rel=0.02)


# -- plain runs ------------------------------------------------------------------------------------------------

def test_a_run_without_the_fields_uses_the_plain_dispatcher_and_no_brokers():
    raw = pipeline(chunks=1, streaming=False)
    del raw["applications"]["app"]["stages"]["p"]["chunks"], raw["applications"]["app"]["stages"]["c"]["streaming"]
    simulation = Simulation(parse_scenario(raw), make_policy("round_robin"), 1)
    assert type(simulation.dispatcher) is Dispatcher and simulation.brokers == {}
    result = simulation.run()
    assert result.brokers.empty and "broker_wait_mean_s" not in result.summary
    streaming = Simulation(parse_scenario(pipeline()), make_policy("round_robin"), 1)
    assert isinstance(streaming.dispatcher, StreamingDispatcher)


def test_the_example_scenario_runs_and_writes_its_broker_table(tmp_path, capsys):
    assert main(["run", "scenarios/streaming_broker.toml", "--set", "simulation.horizon_s=10",
                 "--out", str(tmp_path)]) == 0
    assert "broker_wait_mean_s" in capsys.readouterr().out
    assert (tmp_path / "brokers.csv").read_text().startswith("broker,slots,messages,wait_mean_s")


# -- refusals --------------------------------------------------------------------------------------------------

def refused(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(raw, source="s.toml")
    return error.value.problems


@pytest.mark.parametrize(("path", "value", "message"), [
    ("p.chunks", 0, "applications.app.stages.p.chunks must be an integer in [1, 100000]"),
    ("p.chunks", 1.5, "applications.app.stages.p.chunks must be an integer in [1, 100000]"),
    ("p.chunks", "many", "applications.app.stages.p.chunks must be an integer in [1, 100000]"),
    ("c.streaming", "yes", "applications.app.stages.c.streaming must be true or false"),
    ("p.broker", "nowhere", "applications.app.stages.p.broker names unknown broker 'nowhere'; brokers in "
                            "[network.brokers]: (none)"),
    ("p.broker", 3, "applications.app.stages.p.broker must be"),
])
def test_a_bad_stage_field_is_refused_naming_file_and_field(path: str, value: Any, message: str):
    raw = pipeline()
    stage, field = path.split(".")
    raw["applications"]["app"]["stages"][stage][field] = value
    problems = refused(raw)
    assert any(problem.startswith(f"s.toml: {message}") for problem in problems), problems


@pytest.mark.parametrize(("field", "value", "message"), [
    ("service_s", -1.0, "network.brokers.q.service_s must be"),
    ("service_s", "inf", "network.brokers.q.service_s must be"),
    ("s_per_mb", -0.5, "network.brokers.q.s_per_mb must be"),
    ("slots", 0, "network.brokers.q.slots must be an integer in [1, 100000]"),
    ("slots", 1.5, "network.brokers.q.slots must be an integer in [1, 100000]"),
    ("distribution", "gamma", "network.brokers.q.distribution must be one of 'deterministic', 'exponential'"),
    ("queue", "lifo", "network.brokers.q.queue"),
])
def test_a_bad_broker_field_is_refused_naming_file_and_field(field: str, value: Any, message: str):
    raw = pipeline(broker={"service_s": 0.01})
    raw["network"]["brokers"]["q"][field] = value
    problems = refused(raw)
    assert any(problem.startswith(f"s.toml: {message}") for problem in problems), problems


def test_a_broker_named_like_a_node_or_not_linked_is_refused():
    raw = pipeline(broker={"service_s": 0.01})
    raw["network"]["brokers"]["a"] = {"service_s": 0.01}
    assert "s.toml: network.brokers.a name 'a' is already used by a node, group or switch (a broker is a vertex of " \
           "its own)" in refused(raw)
    raw = pipeline(broker={"service_s": 0.01})
    raw["network"]["brokers"]["r"] = {"service_s": 0.01}
    raw["network"]["switches"] = ["island"]
    raw["network"]["links"]["r-island"] = {"endpoints": ["r", "island"], "bandwidth_bytes_per_s": 1e6}
    raw["applications"]["app"]["stages"]["p"]["broker"] = "r"
    assert ("s.toml: applications.app.stages.p.broker is 'r', but no links connect the broker to a, b (nodes the "
            "stage or its successors may run on, or its sink)") in refused(raw)


def test_streaming_without_predecessors_or_with_a_partial_join_is_refused():
    raw = pipeline()
    raw["applications"]["app"]["stages"]["p"]["streaming"] = True
    assert ("s.toml: applications.app.stages.p.streaming is true, but the stage has no predecessors (`after`) whose "
            "output could stream to it; remove it or set chunks on a predecessor") in refused(raw)
    raw = pipeline()
    stages = raw["applications"]["app"]["stages"]
    stages["o"] = {"model": "mp"}
    stages["c"] |= {"after": ["p", "o"], "join": "any"}
    problems = refused(raw)
    assert ("s.toml: applications.app.stages.c.streaming is true, but the stage's join is 'any': a streaming stage "
            'waits for all of its inputs (join = "all")') in problems
    assert ("s.toml: applications.app.stages.p.chunks is 4, but a successor of the stage has an asynchronous join "
            '(join other than "all"), which takes its inputs whole and direct') in problems


def test_a_broker_made_in_code_is_checked_with_the_network():
    spec = NetworkSpec(brokers=(BrokerSpec("q", service_s=-1.0, slots=0, distribution="gamma"),))
    assert network_problems(spec, ["a"]) == [
        ("brokers.q", "is not a switch vertex (switches: (none))"),
        ("brokers.q", "service_s must be finite and >= 0 (seconds), got -1.0"),
        ("brokers.q", "slots must be an integer >= 1, got 0"),
        ("brokers.q", "distribution must be one of 'deterministic', 'exponential', got 'gamma'")]


def test_streaming_on_a_node_that_shares_its_slots_is_refused():
    raw = pipeline()
    raw["nodes"]["b"]["queue"] = "ps"
    message = ("s.toml: applications.app.stages.c.streaming is true, but the stage may run on node 'b', which shares "
               "its slots (queue {queue!r}), batches, limits model residency or runs stages with slot or memory "
               "demands; streaming stages run on nodes with queue fifo, priority, sjf or wfq, no batching, unlimited "
               "memory and one slot per task (restrict the stage's placement)")
    assert message.format(queue="ps") in refused(raw)
    raw = pipeline()
    raw["nodes"]["b"]["max_batch_size"] = 4
    raw["models"]["mc"]["batch_scaling"] = 0.5
    assert message.format(queue="fifo") in refused(raw)
    raw = pipeline()
    raw["applications"]["app"]["stages"]["c"]["slots"] = 2
    assert message.format(queue="fifo") in refused(raw)


def test_the_fields_are_refused_in_a_dynamic_scenario():
    raw = pipeline(broker={"service_s": 0.01})
    raw["applications"]["app"]["timeout_s"] = 50.0
    problems = refused(raw)
    for field, value in (("p.chunks", "4"), ("p.broker", "'q'"), ("c.streaming", "True")):
        assert (f"s.toml: applications.app.stages.{field} is {value}, but chunked outputs, streaming and brokers are "
                "not supported in a dynamic scenario (failures, outages, job timeouts, rebalancing, work stealing or "
                "replicas); remove it or use a static scenario") in problems


def test_cli_refuses_a_bad_value_with_status_2_and_validate_outlines_the_settings(tmp_path, capsys):
    text = Path("scenarios/streaming_broker.toml").read_text(encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text(text.replace("chunks = 4", "chunks = 0"), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert f"{path}: applications.tracking.stages.detect.chunks must be an integer in [1, 100000]" in \
        capsys.readouterr().err
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    assert ("; streaming: tracking.detect (output in 4 chunks, via broker queue), tracking.track (streams its "
            "inputs); brokers: queue (0.002 s + 0.004 s/MB per message, deterministic, 1 slot)"
            ) in capsys.readouterr().out


def test_json_schema_describes_the_fields():
    definitions = scenario_json_schema()["$defs"]
    stage = definitions["StageTable"]["properties"]
    assert stage["chunks"]["minimum"] == 1 and stage["streaming"]["enum"] == [True, False]
    assert set(definitions["BrokerTable"]["properties"]) == {"service_s", "s_per_mb", "slots", "distribution"}
