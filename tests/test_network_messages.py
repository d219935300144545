"""Tests of `simulator.network.messages`: per-message protocol overhead and compression, realised and estimated,
and the scenario fields that set them."""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Sequence

import pandas as pd
import pytest
import simpy
from conftest import MINIMAL
from test_config import schema_errors

from simulator.cli import main
from simulator.config import CompressionSpec, LinkSpec, NetworkSpec, ProtocolSpec, load_scenario
from simulator.config.json_schema import scenario_json_schema
from simulator.network import MessageNetwork, Network, build_network
from simulator.policies import make_policy
from simulator.simulation import Simulation, run

MEGABYTE = 1e6


def one_link(protocol: ProtocolSpec | None, compression: CompressionSpec | None, latency_s: float = 0.01,
             bandwidth_bytes_per_s: float = MEGABYTE, sharing: str = "max-min") -> tuple[simpy.Environment, Network]:
    """Two compute nodes ``a`` (0) and ``b`` (1) joined by one link, with the given message costs."""
    env = simpy.Environment()
    spec = NetworkSpec(sharing=sharing, links=(LinkSpec("ab", ("a", "b"), latency_s, bandwidth_bytes_per_s),),
                       protocol=protocol, compression=compression)
    return env, build_network(env, spec, ["a", "b"])


def finish_times(env: simpy.Environment, network: Network, sends: Sequence[tuple[int, int, float]]) -> list[float]:
    """Start every ``(src, dst, payload bytes)`` message at time 0; the time each one is delivered."""
    done: list[float] = [math.nan] * len(sends)

    def delivered(index: int) -> None:
        done[index] = env.now

    for index, (src, dst, n_bytes) in enumerate(sends):
        network.transfer(src, dst, n_bytes, lambda index=index: delivered(index))
    env.run()
    return done


HTTP = ProtocolSpec(header_bytes=100.0, latency_s=0.002, name="http")
HALF = CompressionSpec(ratio=0.5, sender_s_per_mb=0.2, receiver_s_per_mb=0.1)


def test_one_message_over_one_link_by_hand():
    """1 MB payload, ratio 0.5, header 100 B, 1 MB/s link of 10 ms, protocol 2 ms, 0.2 + 0.1 s/MB codec:
    0.2 (compress) + 0.002 + 0.01 + (500000 + 100) / 1e6 + 0.1 (decompress) = 0.8121 s."""
    env, network = one_link(HTTP, HALF)
    assert isinstance(network, MessageNetwork)
    assert finish_times(env, network, [(0, 1, MEGABYTE)]) == [pytest.approx(0.8121, rel=1e-12)]
    table = network.transfer_table()
    assert table["bytes"].tolist() == [500_100.0]  # wire bytes: compressed payload plus header
    assert table["start_s"].tolist() == [pytest.approx(0.202)]  # handed to the network after compress + protocol
    assert network.bytes_transferred == 500_100.0


def test_estimates_equal_the_realised_time_of_a_lone_message():
    for protocol, compression in [(HTTP, None), (None, HALF), (HTTP, HALF)]:
        for sharing in ("max-min", "rtt-weighted", "none"):
            for n_bytes in (0.0, 1234.0, 3 * MEGABYTE):
                env, network = one_link(protocol, compression, sharing=sharing)
                expected = network.estimate_s(0, 1, n_bytes)
                assert network.estimate_shared_s(0, 1, n_bytes) == pytest.approx(expected, rel=1e-12)
                assert finish_times(env, network, [(0, 1, n_bytes)]) == [pytest.approx(expected, rel=1e-12)]


def test_two_messages_share_a_link_max_min_with_their_headers():
    """Headers of 1000 B, payloads 9000 and 29000 B (wire 10000 and 30000), 10 kB/s, no link latency, protocol
    0.5 s: both transmit at 5000 B/s until the first is in at 0.5 + 2 = 2.5 s; the second's remaining 20000 B take
    2 s more at the full 10 kB/s: 4.5 s."""
    env, network = one_link(ProtocolSpec(header_bytes=1000.0, latency_s=0.5), None, latency_s=0.0,
                            bandwidth_bytes_per_s=1e4)
    assert finish_times(env, network, [(0, 1, 9000.0), (0, 1, 29000.0)]) == [pytest.approx(2.5), pytest.approx(4.5)]


