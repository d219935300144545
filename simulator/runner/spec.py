"""Experiment files: the schema, loading TOML, and validation into a frozen `ExperimentSpec`.

An experiment names a base scenario, factors (dotted scenario paths, or free names used by derived
parameters and filters) with their levels, the policies to compare (with parameters or parameter grids), the
number of replications and a root seed. Example (``experiments/load_sweep.toml``)::

    [experiment]
    name = "load_sweep"                                 # default: the file name
    scenario = "../scenarios/demo_edge_cloud.toml"      # relative to this file
    replications = 5
    seed = 2024
    filters = ["load < 0.9 or policy != 'random'"]      # optional: combinations to keep

    [set]                                               # fixed overrides of the base scenario
    "simulation.max_jobs" = 2000

    [factors]                                           # the grid: every combination of levels
    "nodes.edge.slots" = [2, 4]
    load = [0.2, 0.5, 0.8]                              # no dot: a free factor, for [derived] and filters

    [derived]                                           # computed per combination, after the factors
    "arrivals.clips.rate_per_s" = "load * capacity_per_s / streams('clips')"

    [[policies]]
    name = "least_loaded"
    params = { tie_break = "random" }                   # also: label, mode, batch_interval_s, variant
    grid = { }                                          # parameter -> list of values, one variant each

    [quick]                                             # what --quick changes: fewer replications and jobs
    replications = 2
    max_jobs = 200
    set = { "simulation.warmup_s" = 5.0 }

Everything is checked here, before any run: unknown keys, empty factor lists, factor paths that are not
fields of the scenario, unknown policies or parameters, expressions that use unknown names, NaN or infinite
numbers, and sizes beyond the documented limits (`MAX_NAME_LENGTH`, `MAX_REPLICATIONS`, `MAX_LEVELS`,
`MAX_POLICY_VARIANTS`, `MAX_RUNS`), so a typo such as ``replications = 1000000000`` is refused at once
instead of exhausting memory. Every problem names the file and the field.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simulator.config import Problems, apply_overrides, parse_scenario, read_toml
from simulator.config.schema import ScenarioFile
from simulator.config.specs import VARIANT_RULES
from simulator.errors import ScenarioError, UnknownPolicyError, UserInputError
from simulator.policies import absolute_path_params, check_policy_params, policy_class
from simulator.runner.errors import ExperimentError
from simulator.runner.expressions import Expression, ExpressionError, compile_expression

__all__ = [
    "MAX_LEVELS",
    "MAX_NAME_LENGTH",
    "MAX_POLICY_VARIANTS",
    "MAX_REPLICATIONS",
    "MAX_RUNS",
    "RESERVED_NAMES",
    "SCENARIO_SECTIONS",
    "SPECIAL_FUNCTIONS",
    "ExperimentSpec",
    "Factor",
    "PolicyEntry",
    "QuickSpec",
    "load_experiment",
    "parse_experiment",
]

SCENARIO_SECTIONS = tuple(ScenarioFile.model_fields)
"""Top-level tables of a scenario file: the first part of every factor path."""
FIXED_SECTIONS = ("scenario", "simulation", "network")
"""Sections whose fields are fixed by the schema: a path may create them when the base scenario lacks them."""
SPECIAL_FUNCTIONS = frozenset({"get", "streams"})
"""Functions of the experiment expression language besides arithmetic (see `simulator.runner.expressions`)."""
RESERVED_NAMES = frozenset({"capacity_per_s", "policy", "policy_name", "replication", "seed"})
"""Names expressions may use that no free factor may take."""

MAX_NAME_LENGTH = 100
"""Longest experiment name (it names the result directory ``results/NAME``)."""
MAX_REPLICATIONS = 10_000
"""Most replications an experiment (or ``--replications``) may ask for."""
MAX_LEVELS = 1_000
"""Most levels one factor may have."""
MAX_POLICY_VARIANTS = 1_000
"""Most policies after expanding every ``[[policies]]`` parameter grid."""
MAX_RUNS = 1_000_000
"""Most runs of a sweep: factor combinations x policies x replications (before filters)."""

_NAME_PATTERN = re.compile(r"\w[\w.+=,-]*")
"""Letters, digits, ``_ . - + = ,`` (no spaces, no slashes), not starting with a dot or a dash."""

_TOP_KEYS = ["experiment", "set", "factors", "derived", "policies", "quick"]
_EXPERIMENT_KEYS = ["name", "description", "scenario", "replications", "seed", "filters"]
_POLICY_KEYS = ["name", "label", "params", "grid", "mode", "batch_interval_s", "variant"]
_QUICK_KEYS = ["replications", "max_jobs", "set"]


@dataclass(frozen=True)
class Factor:
    """One factor of the grid: a dotted scenario path (``arrivals.clips.rate_per_s``) or a free name, and
    its levels in the order the file gives them."""

    name: str
    levels: tuple[Any, ...]

    @property
    def is_path(self) -> bool:
        """Whether the factor sets a scenario field (a dotted path) rather than naming a free variable."""
        return "." in self.name


@dataclass(frozen=True)
class PolicyEntry:
    """A policy as the experiment runs it: registry name, parameters, and the label results carry."""

    label: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    mode: str | None = None
    batch_interval_s: float | None = None
    variant: str | None = None
    """The rule that chooses model variants (``[policy] variant``, `simulator.variants`); None: the scenario's."""


