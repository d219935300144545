"""A seeded mutator of TOML input files and a runner of CLI commands in forked processes with a timeout.

The mutations are the mistakes users make and the values that break arithmetic: deleted and renamed keys,
wrong types, extreme numbers (0, negatives, 5e-324, 1e308, inf, nan, huge integers), unknown names,
links joining a vertex to itself, duplicated names, cyclic stages and files that are not UTF-8.
"""

from __future__ import annotations

import copy
import io
import math
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

EXTREME_VALUES: tuple[Any, ...] = (
    0, -1, 1, 0.0, -0.5, 5e-324, 1e-300, 1e308, -1e308, math.inf, -math.inf, math.nan, 10**9, 2**63, 10**30,
    "", "x", "nan", True, [], {}, [1, "a"], [0.0], [1e308, 5e-324],
)
UNKNOWN_NAME = "nowhere-at-all"
PLUGIN_NAMES = ("no_such_module:Policy", "missing_file.py:Policy", "json:JSONDecoder", "os:no_such_class",
                "simulator.policies.greedy:LeastLoaded", "../..:x", ":", "a.py:")
"""Plug-in-shaped names (module:Class, path/file.py:Class): missing, not a policy, malformed, or valid."""


@dataclass
class Mutant:
    """One mutated input: its bytes and a one-line description of the mutation (for failure reports)."""

    data: bytes
    description: str


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside nested dicts and lists (tables, arrays and leaves)."""
    paths = []
    if isinstance(value, dict):
        for key, item in value.items():
            paths.append((*prefix, key))
            paths.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.append((*prefix, index))
            paths.extend(_paths(item, (*prefix, index)))
    return paths


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


def _strings(document: Any) -> list[str]:
    found: list[str] = []
    if isinstance(document, dict):
        for key, item in document.items():
            found.append(str(key))
            found.extend(_strings(item))
    elif isinstance(document, list):
        for item in document:
            found.extend(_strings(item))
    elif isinstance(document, str):
        found.append(document)
    return found


def _name_of(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


def mutate(document: dict[str, Any], rng: random.Random) -> Mutant:
    """One random mutation of a parsed TOML document (it is not modified), serialized back to TOML bytes."""
    mutated = copy.deepcopy(document)
    paths = _paths(mutated)
    operation = rng.choice(["delete", "rename", "extreme", "extreme", "extreme", "retype", "unknown_name",
                            "swap_name", "self_link", "cycle", "encoding", "unknown_key"])
    path = rng.choice(paths)
    parent = _parent(mutated, path)
    key = path[-1]
    description = f"{operation} {_name_of(path)}"
    if operation == "delete":
        del parent[key]
    elif operation == "rename" and isinstance(parent, dict):
        parent[f"{key}x"] = parent.pop(key)
    elif operation == "extreme":
        numbers = [p for p in paths if isinstance(_parent(mutated, p)[p[-1]], int | float | list)]
        if numbers and rng.random() < 0.8:
            path = rng.choice(numbers)
            parent, key = _parent(mutated, path), path[-1]
        value = rng.choice(EXTREME_VALUES)
        parent[key] = value
        description = f"extreme {_name_of(path)} = {value!r}"
    elif operation == "retype":
        value = parent[key]
        parent[key] = {"table": 1} if not isinstance(value, dict) else rng.choice(["text", 3, [1, 2]])
        description += f" = {parent[key]!r}"
    elif operation == "unknown_name":
        string_paths = [p for p in paths if isinstance(_parent(mutated, p)[p[-1]], str)]
        if string_paths:
            path = rng.choice(string_paths)
            name = rng.choice([UNKNOWN_NAME, UNKNOWN_NAME, *PLUGIN_NAMES])
            _parent(mutated, path)[path[-1]] = name
            description = f"unknown_name {_name_of(path)} = {name!r}"
    elif operation == "swap_name":
        string_paths = [p for p in paths if isinstance(_parent(mutated, p)[p[-1]], str)]
        names = sorted(set(_strings(mutated)))
        if string_paths and names:
            path = rng.choice(string_paths)
            value = rng.choice(names)
            _parent(mutated, path)[path[-1]] = value
            description = f"swap_name {_name_of(path)} = {value!r}"
    elif operation == "self_link":
        links = mutated.get("network", {}).get("links", {})
        if isinstance(links, dict) and links:
            name = rng.choice(sorted(links))
            if isinstance(links[name], dict) and links[name].get("endpoints"):
                first = links[name]["endpoints"][0]
                links[name]["endpoints"] = [first, first]
                description = f"self_link network.links.{name}"
        switches = mutated.get("network", {}).get("switches")
        if isinstance(switches, list) and switches and rng.random() < 0.5:
            mutated["network"]["switches"] = [*switches, rng.choice([*switches, *mutated.get("nodes", {})])]
            description = "duplicate network.switches"
    elif operation == "cycle":
        applications = mutated.get("applications", {})
        if isinstance(applications, dict) and applications:
            name = rng.choice(sorted(applications))
            stages = applications[name].get("stages", {}) if isinstance(applications[name], dict) else {}
            if isinstance(stages, dict) and stages:
                first, last = next(iter(stages)), list(stages)[-1]
                if isinstance(stages[first], dict):
                    stages[first]["after"] = [last]
                    description = f"cycle applications.{name}.stages.{first}.after = [{last!r}]"
    elif operation == "unknown_key":
        tables = [p for p in paths if isinstance(_parent(mutated, p)[p[-1]], dict)]
        table_path = rng.choice(tables) if tables else ()
        target = _parent(mutated, table_path)[table_path[-1]] if table_path else mutated
        target["unexpected_field"] = 1
        description = f"unknown_key in {_name_of(table_path) or 'the top level'}"
    data = tomli_w.dumps(mutated).encode("utf-8")
    if operation == "encoding":
        position = rng.randrange(len(data) + 1)
        data = data[:position] + "# caf\u00e9\n".encode("latin-1") + data[position:]
        description = f"encoding: a Latin-1 byte at offset {position}"
    return Mutant(data, description)


TRACE_MUTATIONS = ("time", "time", "application", "decreasing", "encoding", "header_only", "no_time_column",
                   "empty", "ragged")
BAD_TIMES = ("inf", "-inf", "nan", "1e400", "-1", "1e308", "x", "", "5e-324")


def mutate_trace(text: str, rng: random.Random) -> Mutant:
    """One random mutation of a trace CSV (``time_s`` and ``application`` columns)."""
    header, *rows = text.strip().splitlines()
    operation = rng.choice(TRACE_MUTATIONS)
    index = rng.randrange(len(rows)) if rows else 0
    description = f"trace {operation}"
    if operation == "time" and rows:
        value = rng.choice(BAD_TIMES)
        rows[index] = f"{value},{rows[index].split(',', 1)[1]}"
        description += f" line {index + 2} = {value!r}"
    elif operation == "application" and rows:
        rows[index] = f"{rows[index].split(',', 1)[0]},{UNKNOWN_NAME}"
    elif operation == "decreasing" and len(rows) > 1:
        rows[index], rows[-1] = rows[-1], rows[index]
    elif operation == "header_only":
        rows = []
    elif operation == "no_time_column":
        header = header.replace("time_s", "time")
    elif operation == "empty":
        return Mutant(b"", description)
    elif operation == "ragged" and rows:
        rows[index] += ",extra,columns"
    data = "\n".join([header, *rows]).encode("utf-8") + b"\n"
    if operation == "encoding":
        position = rng.randrange(len(data) + 1)
        data = data[:position] + "\u00e9".encode("latin-1") + data[position:]
    return Mutant(data, description)


@dataclass
class Outcome:
    """How one CLI command ended in its forked process."""

    exit_status: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float


def run_cli(argv: Sequence[str], timeout_s: float, cwd: Path | None = None,
            main: Callable[[Sequence[str]], int] | None = None) -> Outcome:
    """Run ``simulator.cli.main(argv)`` in a forked child (so a hang can be killed), capturing its output.

    An exception escaping `main` is printed as Python would (a traceback) with exit status 1.
    """
    if main is None:
        from simulator.cli import main
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            status = 1
            try:
                os.setpgid(0, 0)
                if cwd is not None:
                    os.chdir(cwd)
                sys.stdout = io.TextIOWrapper(os.fdopen(os.dup(out.fileno()), "wb"), encoding="utf-8")
                sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(err.fileno()), "wb"), encoding="utf-8")
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                try:
                    status = main(list(argv))
                except SystemExit as exit_:
                    status = exit_.code if isinstance(exit_.code, int) else 1
                except BaseException:
                    traceback.print_exc()
                    status = 1
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(status)
        deadline = started + timeout_s
        timed_out = False
        while True:
            finished, wait_status = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                wait_status = 0
                break
            time.sleep(0.005)
        out.seek(0)
        err.seek(0)
        exit_status = None if timed_out else os.waitstatus_to_exitcode(wait_status)
        return Outcome(exit_status, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                       timed_out, time.perf_counter() - started)