def test_the_shared_estimate_sees_a_flow_transmitting_with_its_header():
    """While one message transmits, a new one would get half the link: 0.5 s + (9000 + 1000) / 5000 B/s."""
    env, network = one_link(ProtocolSpec(header_bytes=1000.0, latency_s=0.5), None, latency_s=0.0,
                            bandwidth_bytes_per_s=1e4)
    network.transfer(0, 1, 1e6, lambda: None)
    env.run(until=1.0)
    assert network.estimate_shared_s(0, 1, 9000.0) == pytest.approx(0.5 + 10000.0 / 5000.0)


def test_a_hand_over_on_one_node_is_free_and_no_message():
    env, network = one_link(HTTP, HALF)
    assert network.estimate_s(1, 1, MEGABYTE) == network.estimate_shared_s(1, 1, MEGABYTE) == 0.0
    assert finish_times(env, network, [(1, 1, MEGABYTE)]) == [0.0]
    assert network.transfer_table().empty and network.bytes_transferred == 0.0


def test_bad_transfers_are_refused_at_once():
    _, network = one_link(HTTP, HALF)
    with pytest.raises(ValueError, match="n_bytes must be finite"):
        network.transfer(0, 1, math.nan, lambda: None)
    with pytest.raises(IndexError, match="vertex index 5"):
        network.transfer(0, 5, 1.0, lambda: None)


def test_a_network_spec_made_in_code_is_checked():
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        one_link(None, CompressionSpec(ratio=0.0))
    with pytest.raises(ValueError, match=r"header_bytes must be finite and >= 0 \(bytes\), got -1"):
        one_link(ProtocolSpec(header_bytes=-1.0), None)
    with pytest.raises(ValueError, match=r"receiver_s_per_mb must be finite and >= 0"):
        one_link(None, CompressionSpec(receiver_s_per_mb=math.inf))


def test_without_protocol_or_compression_the_plain_network_runs():
    _, network = one_link(None, None)
    assert type(network) is Network


NO_COST = ["network.protocol.header_bytes=0", "network.protocol.latency_s=0", "network.compression.ratio=1",
           "network.compression.sender_s_per_mb=0", "network.compression.receiver_s_per_mb=0"]
SMALL = ["simulation.max_jobs=150"]


def test_zero_overhead_gives_todays_run_bit_for_bit():
    plain = run(load_scenario("demo_edge_cloud", SMALL), "heft", seed=4)
    free = load_scenario("demo_edge_cloud", [*SMALL, *NO_COST])
    assert isinstance(Simulation(free, make_policy("heft"), 4).network, MessageNetwork)
    free_run = run(free, "heft", seed=4)
    assert len(plain.transfers) > 100
    for name in ("tasks", "jobs", "transfers", "links"):
        pd.testing.assert_frame_equal(getattr(free_run, name), getattr(plain, name), check_exact=True)


def test_a_run_sends_wire_bytes_and_policies_see_the_overhead():
    """Every transfer of the run carries payload x 0.5 + 300 B; the view's estimates add the message's costs to
    the route latency and price the wire bytes, not the payload."""
    overrides = [*SMALL, "network.protocol.header_bytes=300", "network.protocol.latency_s=0.003",
                 "network.compression.ratio=0.5", "network.compression.sender_s_per_mb=0.01"]
    plain = run(load_scenario("demo_edge_cloud", SMALL), "heft", seed=4)
    costly = run(load_scenario("demo_edge_cloud", overrides), "heft", seed=4)
    payloads = set(plain.transfers["bytes"])
    assert set(costly.transfers["bytes"]) <= {n * 0.5 + 300 for n in payloads}
    assert costly.jobs["finish_s"].sub(costly.jobs["arrival_s"]).mean() != pytest.approx(
        plain.jobs["finish_s"].sub(plain.jobs["arrival_s"]).mean())

    simulation = Simulation(load_scenario("demo_edge_cloud", overrides), make_policy("heft"), 4)
    bare = Simulation(load_scenario("demo_edge_cloud", SMALL), make_policy("heft"), 4)
    camera, edge = (simulation.network.vertex_index(name) for name in ("camera-1", "edge-1"))
    n_bytes = 2.5e6
    expected = (bare.network.route_latency_s(camera, edge) + 0.003 + n_bytes * 0.01 / MEGABYTE
                + (n_bytes * 0.5 + 300) / bare.network.route_bottleneck_bytes_per_s(camera, edge))
    assert simulation.dispatcher.view.edge_estimate_s(camera, edge, n_bytes) == pytest.approx(expected, rel=1e-12)
    assert bare.dispatcher.view.edge_estimate_s(camera, edge, n_bytes) == pytest.approx(
        bare.network.route_latency_s(camera, edge) + n_bytes / bare.network.route_bottleneck_bytes_per_s(camera, edge),
        rel=1e-12)