@dataclass(frozen=True)
class QuickSpec:
    """What ``--quick`` changes for smoke runs: at most `replications`, at most `max_jobs` jobs per run,
    and extra overrides (``set``)."""

    replications: int = 2
    max_jobs: int = 200
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment.

    Attributes:
        name: Experiment name; results go to ``results/NAME/`` by default.
        source: The experiment file (for messages).
        scenario_path: The base scenario file.
        base_config: The base scenario's raw configuration with the ``[set]`` overrides applied.
        factors: The grid's factors, in file order.
        derived: Dotted scenario paths set from expressions, in file order.
        filters: Expressions; a (combination, policy) is run only if all are true.
        policies: The policies to compare (parameter grids expanded).
        replications: Replications of every (combination, policy).
        seed: Root seed; replication r uses a seed derived from (seed, r) only.
        quick: What ``--quick`` changes.
        is_quick: Whether `with_quick` was applied.
    """

    name: str
    source: str
    description: str
    scenario_path: Path
    base_config: Mapping[str, Any]
    factors: tuple[Factor, ...]
    derived: tuple[tuple[str, Expression], ...]
    filters: tuple[Expression, ...]
    policies: tuple[PolicyEntry, ...]
    replications: int
    seed: int
    quick: QuickSpec = field(default_factory=QuickSpec)
    is_quick: bool = False

    @property
    def free_factors(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors if not f.is_path)

    @property
    def n_combinations(self) -> int:
        """Combinations of factor levels in the full grid (before filters)."""
        return math.prod(len(f.levels) for f in self.factors)

    def with_replications(self, replications: int) -> ExperimentSpec:
        """The same experiment with another number of replications (``--replications``)."""
        if (isinstance(replications, bool) or not isinstance(replications, int)
                or not 1 <= replications <= MAX_REPLICATIONS):
            raise ExperimentError([f"--replications must be a positive integer, got {replications!r} (the limit "
                                   f"is {MAX_REPLICATIONS})"])
        runs = self.n_combinations * len(self.policies) * replications
        if runs > MAX_RUNS:
            raise ExperimentError([f"--replications {replications}: {self.source} would have {runs} runs "
                                   f"({self.n_combinations} factor combinations x {len(self.policies)} policies x "
                                   f"{replications} replications); the limit is {MAX_RUNS}"])
        return replace(self, replications=replications)

    def with_quick(self) -> ExperimentSpec:
        """The reduced version for smoke runs: fewer replications, at most ``quick.max_jobs`` jobs per run."""
        if self.is_quick:
            return self
        config = apply_overrides(self.base_config, self.quick.overrides, source=self.source)
        simulation = config.setdefault("simulation", {})
        current = simulation.get("max_jobs")
        simulation["max_jobs"] = self.quick.max_jobs if current is None else min(current, self.quick.max_jobs)
        return replace(self, base_config=config, replications=min(self.replications, self.quick.replications),
                       is_quick=True)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{a: {b: 1}}`` -> ``{"a.b": 1}``: TOML bare dotted keys become nested tables; a quoted key with dots
    ("a.b") stays whole and its value (even a table) is taken as it is."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and "." not in key and (prefix or key in SCENARIO_SECTIONS):
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


def _non_finite(value: Any) -> str | None:
    """The first NaN or infinite float in ``value`` (nested lists and tables included), as text; else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            found = _non_finite(item)
            if found is not None:
                return found
    return None


