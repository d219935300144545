"""The configuration package: the pydantic schema's problems in the project's format, the JSON Schema for
editors (checked against every shipped scenario and the README's table of fields), the `schema` command, and
the loading helpers shared by scenarios and experiments."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import MINIMAL, ROOT, SCENARIOS

from simulator.cli import main
from simulator.config import Problems, lookup, parse_scenario
from simulator.config.json_schema import scenario_json_schema
from simulator.config.schema import ScenarioFile, validate_file
from simulator.errors import ScenarioError

pytestmark = pytest.mark.unit

SCENARIO_FILES = sorted([*(path for path in SCENARIOS.rglob("*.toml")
                           if "data" not in path.relative_to(SCENARIOS).parts),
                         *(ROOT / "tests" / "fuzz_corpus").glob("*.toml")])
"""The shipped scenarios (data/ holds inputs of other formats) and the fuzz corpus, which uses every field."""


def schema_problems(text: str) -> list[str]:
    problems = Problems("s.toml")
    assert validate_file(tomllib.loads(text), problems) is None
    return problems.items


def test_schema_problems_name_file_dotted_field_and_what_is_allowed():
    """Every problem of the schema at once, as FILE: dotted.field message; an arrival table's fields are those
    of its process."""
    text = MINIMAL.replace("slots = 2", "slots = 0\nslotz = 1").replace("rate_per_s = 1.0", "rate = 1.0")
    problems = schema_problems(text + '[network.links.up]\nendpoints = ["server", "x"]\n')
    assert "s.toml: nodes.server.slots must be an integer in [1, 100000], got 0 (int)" in problems
    assert any(p.startswith("s.toml: nodes.server.slotz is not a known field; allowed here: kind, slots, count,")
               for p in problems)
    assert ("s.toml: arrivals.users.rate is not a known field; allowed here: application, process, source, sink, "
            "start_s, stop_s, rate_per_s") in problems
    assert "s.toml: arrivals.users.rate_per_s is required" in problems
    assert "s.toml: network.links.up.bandwidth_bytes_per_s is required" in problems
    assert len(problems) == 5


def test_a_value_where_a_table_belongs_and_an_unknown_process():
    problems = schema_problems("nodes = 3\n" + MINIMAL.replace('[nodes.server]\nkind = "cpu"\nslots = 2', "")
                               .replace('process = "poisson"', 'process = "bursty"'))
    assert "s.toml: nodes must be a table, got 3 (int)" in problems
    assert any(p.startswith("s.toml: arrivals.users.process must be one of 'poisson', 'deterministic'")
               and p.endswith("got 'bursty'") for p in problems)
    # an unknown process has no parameters: only the fields every process has are allowed
    assert ("s.toml: arrivals.users.rate_per_s is not a known field; allowed here: application, process, source, "
            "sink, start_s, stop_s") in problems


def test_a_table_built_in_code_with_a_key_that_is_not_a_string():
    problems = Problems("s.toml")
    assert validate_file({"nodes": {1: {}}}, problems) is None
    assert problems.items == ["s.toml: nodes has a key that is not a string: 1 (int)"]


def test_model_fields_are_defaults_of_its_devices_and_a_bare_number_is_a_mean():
    text = MINIMAL.replace("[models.m.devices.cpu]\nmean_s = 0.5",
                           '[models.m]\ndistribution = "gamma"\ncv = 0.5\nmemory_bytes = 10\n'
                           '[models.m.devices]\ncpu = 0.25\n')
    scenario = parse_scenario(tomllib.loads(text), source="s.toml")
    service = scenario.models["m"].devices["cpu"]
    assert (service.mean_s, service.distribution, service.cv, service.memory_bytes) == (0.25, "gamma", 0.5, 10)


def test_a_rule_between_fields_names_the_field_where_it_was_written():
    text = MINIMAL.replace("[models.m.devices.cpu]\nmean_s = 0.5",
                           "[models.m]\ncv = 0.5\n[models.m.devices]\ncpu = 1.0\n")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(tomllib.loads(text), source="s.toml")
    assert caught.value.problems == ["s.toml: models.m.cv an exponential distribution has cv = 1; got 0.5 "
                                     "(use gamma or lognormal)"]


# ----------------------------------------------------------------------------------------------------------
# The JSON Schema: a small validator of the keywords it uses stands in for an editor's (jsonschema, the
# reference implementation, is not a dependency).


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "") -> list[str]:
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_errors(value, target, root, path)
    errors: list[str] = []
    if "anyOf" in schema or "oneOf" in schema:
        matches = [not schema_errors(value, option, root, path) for option in schema.get("anyOf", schema.get("oneOf"))]
        if ("anyOf" in schema and not any(matches)) or ("oneOf" in schema and sum(matches) != 1):
            errors.append(f"{path}: {sum(matches)} alternatives match {value!r}")
        return errors
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float)}
    if "type" in schema and (not isinstance(value, kinds[schema["type"]]) or isinstance(value, bool)):
        return [f"{path}: not of type {schema['type']}: {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value!r} below minimum")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors.append(f"{path}: {value!r} not above exclusiveMinimum")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: {value!r} above maximum")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: too short")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items")
        for index, item in enumerate(value):
            errors.extend(schema_errors(item, schema.get("items", {}), root, f"{path}[{index}]"))
    if isinstance(value, dict):
        errors.extend(f"{path}.{key}: required" for key in schema.get("required", []) if key not in value)
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors.extend(schema_errors(item, properties[key], root, f"{path}.{key}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: additional property")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors.extend(schema_errors(item, schema["additionalProperties"], root, f"{path}.{key}"))
    return errors


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_scenario_satisfies_the_json_schema_and_the_model(path: Path):
    raw = tomllib.loads(path.read_text())
    schema = scenario_json_schema()
    assert schema_errors(raw, schema, schema) == []
    ScenarioFile.model_validate(raw)


def test_the_json_schema_refuses_what_the_scenario_reader_refuses():
    """An unknown key (additionalProperties false, in every table), a value out of range, a wrong type, a
    process's field in another process's table."""
    schema = scenario_json_schema()
    raw = tomllib.loads(MINIMAL)
    assert schema_errors(raw, schema, schema) == []
    for dotted, value in [("nodes.server.slotz", 1), ("slots", 0), ("simulation.seed", "x"),
                          ("arrivals.users.mean_on_s", 1.0), ("models.m.devices.cpu.mean_s", -1),
                          ("network.links.up.latency_s", 0.0), ("applications.app.stages.only.modle", "m")]:
        broken = json.loads(json.dumps(raw))
        table = broken
        parts = ("nodes.server." + dotted if dotted == "slots" else dotted).split(".")
        for part in parts[:-1]:
            table = table.setdefault(part, {})
        table[parts[-1]] = value
        assert schema_errors(broken, schema, schema), dotted
    assert all(definition.get("additionalProperties") is False for definition in schema["$defs"].values())


def test_every_field_of_the_readme_table_is_in_the_json_schema():
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "`" in line]
    documented = {name.rsplit(".", 1)[-1] for row in rows for name in re.findall(r"`([a-z_.]+)`", row)}
    documented -= {"inf", "time_s"}  # a value, and the trace CSV's column
    schema = scenario_json_schema()
    fields = {name for definition in schema["$defs"].values() for name in definition.get("properties", {})}
    assert len(documented) > 20
    assert documented <= fields, documented - fields


def test_schema_command_writes_the_json_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == scenario_json_schema()
    out = tmp_path / "editor" / "scenario.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["title"] == "allocsim scenario file"
    assert main(["schema", "--out", str(tmp_path)]) == 2  # a directory: refused with a message, no traceback
    assert "--out" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------
# Loading helpers shared with experiments


def test_lookup_names_the_missing_part_and_what_is_there():
    config = {"nodes": {"server": {"slots": 2}}}
    assert lookup(config, "nodes.server.slots") == 2
    with pytest.raises(KeyError, match=r"nodes.server has no field 'slotz' \(it has: slots\)"):
        lookup(config, "nodes.server.slotz")
    with pytest.raises(KeyError, match=r"nodes.server.slots has no field 'x' \(it has: \(not a table\)\)"):
        lookup(config, "nodes.server.slots.x")


def test_problems_are_reported_once_in_the_order_found():
    problems = Problems("f.toml")
    problems.add("a.b", "is wrong")
    problems.add("", "is empty")
    problems.add("a.b", "is wrong")
    with pytest.raises(ScenarioError) as caught:
        problems.raise_if_any(ScenarioError)
    assert caught.value.problems == ["f.toml: a.b is wrong", "f.toml: is empty"]