# Scenario fields: validate names them, and refuses what is out of range with file, field and range.

NETWORKED = MINIMAL + """
[network]
switches = ["switch"]
[network.links.uplink]
endpoints = ["server", "switch"]
latency_s = 0.001
bandwidth_bytes_per_s = 1e6
"""


def test_validate_mentions_protocol_and_compression(write_scenario, capsys):
    path = write_scenario(NETWORKED + """
[network.protocol]
name = "grpc"
header_bytes = 50
latency_s = 0.001
[network.compression]
ratio = 0.25
sender_s_per_mb = 0.003
""")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "protocol grpc (50 header bytes, 0.001 s per message)" in out
    assert "compression to 0.25 of the payload (0.003 s/MB to compress, 0 s/MB to decompress)" in out
    assert main(["validate", str(write_scenario(NETWORKED))]) == 0
    assert "protocol" not in capsys.readouterr().out


@pytest.mark.parametrize(("table", "expected"), [
    ("[network.compression]\nratio = 0", "network.compression.ratio must be a number in (0, 1], got 0 "
                                         "(bytes on the wire per byte of payload)"),
    ("[network.compression]\nratio = 1.5", "network.compression.ratio must be a number in (0, 1], got 1.5"),
    ("[network.compression]\nsender_s_per_mb = 0.1", "network.compression.ratio"),
    ("[network.compression]\nratio = 0.5\nreceiver_s_per_mb = -1",
     "network.compression.receiver_s_per_mb must be a number in [0, 1e+06], got -1 (seconds per MB"),
    ("[network.compression]\nratio = 0.5\nlevel = 3", "network.compression.level"),
    ("[network.protocol]\nheader_bytes = -5", "network.protocol.header_bytes must be a number in [0, 1e+15], "
                                              "got -5 (bytes)"),
    ("[network.protocol]\nlatency_s = \"fast\"", "network.protocol.latency_s must be a number, got 'fast'"),
    ("[network.protocol]\nlatency_s = inf", "network.protocol.latency_s must be a number in [0, 1e+09]"),
    ("[network.protocol]\nname = \"\"", "network.protocol.name must be a non-empty string"),
    ("[network.protocol]\nheader = 40", "network.protocol.header"),
])
def test_bad_protocol_or_compression_is_refused(write_scenario, capsys, table, expected):
    path = write_scenario(NETWORKED + table + "\n")
    for command in ("validate", "run"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert str(path) in err and expected in err, err


def test_the_json_schema_has_the_protocol_and_compression_tables():
    schema = scenario_json_schema()
    good = tomllib.loads(NETWORKED + '[network.protocol]\nname = "broker"\nheader_bytes = 64\nlatency_s = 0.002\n'
                                     "[network.compression]\nratio = 0.3\nreceiver_s_per_mb = 0.002\n")
    assert schema_errors(good, schema, schema) == []
    for table, key, value in [("compression", "ratio", 0), ("compression", "ratio", 1.01),
                              ("compression", "sender_s_per_mb", -1), ("protocol", "header_bytes", -1),
                              ("protocol", "latency_s", "x"), ("protocol", "headers", 1)]:
        broken = json.loads(json.dumps(good))
        broken["network"][table][key] = value
        assert schema_errors(broken, schema, schema), (table, key, value)