def _name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be an experiment name (it becomes the directory ``results/NAME``), or None."""
    if not isinstance(name, str) or not name:
        return f"must be a non-empty string, got {name!r}"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long; the limit is {MAX_NAME_LENGTH} (it names a directory)"
    if not _NAME_PATTERN.fullmatch(name):
        return (f"must be a plain name usable as a directory: letters, digits and _ . - + = , (no spaces or "
                f"slashes, not starting with . or -), got {name!r}")
    return None


def _check_path(problems: Problems, where: str, path: str, base: Mapping[str, Any], scenario_file: str) -> bool:
    """Whether ``path`` can name a field of the base scenario: a known section and existing tables on the way.

    The last part is checked by the scenario's own validation (`_check_leaf`)."""
    parts = path.split(".")
    if any(not part for part in parts):
        problems.add(where, f"{path!r} is not a dotted path (empty part)")
        return False
    if parts[0] not in SCENARIO_SECTIONS:
        problems.add(where, f"unknown factor path {path!r}: a scenario has no section {parts[0]!r}; sections: "
                     f"{', '.join(SCENARIO_SECTIONS)}")
        return False
    if parts[0] == "policy":
        problems.add(where, f"{path!r}: policies and their parameters are chosen in [[policies]] "
                     "(name, params, grid, mode), not by a path")
        return False
    table: Any = base
    for depth, part in enumerate(parts[:-1]):
        prefix = ".".join(parts[: depth + 1])
        if isinstance(table, Mapping) and part in table:
            table = table[part]
            if not isinstance(table, Mapping):
                problems.add(where, f"unknown factor path {path!r}: {prefix} is a value in {scenario_file}, "
                             "not a table")
                return False
        elif depth == 0 and part in FIXED_SECTIONS:
            table = {}
        else:
            parent = ".".join(parts[:depth]) or "the scenario"
            known = ", ".join(table) if isinstance(table, Mapping) and table else "nothing"
            problems.add(where, f"unknown factor path {path!r}: {scenario_file} has no table {prefix} "
                         f"({parent} has: {known})")
            return False
    return True


def _check_leaf(problems: Problems, where: str, path: str, value: Any, base: Mapping[str, Any],
                scenario_file: str, base_dir: Path) -> None:
    """Report a path whose last part the scenario schema does not know (e.g. a typo in a field name)."""
    try:
        parse_scenario(apply_overrides(base, {path: value}), source=scenario_file, base_dir=base_dir)
    except ScenarioError as error:
        for problem in error.problems:
            if f" {path} is not a known field" in problem:
                allowed = problem.split("allowed here:", 1)[-1].strip()
                problems.add(where, f"unknown factor path {path!r}: no such field in {scenario_file}; "
                             f"allowed there: {allowed}")


