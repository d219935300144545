"""The scenario format as JSON Schema, for editors: Taplo (and VS Code's Even Better TOML) validate and
complete a scenario file against it (``#:schema ./scenario.schema.json`` on the file's first line)."""

from __future__ import annotations

import json
from typing import Any

from simulator.config.schema import (
    DEFAULT_DURATION_DISTRIBUTION,
    DURATION_TABLES,
    PROCESS_TABLES,
    ScenarioFile,
    UnknownDuration,
    UnknownProcessArrivals,
)

__all__ = ["scenario_json_schema", "scenario_json_schema_text"]

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
"""Draft 7: the newest draft every editor's validator (Taplo's included) handles in full."""

_TAGGED_UNIONS: tuple[tuple[dict[str, Any], str, str, type], ...] = (
    (PROCESS_TABLES, "process", "poisson", UnknownProcessArrivals),
    (DURATION_TABLES, "distribution", DEFAULT_DURATION_DISTRIBUTION, UnknownDuration),
)
"""The tables told apart by a key (its value, the model of each, the default value, the model of an unknown one)."""


_NULL = {"type": "null"}


def _without_nulls(node: Any) -> Any:
    """TOML has no null: a field whose default is "not given" (None) has no default an editor could insert, and
    an optional table (``[nodes.NAME.failures]``) is the table or absent."""
    if isinstance(node, dict):
        node = {key: _without_nulls(value) for key, value in node.items() if not (key == "default" and value is None)}
        options = node.get("anyOf")
        if options is not None and _NULL in options:
            rest = [option for option in options if option != _NULL]
            node = {key: value for key, value in node.items() if key != "anyOf"}
            node.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        return node
    if isinstance(node, list):
        return [_without_nulls(item) for item in node]
    return node


def _without_refs(node: Any, removed: set[str]) -> Any:
    """The schema without the alternatives that refer to `removed` definitions."""
    if isinstance(node, dict):
        return {key: _without_refs(value, removed) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_refs(item, removed) for item in node
                if not (isinstance(item, dict) and item.get("$ref") in removed)]
    return node


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) of a scenario file, generated from `ScenarioFile`.

    An arrival table is one of the processes' tables, told apart by ``process`` (a constant in each, required
    except for the default, poisson), and a duration table one of the families' tables, told apart by
    ``distribution`` (default exponential), so an editor offers exactly the fields of the process or family
    written.
    """
    schema = _without_nulls(ScenarioFile.model_json_schema(mode="validation"))
    definitions = schema["$defs"]
    removed = set()
    for tables, key, default, unknown in _TAGGED_UNIONS:
        for tag, table in tables.items():
            definition = definitions[table.__name__]
            definition["properties"][key] = {"const": tag, "title": key.title()}
            if tag != default:
                definition["required"] = [key, *definition.get("required", [])]
        definitions.pop(unknown.__name__, None)
        removed.add(f"#/$defs/{unknown.__name__}")
    return {"$schema": SCHEMA_DIALECT, **_without_refs(schema, removed), "title": "allocsim scenario file"}


def scenario_json_schema_text() -> str:
    """`scenario_json_schema` as indented JSON text."""
    return json.dumps(scenario_json_schema(), indent=2) + "\n"
