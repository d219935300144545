"""The ``map`` sub-command: solve one static mapping instance from an ETC file.

``python -m simulator map ETC_FILE --algorithm NAME [--seed N] [--time-limit S] [--param key=value ...]
[--shape T M] [--json] [--out FILE] [--pareto FILE]``

With ``--pareto`` a multi-objective solver (``nsga2``, ``mopso``) writes its whole non-dominated front as
CSV and the command prints the front's hypervolume under the reference point rule of
:mod:`simulator.solvers.front` (objectives normalised by the front's own ideal and nadir points, reference
1.1 in each), and the reference point in the objectives' units; the reported solution is the one the
solver's ``pick_rule`` chooses from the front.

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

from simulator.mapping import MappingInputError, evaluate, load_etc
from simulator.plugins import ParameterError
from simulator.solvers import SOLVER_REGISTRY, SOLVERS, UnknownSolverError, get_solver, solver_names
from simulator.solvers.front import REFERENCE_MARGIN, ParetoFront, hypervolumes, normalisation_bounds, pick
from simulator.solvers.multiobjective import MultiObjectiveSolver

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
    parser.add_argument(
        "--pareto",
        type=Path,
        default=None,
        metavar="FILE",
        help="multi-objective solvers (nsga2, mopso): write the non-dominated front as CSV and print its "
        f"hypervolume (objectives normalised by the front's ideal and nadir, reference point {REFERENCE_MARGIN} "
        "in each)",
    )


def parse_param(text: str) -> tuple[str, Any]:
    """Split ``key=value`` and convert the value: int, float, true/false, none, a JSON object or list (for
    example ``pick_weights={"makespan": 1, "energy": 3}``), else the string itself.

    Raises:
        ValueError: If there is no ``=``, the key is empty, or a value starting with ``{`` or ``[`` is not JSON.
    """
    key, separator, raw = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise ValueError(f"--param expects KEY=VALUE, got {text!r}")
    raw = raw.strip()
    lowered = raw.lower()
    value: Any
    if raw.startswith(("{", "[")):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"--param {key}: {raw!r} is not valid JSON ({error.msg})") from None
    elif lowered in ("true", "false"):
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
    if args.pareto is not None and not isinstance(solver, MultiObjectiveSolver):
        multi = sorted(name for name, kind in SOLVERS.items() if issubclass(kind, MultiObjectiveSolver))
        return _fail(f"--pareto needs a multi-objective solver ({', '.join(multi)}), got {solver.name}")
    rng = np.random.default_rng(np.random.SeedSequence(args.seed))
    front: ParetoFront | None = None
    try:
        if isinstance(solver, MultiObjectiveSolver) and args.pareto is not None:
            front = solver.solve_front(problem, rng, time_limit_s=args.time_limit)
            chosen = pick(front.objectives, rule=solver.pick_rule, weights=solver.pick_weights)
            assignment = front.assignments[chosen]
            objectives = {key: float(value) for key, value in evaluate(problem, assignment).items()}
            wall_s, params = front.wall_s, solver.get_params()
        else:
            result = solver.solve(problem, rng, time_limit_s=args.time_limit)
            assignment, objectives, wall_s, params = result.assignment, result.objectives, result.wall_s, result.params
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
                writer.writerows(enumerate(assignment.tolist()))
        except OSError as error:
            return _fail(f"{args.out}: cannot write the assignment: {error.strerror}")
    pareto: dict[str, Any] = {}
    if front is not None:
        try:
            args.pareto.parent.mkdir(parents=True, exist_ok=True)
            front.objectives.to_csv(args.pareto, index_label="solution")
        except OSError as error:
            return _fail(f"{args.pareto}: cannot write the front: {error.strerror}")
        pareto = _front_report(front)

    report: dict[str, Any] = {
        "instance": problem.name,
        "n_tasks": problem.n_tasks,
        "n_machines": problem.n_machines,
        "algorithm": solver.name,
        "params": params,
        "seed": args.seed,
        "time_limit_s": args.time_limit,
        **objectives,
        "wall_s": wall_s,
        **pareto,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"instance          {problem.name} ({problem.n_tasks} tasks x {problem.n_machines} machines)")
        print(f"algorithm         {solver.name} (seed {args.seed})")
        print(f"makespan_s        {objectives['makespan_s']:.6f}")
        print(f"flowtime_s        {objectives['flowtime_s']:.6f}")
        print(f"load_variance_s2  {objectives['load_variance_s2']:.6f}")
        if "energy_j" in objectives:
            print(f"energy_j          {objectives['energy_j']:.6f}")
        print(f"wall_s            {wall_s:.3f}")
        if args.out is not None:
            print(f"assignment        {args.out}")
        if front is not None:
            reference = ", ".join(f"{column} {value:.6g}" for column, value in pareto["reference_point"].items())
            print(f"front             {args.pareto} ({len(front.objectives)} solutions)")
            print(f"hypervolume       {pareto['hypervolume']:.6f} (normalised by the front's ideal and nadir, "
                  f"reference point {REFERENCE_MARGIN} each: {reference})")
    return 0


def _front_report(front: ParetoFront) -> dict[str, Any]:
    """The front's rows, its hypervolume and the reference point in the objectives' units, for the report."""
    values = front.objectives.to_numpy()
    ideal, nadir = normalisation_bounds([values])
    columns = list(front.objectives.columns)
    return {
        "hypervolume": hypervolumes([values])[0],
        "reference_point": dict(zip(columns, (ideal + REFERENCE_MARGIN * (nadir - ideal)).tolist(), strict=True)),
        "front": front.objectives.to_dict(orient="records"),
    }
