"""Reading configuration files and changing them by dotted path, for scenarios and experiments alike.

A configuration is the raw content of a TOML file (tables of values). Overrides (``--set``, an experiment's
``[set]``, factors and derived values) name a field by its dotted path, ``nodes.server.slots``; the same paths
are looked up by experiment expressions (``get('nodes.server.slots')``).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simulator.errors import ScenarioError, UserInputError
from simulator.user_files import read_user_toml

__all__ = [
    "BUNDLED_SCENARIOS",
    "apply_overrides",
    "bundled_scenario_names",
    "find_scenario",
    "lookup",
    "parse_override",
    "read_toml",
]

BUNDLED_SCENARIOS = Path(__file__).parent.parent / "scenarios"
"""The demo and validation scenarios shipped with the package (a link to the checkout's scenarios/)."""


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file's content. Every reason it cannot be read (no such file, a directory, not UTF-8, not TOML,
    a name too long...) becomes a `UserInputError` naming the file."""
    try:
        return read_user_toml(path, what)
    except OSError as error:  # Python 3.11's Path.is_dir raises for a name that is too long
        raise UserInputError([f"{path}: cannot read {what}: {error.strerror or error}"]) from None


def bundled_scenario_names() -> list[str]:
    """Names by which the shipped scenarios can be run from anywhere, e.g. ``demo_edge_cloud``, ``validation/mm1``."""
    if not BUNDLED_SCENARIOS.is_dir():
        return []
    return sorted(str(p.relative_to(BUNDLED_SCENARIOS).with_suffix("")) for p in BUNDLED_SCENARIOS.rglob("*.toml")
                  if "data" not in p.relative_to(BUNDLED_SCENARIOS).parts)


def find_scenario(path: str | Path) -> Path:
    """The scenario file `path` names: the file itself when it exists, else a shipped scenario by name
    (``demo_edge_cloud``, ``validation/mm1``, or ``scenarios/demo_edge_cloud.toml`` as the README writes it),
    so that an installed package runs its demo from any directory."""
    path = Path(path)
    try:
        path.lstat()
        return path  # a broken link or a loop is reported when the file is read
    except FileNotFoundError:
        pass
    except (OSError, ValueError):  # a name too long, a NUL in it: also reported when read
        return path
    name = path.with_suffix("") if path.suffix == ".toml" else path
    parts = name.parts[1:] if name.parts[:1] == ("scenarios",) else name.parts
    if parts and f"{Path(*parts)}" in bundled_scenario_names():
        return BUNDLED_SCENARIOS / Path(*parts).with_suffix(".toml")
    raise ScenarioError([f"{path}: no such scenario file (shipped scenarios, usable by name: "
                         f"{', '.join(bundled_scenario_names()) or 'none'})"])


def parse_override(text: str, source: str = "--set") -> tuple[str, Any]:
    """Split `"a.b.c=value"`; the value is read as a TOML value (number, bool, string, array, inline table)
    and falls back to a plain string."""
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError([f"{source}: override {text!r} must look like dotted.key=value"])
    try:
        value = tomllib.loads(f"value = {value_text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return key, value


def apply_overrides(
    raw: Mapping[str, Any], overrides: Iterable[str] | Mapping[str, Any], source: str = "scenario"
) -> dict[str, Any]:
    """Return a copy of `raw` with dotted-path overrides set (tables are created as needed).

    Args:
        raw: A configuration.
        overrides: `"dotted.key=value"` strings (value parsed as TOML, else a string) or a mapping of dotted
            keys to values.
        source: The file the overrides apply to, named in messages.

    Raises:
        ScenarioError: A path runs through a value that is not a table, or a string is not ``key=value``.
    """
    result = copy.deepcopy(dict(raw))
    pairs = overrides.items() if isinstance(overrides, Mapping) else (parse_override(o) for o in overrides)
    for dotted_key, value in pairs:
        parts = dotted_key.split(".")
        table: Any = result
        for depth, part in enumerate(parts[:-1]):
            next_table = table.setdefault(part, {})
            if not isinstance(next_table, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ScenarioError([f"{source}: cannot override {dotted_key!r}: {prefix} is not a table"])
            table = next_table
        table[parts[-1]] = value
    return result


def lookup(config: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a configuration; KeyError naming the missing part and what is there."""
    value: Any = config
    walked: list[str] = []
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            where = ".".join(walked) or "the scenario"
            known = ", ".join(map(str, value)) if isinstance(value, Mapping) else "(not a table)"
            raise KeyError(f"{where} has no field {part!r} (it has: {known or 'nothing'})")
        value = value[part]
        walked.append(part)
    return value