def _read_policies(problems: Problems, raw: Any, base: Mapping[str, Any], base_dir: Path) -> list[PolicyEntry]:
    """The policy entries; ``base_dir`` anchors relative plug-in file names (the file that names them)."""
    if raw is None:
        table = base.get("policy", {}) if isinstance(base.get("policy", {}), Mapping) else {}
        raw = [{"name": table.get("name", "least_loaded"), "params": dict(table.get("params", {}))}]
    if not isinstance(raw, list) or not raw:
        problems.add("policies", f"must be a non-empty list of policy names or [[policies]] tables, got {raw!r}")
        return []
    entries: list[PolicyEntry] = []
    for index, item in enumerate(raw):
        where = f"policies[{index}]"
        table = {"name": item} if isinstance(item, str) else item
        if not isinstance(table, dict):
            problems.add(where, f"must be a policy name or a table with name and params, got {item!r}")
            continue
        for key in table:
            if key not in _POLICY_KEYS:
                problems.add(f"{where}.{key}", f"is not a known field; allowed here: {', '.join(_POLICY_KEYS)}")
        name = table.get("name")
        if not isinstance(name, str) or not name:
            problems.add(f"{where}.name", f"must be a policy name, got {name!r}")
            continue
        try:
            cls = policy_class(name, base_dir=base_dir)
        except UnknownPolicyError as error:
            problems.add(f"{where}.name", str(error))
            continue
        name = cls.name  # a user's path/file.py:Class by its absolute path: workers find it from anywhere
        params = table.get("params", {})
        grid = table.get("grid", {})
        if not isinstance(params, dict):
            problems.add(f"{where}.params", f"must be a table of parameters, got {params!r}")
            continue
        if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
            problems.add(f"{where}.grid", f"must be a table of parameter -> non-empty list of values, got {grid!r}")
            continue
        for part, table_value in (("params", params), ("grid", grid)):
            if _non_finite(table_value):
                problems.add(f"{where}.{part}", f"has a NaN or infinite number: {_non_finite(table_value)}")
        variants = math.prod(len(values) for values in grid.values())
        if len(entries) + variants > MAX_POLICY_VARIANTS:
            problems.add(f"{where}.grid", f"makes {len(entries) + variants} policy variants in all; the limit is "
                         f"{MAX_POLICY_VARIANTS}")
            continue
        mode = table.get("mode")
        if mode is not None and mode not in cls.modes:
            problems.add(f"{where}.mode", f"{mode!r} is not supported by policy {name!r}; it supports: "
                         f"{', '.join(cls.modes)}")
        interval = table.get("batch_interval_s")
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int | float)
                                     or not 0 < interval < math.inf):
            problems.add(f"{where}.batch_interval_s", f"must be a finite positive number, got {interval!r}")
        rule = table.get("variant")
        if rule is not None and rule not in VARIANT_RULES:
            problems.add(f"{where}.variant", f"must be one of {', '.join(map(repr, VARIANT_RULES))}, got {rule!r}")
        label = table.get("label", table["name"])
        if not isinstance(label, str) or not label:
            problems.add(f"{where}.label", f"must be a non-empty string, got {label!r}")
            continue
        names = list(grid)
        for values in itertools.product(*grid.values()):
            variant = absolute_path_params(cls, {**params, **dict(zip(names, values, strict=True))}, base_dir)
            for problem in check_policy_params(name, variant):
                problems.add(f"{where}.{'grid' if names else 'params'}", problem)
            suffix = ",".join(f"{k}={v}" for k, v in zip(names, values, strict=True))
            entries.append(PolicyEntry(label=f"{label}({suffix})" if suffix else label, name=name,
                                       params=variant, mode=mode, batch_interval_s=interval, variant=rule))
    labels = [entry.label for entry in entries]
    for label in sorted({label for label in labels if labels.count(label) > 1}):
        problems.add("policies", f"label {label!r} is used twice; give the entries different `label`s")
    return entries


def _read_expressions(problems: Problems, where: str, texts: Iterable[Any], allowed: set[str]
                      ) -> list[Expression]:
    expressions = []
    for index, text in enumerate(texts):
        try:
            expression = compile_expression(text, SPECIAL_FUNCTIONS)
        except ExpressionError as error:
            problems.add(f"{where}[{index}]" if where == "experiment.filters" else where, str(error))
            continue
        unknown = sorted(expression.names - allowed)
        if unknown:
            problems.add(f"{where}[{index}]" if where == "experiment.filters" else where,
                         f"uses unknown name(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(allowed))}"
                         " (and dotted scenario paths such as nodes.server.slots)")
            continue
        expressions.append(expression)
    return expressions


