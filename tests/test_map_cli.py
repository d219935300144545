"""Tests of the ``map`` sub-command (simulator.map_cli), called through argparse as simulator/cli.py will."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from simulator.map_cli import add_map_arguments, parse_param, run_map
from simulator.mapping import load_etc, makespan

BRAUN_FILE = Path(__file__).resolve().parents[1] / "scenarios" / "data" / "braun" / "u_c_hihi.0"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator map")
    add_map_arguments(parser)
    return run_map(parser.parse_args(argv))


@pytest.mark.unit
def test_text_report_of_min_min_on_a_braun_instance(capsys: pytest.CaptureFixture[str]) -> None:
    """Reference: the published Min-min makespan of u_c_hihi.0 (8460675.0, Braun et al.'s definition)."""
    assert run([str(BRAUN_FILE), "--algorithm", "min_min"]) == 0
    output = capsys.readouterr()
    assert output.err == ""
    assert "makespan_s        8460675.003243" in output.out
    for label in ("flowtime_s", "load_variance_s2", "wall_s", "512 tasks x 16 machines"):
        assert label in output.out


@pytest.mark.unit
def test_json_output_and_assignment_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reference: the CLI contract (--json prints one object; --out writes CSV task,machine) and
    simulator.mapping.makespan of the written assignment."""
    out = tmp_path / "nested" / "assignment.csv"
    argv = [str(BRAUN_FILE), "--algorithm", "ga", "--seed", "3", "--time-limit", "5", "--json", "--out", str(out)]
    argv += ["--param", "population_size=2", "--param", "max_generations=1", "--param", "local_search=critical"]
    assert run(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["algorithm"] == "ga" and report["seed"] == 3 and report["time_limit_s"] == 5.0
    assert report["params"]["population_size"] == 2 and report["params"]["local_search"] == "critical"
    with out.open() as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["task", "machine"]
    assignment = np.array([int(machine) for _, machine in rows[1:]])
    assert [int(task) for task, _ in rows[1:]] == list(range(512))
    assert makespan(load_etc(BRAUN_FILE), assignment) == pytest.approx(report["makespan_s"])


@pytest.mark.unit
def test_shape_option_reads_a_file_without_header_or_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reference: load_etc's shape rules (explicit shape for a bare one-value-per-line file)."""
    etc_file = tmp_path / "tiny.0"
    etc_file.write_text("1\n2\n3\n4\n5\n6\n")
    assert run([str(etc_file), "--algorithm", "mct", "--shape", "3", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["n_tasks"], report["n_machines"]) == (3, 2)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("extra", "content", "patterns"),
    [
        (["--algorithm", "anneal"], None, ["unknown solver 'anneal'", "min_min"]),
        (["--algorithm", "ga", "--param", "pop=3"], None, ["unknown parameter 'pop'", "population_size"]),
        (["--algorithm", "ga", "--param", "population_size"], None, ["KEY=VALUE"]),
        (["--algorithm", "ga", "--param", "population_size=-1"], None, ["population_size", ">= 2"]),
        (["--algorithm", "ga", "--time-limit", "0"], None, ["--time-limit", "positive"]),
        (["--algorithm", "ga", "--time-limit", "-3"], None, ["--time-limit", "positive"]),
        (["--algorithm", "ga", "--time-limit", "nan"], None, ["--time-limit", "positive"]),
        (["--algorithm", "min_min", "--seed", "-1"], None, ["--seed", "non-negative"]),
        (["--algorithm", "min_min", "--shape", "5", "2"], "1\n2\n3\n4\n", ["expected 10 values", "found 4"]),
        (["--algorithm", "min_min", "--shape", "2", "2"], "1\n2\nthree\n4\n", ["line 3", "'three'"]),
        (["--algorithm", "min_min"], "1\n2\n3\n4\n", ["shape", "--shape T M"]),
        (
            ["--algorithm", "ga", "--param", "max_generations=none", "--shape", "2", "2"],
            "1\n2\n3\n4\n",
            ["max_generations", "never stop"],
        ),
    ],
)
def test_user_errors_print_one_line_and_return_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], content: str | None, patterns: list[str]
) -> None:
    """Reference: DESIGN.md (bad input gets a clear error naming what is wrong, no traceback)."""
    if content is None:
        target = str(BRAUN_FILE)
    else:
        (tmp_path / "etc.0").write_text(content)
        target = str(tmp_path / "etc.0")
    assert run([target, *extra]) == 2
    output = capsys.readouterr()
    assert output.out == ""
    lines = output.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in output.err
    for pattern in patterns:
        assert pattern in lines[0]


@pytest.mark.unit
def test_missing_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reference: DESIGN.md error rule (the message names the file)."""
    assert run([str(tmp_path / "nope.0"), "--algorithm", "min_min"]) == 2
    assert "nope.0: file not found" in capsys.readouterr().err


@pytest.mark.unit
def test_parse_param_converts_values() -> None:
    """Reference: parse_param's documented conversions."""
    assert parse_param("a=3") == ("a", 3)
    assert parse_param("a=0.5") == ("a", 0.5)
    assert parse_param("a=TRUE") == ("a", True)
    assert parse_param("a=none") == ("a", None)
    assert parse_param(" crossover = one_point ") == ("crossover", "one_point")
    with pytest.raises(ValueError):
        parse_param("=3")
