"""The ``map`` sub-command: solve one static mapping instance from an ETC file.

``python -m simulator map ETC_FILE --algorithm NAME [--seed N] [--time-limit S] [--param key=value ...]
[--shape T M] [--json] [--out FILE]``

The main command-line module wires it in with::

    map_parser = subparsers.add_parser("map", help="solve a static mapping instance (ETC matrix)")
    add_map_arguments(map_parser)
    map_parser.set_defaults(handler=run_map)   # then: return args.handler(args)

:func:`run_map` returns the process exit status: 0 on success, 2 for a user error (bad file, unknown
algorithm or parameter, invalid time limit), after printing one line that says what is wrong to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from simulator.mapping import MappingInputError, load_etc
from simulator.plugins import ParameterError
from simulator.solvers import SOLVER_REGISTRY, UnknownSolverError, get_solver, solver_names

__all__ = ["add_map_arguments", "parse_param", "run_map"]

EXIT_USAGE = 2
"""Exit status for user errors, as argparse uses."""


def add_map_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``map`` sub-command's arguments to ``parser``."""
    parser.add_argument("etc_file", metavar="ETC_FILE", help="ETC matrix: Braun format (one value per line) or CSV")
    parser.add_argument(
        "--algorithm",
        required=True,
        metavar="NAME",
        help=f"solver name, one of: {', '.join(solver_names())}; or your own as module:Class or "
        "path/to/file.py:Class",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the solver's random stream (default 0)")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="wall-clock budget in seconds for iterative solvers (GA, PSO, NSGA-II)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="solver parameter, repeatable (for example --param population_size=20)",
    )
    parser.add_argument(
        "--shape",
        nargs=2,
        type=int,
        default=None,
        metavar=("T", "M"),
        help="number of tasks and machines, for one-value-per-line files without header or manifest",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="write the assignment as CSV task,machine"
    )


def parse_param(text: str) -> tuple[str, Any]:
    """Split ``key=value`` and convert the value: int, float, true/false, none, else the string itself.

    Raises:
        ValueError: If there is no ``=`` or the key is empty.
    """
    key, separator, raw = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise ValueError(f"--param expects KEY=VALUE, got {text!r}")
    raw = raw.strip()
    lowered = raw.lower()
    value: Any
    if lowered in ("true", "false"):
        value = lowered == "true"
    elif lowered in ("none", "null"):
        value = None
    else:
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = raw
    return key, value


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_map(args: argparse.Namespace) -> int:
    """Solve the instance named in ``args`` and report; returns the exit status (0, or 2 on user error)."""
    if args.seed < 0:
        return _fail(f"--seed must be a non-negative integer, got {args.seed}")
    if args.time_limit is not None and not (math.isfinite(args.time_limit) and args.time_limit > 0):
        return _fail(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    try:
        params = dict(parse_param(text) for text in args.param)
    except ValueError as error:
        return _fail(str(error))
    try:
        solver = get_solver(args.algorithm, **params)
    except (UnknownSolverError, ParameterError) as error:
        return _fail(str(error))
    n_tasks, n_machines = args.shape if args.shape is not None else (None, None)
    try:
        problem = load_etc(args.etc_file, n_tasks=n_tasks, n_machines=n_machines)
    except MappingInputError as error:
        return _fail(str(error))
    rng = np.random.default_rng(np.random.SeedSequence(args.seed))
    try:
        result = solver.solve(problem, rng, time_limit_s=args.time_limit)
    except ParameterError as error:
        return _fail(str(error))
    except Exception as error:
        failure = SOLVER_REGISTRY.failure(error)
        if failure is None:
            raise
        return _fail(str(failure))

    if args.out is not None:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("w", newline="", encoding="utf-8") as stream:
                writer = csv.writer(stream)
                writer.writerow(["task", "machine"])
                writer.writerows(enumerate(result.assignment.tolist()))
        except OSError as error:
            return _fail(f"{args.out}: cannot write the assignment: {error.strerror}")

    report: dict[str, Any] = {
        "instance": problem.name,
        "n_tasks": problem.n_tasks,
        "n_machines": problem.n_machines,
        "algorithm": solver.name,
        "params": result.params,
        "seed": args.seed,
        "time_limit_s": args.time_limit,
        **result.objectives,
        "wall_s": result.wall_s,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"instance          {problem.name} ({problem.n_tasks} tasks x {problem.n_machines} machines)")
        print(f"algorithm         {solver.name} (seed {args.seed})")
        print(f"makespan_s        {result.objectives['makespan_s']:.6f}")
        print(f"flowtime_s        {result.objectives['flowtime_s']:.6f}")
        print(f"load_variance_s2  {result.objectives['load_variance_s2']:.6f}")
        if "energy_j" in result.objectives:
            print(f"energy_j          {result.objectives['energy_j']:.6f}")
        print(f"wall_s            {result.wall_s:.3f}")
        if args.out is not None:
            print(f"assignment        {args.out}")
    return 0
