"""The scenario format as JSON Schema, for editors: Taplo (and VS Code's Even Better TOML) validate and
complete a scenario file against it (``#:schema ./scenario.schema.json`` on the file's first line)."""

from __future__ import annotations

import json
from typing import Any

from simulator.config.schema import PROCESS_TABLES, ScenarioFile

__all__ = ["scenario_json_schema", "scenario_json_schema_text"]

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
"""Draft 7: the newest draft every editor's validator (Taplo's included) handles in full."""


def _without_null_defaults(node: Any) -> Any:
    """A field whose default is "not given" (None) has no default an editor could insert."""
    if isinstance(node, dict):
        return {key: _without_null_defaults(value) for key, value in node.items()
                if not (key == "default" and value is None)}
    if isinstance(node, list):
        return [_without_null_defaults(item) for item in node]
    return node


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) of a scenario file, generated from `ScenarioFile`.

    An arrival table is one of the processes' tables, told apart by ``process`` (a constant in each, required
    except for the default, poisson), so an editor offers exactly the fields of the process written.
    """
    schema = _without_null_defaults(ScenarioFile.model_json_schema(mode="validation"))
    definitions = schema["$defs"]
    for process, table in PROCESS_TABLES.items():
        definition = definitions[table.__name__]
        definition["properties"]["process"] = {"const": process, "title": "Process"}
        if process != "poisson":
            definition["required"] = ["process", *definition.get("required", [])]
    definitions.pop("UnknownProcessArrivals", None)
    schema["properties"]["arrivals"]["additionalProperties"] = {
        "oneOf": [{"$ref": f"#/$defs/{table.__name__}"} for table in PROCESS_TABLES.values()]}
    return {"$schema": SCHEMA_DIALECT, **schema, "title": "allocsim scenario file"}


def scenario_json_schema_text() -> str:
    """`scenario_json_schema` as indented JSON text."""
    return json.dumps(scenario_json_schema(), indent=2) + "\n"