def parse_experiment(raw: Mapping[str, Any], source: str, base_dir: str | Path = ".") -> ExperimentSpec:
    """Validate a raw experiment table (as read from TOML) into an `ExperimentSpec`.

    Args:
        raw: The experiment file's content.
        source: The file name, used in messages.
        base_dir: The directory relative paths (the scenario) are read from.

    Raises:
        ExperimentError: Listing every problem found, each naming the file and the field.
    """
    problems = Problems(source)
    base_dir = Path(base_dir)
    for key in raw:
        if key not in _TOP_KEYS:
            problems.add(key, f"is not a known section; allowed: {', '.join(_TOP_KEYS)}")
    meta = raw.get("experiment", {})
    if not isinstance(meta, dict):
        problems.add("experiment", "must be a table")
        meta = {}
    for key in meta:
        if key not in _EXPERIMENT_KEYS:
            problems.add(f"experiment.{key}", f"is not a known field; allowed here: {', '.join(_EXPERIMENT_KEYS)}")
    name = meta.get("name", Path(source).stem)
    name_problem = _name_problem(name)
    if name_problem:
        origin = "" if "name" in meta else " (taken from the file name; set experiment.name)"
        problems.add("experiment.name", f"{name_problem}{origin}")
    description = str(meta.get("description", ""))
    replications = meta.get("replications", 3)
    if (isinstance(replications, bool) or not isinstance(replications, int)
            or not 1 <= replications <= MAX_REPLICATIONS):
        problems.add("experiment.replications", f"must be a positive integer, got {replications!r} (the limit is "
                     f"{MAX_REPLICATIONS})")
        replications = 1
    seed = meta.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.add("experiment.seed", f"must be an integer >= 0, got {seed!r}")
    scenario_name = meta.get("scenario")
    if not isinstance(scenario_name, str) or not scenario_name:
        problems.add("experiment.scenario", "is required: the base scenario file, relative to the experiment file")
        raise problems.exception(ExperimentError)
    if "\x00" in scenario_name:
        problems.add("experiment.scenario", f"is not a file name (it contains a NUL character): {scenario_name!r}")
        raise problems.exception(ExperimentError)
    try:
        scenario_path = (base_dir / scenario_name).resolve()
    except (OSError, RuntimeError) as error:  # Python < 3.13 raises RuntimeError for a symbolic link loop
        problems.add("experiment.scenario", f"cannot read {base_dir / scenario_name}: {error}")
        raise problems.exception(ExperimentError) from None
    try:
        base = read_toml(scenario_path, "scenario file")
    except UserInputError as error:
        for problem in error.problems:
            detail = problem.removeprefix(f"{scenario_path}: ")
            problems.add("experiment.scenario", f"{detail} ({scenario_path})")
        raise problems.exception(ExperimentError) from None
    scenario_file = str(scenario_name)
    scenario_dir = scenario_path.parent

    sections: dict[str, dict[str, Any]] = {}
    for section in ("set", "factors", "derived"):
        value = raw.get(section, {})
        if not isinstance(value, dict):
            problems.add(section, f"must be a table of dotted.path = value, got {value!r}")
            value = {}
        sections[section] = _flatten(value)

    fixed = sections["set"]
    for path, value in fixed.items():
        if _non_finite(value):
            problems.add(f'set."{path}"', f"must be a finite number, got {_non_finite(value)}")
    for path in fixed:
        _check_path(problems, f'set."{path}"', path, base, scenario_file)
    problems.raise_if_any(ExperimentError)
    try:
        base_config = apply_overrides(base, fixed, source=source)
    except ScenarioError as error:
        problems.items.extend(error.problems)
        problems.raise_if_any(ExperimentError)
    try:
        parse_scenario(base_config, source=scenario_file, base_dir=scenario_dir)
    except ScenarioError as error:
        for problem in error.problems:
            problems.add("experiment.scenario", f"the base scenario (with [set]) is not valid: {problem}")
        problems.raise_if_any(ExperimentError)

    factors: list[Factor] = []
    for path, levels in sections["factors"].items():
        where = f'factors."{path}"'
        if not isinstance(levels, list) or not levels:
            problems.add(where, f"must be a non-empty list of levels, got {levels!r}")
            continue
        if len(levels) > MAX_LEVELS:
            problems.add(where, f"has {len(levels)} levels; the limit is {MAX_LEVELS}")
            continue
        if _non_finite(levels):
            problems.add(where, f"has a level that is NaN or infinite: {_non_finite(levels)}; levels must be "
                         "finite numbers (or strings, booleans, tables)")
            continue
        if any(levels.count(level) > 1 for level in levels):
            problems.add(where, f"repeats a level: {levels!r}")
            continue
        if "." not in path:
            if not path.isidentifier() or path in RESERVED_NAMES or path in SPECIAL_FUNCTIONS:
                problems.add(where, "a free factor (a name without dots) must be an identifier other than "
                             f"{', '.join(sorted(RESERVED_NAMES | SPECIAL_FUNCTIONS))}")
                continue
        elif path in fixed:
            problems.add(where, "is also set in [set]; keep it in one place")
            continue
        elif _check_path(problems, where, path, base_config, scenario_file):
            _check_leaf(problems, where, path, levels[0], base_config, scenario_file, scenario_dir)
        factors.append(Factor(path, tuple(levels)))

    free = {f.name for f in factors if not f.is_path}
    derived: list[tuple[str, Expression]] = []
    for path, text in sections["derived"].items():
        where = f'derived."{path}"'
        if "." not in path:
            problems.add(where, "must be a dotted scenario path, e.g. \"arrivals.users.rate_per_s\"")
            continue
        if path in fixed or any(f.name == path for f in factors):
            problems.add(where, "is also a factor or set in [set]; keep it in one place")
            continue
        if not _check_path(problems, where, path, base_config, scenario_file):
            continue
        expressions = _read_expressions(problems, where, [text], free | {"capacity_per_s"})
        if expressions:
            derived.append((path, expressions[0]))

    filter_texts = meta.get("filters", [])
    if not isinstance(filter_texts, list):
        problems.add("experiment.filters", f"must be a list of expressions, got {filter_texts!r}")
        filter_texts = []
    filters = _read_expressions(problems, "experiment.filters", filter_texts,
                                free | {"capacity_per_s", "policy", "policy_name"})

    policies = _read_policies(problems, raw.get("policies"), base_config,
                              base_dir if "policies" in raw else scenario_dir)

    quick_table = raw.get("quick", {})
    quick = QuickSpec()
    if not isinstance(quick_table, dict):
        problems.add("quick", "must be a table")
    else:
        for key in quick_table:
            if key not in _QUICK_KEYS:
                problems.add(f"quick.{key}", f"is not a known field; allowed here: {', '.join(_QUICK_KEYS)}")
        quick_reps = quick_table.get("replications", 2)
        quick_jobs = quick_table.get("max_jobs", 200)
        quick_set = quick_table.get("set", {})
        for key, value in (("replications", quick_reps), ("max_jobs", quick_jobs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.add(f"quick.{key}", f"must be a positive integer, got {value!r}")
        if isinstance(quick_reps, int) and quick_reps > MAX_REPLICATIONS:
            problems.add("quick.replications", f"must be at most {MAX_REPLICATIONS}, got {quick_reps!r}")
        if not isinstance(quick_set, dict):
            problems.add("quick.set", f"must be a table of dotted.path = value, got {quick_set!r}")
            quick_set = {}
        quick_set = _flatten(quick_set)
        for path, value in quick_set.items():
            if _non_finite(value):
                problems.add(f'quick.set."{path}"', f"must be a finite number, got {_non_finite(value)}")
        for path in quick_set:
            _check_path(problems, f'quick.set."{path}"', path, base_config, scenario_file)
        quick = QuickSpec(quick_reps, quick_jobs, quick_set)

    n_combinations = math.prod(len(f.levels) for f in factors)
    n_runs = n_combinations * max(len(policies), 1) * replications
    if n_runs > MAX_RUNS:
        problems.add("factors", f"the grid has {n_runs} runs ({n_combinations} factor combinations x "
                     f"{len(policies)} policies x {replications} replications); the limit is {MAX_RUNS}: "
                     "use fewer levels, policies or replications, or split the experiment")
    problems.raise_if_any(ExperimentError)
    return ExperimentSpec(
        name=str(name), source=source, description=description, scenario_path=scenario_path,
        base_config=copy.deepcopy(base_config), factors=tuple(factors), derived=tuple(derived),
        filters=tuple(filters), policies=tuple(policies), replications=int(replications), seed=int(seed),
        quick=quick,
    )


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file (see the module docstring for its format).

    Raises:
        ExperimentError: Listing every problem, each naming the file and the field.
        UserInputError: The file cannot be read (missing, a directory, not UTF-8, a symbolic link loop...) or
            is not valid TOML.
    """
    path = Path(path)
    raw = read_toml(path, "experiment file")
    return parse_experiment(raw, source=str(path), base_dir=path.parent)
