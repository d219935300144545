"""Static mapping problems: an ETC matrix, machine ready times, and their vectorized objectives.

A static mapping problem assigns each of ``T`` independent tasks to one of ``M`` machines, given the
expected time to compute (ETC) of every task on every machine (Braun et al., JPDC 61(6), 2001). An
*assignment* is an integer array of shape ``(T,)`` holding a machine index per task; a *population* is an
array of shape ``(P, T)`` holding ``P`` assignments, one per row.

Every objective here accepts either shape and is computed with a handful of whole-array numpy operations
(``np.bincount`` on flattened ``individual * M + machine`` offsets, one ``np.lexsort`` for flowtime), never
a Python loop per individual. The list heuristics, the GA, PSO and NSGA-II, the CLI and the tests all call
these same functions, so there is a single definition of every objective in the code base.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MANIFEST_NAME",
    "MappingInputError",
    "MappingProblem",
    "as_assignment",
    "energy_j",
    "evaluate",
    "flowtime",
    "load_etc",
    "load_variance",
    "machine_busy_s",
    "machine_loads",
    "makespan",
]

MANIFEST_NAME = "manifest.toml"
"""Name of the shape manifest that :func:`load_etc` looks for beside a one-value-per-line ETC file."""

_MANIFEST_KEYS = {"n_tasks", "n_machines", "layout"}
_ALLOWED_LAYOUT = "task-major"


class MappingInputError(ValueError):
    """An ETC file, a manifest or a problem definition is malformed.

    The message names the file (and line or field) and says what is allowed, so that a command-line
    front end can print it as one line without a traceback.
    """


def _read_only_float_array(values: ArrayLike, name: str, ndim: int) -> NDArray[np.float64]:
    """Copy ``values`` into a read-only float64 array, checking dimensionality and finiteness."""
    try:
        array = np.array(values, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as error:
        raise MappingInputError(f"{name} must be an array of numbers: {error}") from None
    if array.ndim != ndim:
        raise MappingInputError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise MappingInputError(f"{name} must hold finite numbers only")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class MappingProblem:
    """A static mapping instance: ``T`` independent tasks onto ``M`` heterogeneous machines.

    Arrays are copied and frozen (read-only) at construction, so a problem can be shared by solvers and
    threads without defensive copies, and a solver cannot silently change its input.

    Attributes:
        etc_s: Expected time to compute, shape ``(T, M)``, seconds; ``etc_s[t, m]`` is the run time of
            task ``t`` on machine ``m``. Every entry must be positive and finite.
        ready_time_s: Time at which each machine becomes free of earlier work, shape ``(M,)``, seconds.
            Defaults to zeros (all machines idle at time 0).
        busy_power_w: Electrical power drawn by each machine while it runs a task, shape ``(M,)``,
            watts; ``None`` when no energy model is given.
        idle_power_w: Power drawn by each machine while idle, shape ``(M,)``, watts; given together with
            ``busy_power_w``.
        name: A label for reports (for example the ETC file name).
    """

    etc_s: NDArray[np.float64]
    ready_time_s: NDArray[np.float64] = None  # type: ignore[assignment]  # filled in __post_init__
    busy_power_w: NDArray[np.float64] | None = None
    idle_power_w: NDArray[np.float64] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        etc = _read_only_float_array(self.etc_s, "etc_s", 2)
        if etc.shape[0] < 1 or etc.shape[1] < 1:
            raise MappingInputError(f"etc_s needs at least one task and one machine, got shape {etc.shape}")
        if not np.all(etc > 0):
            raise MappingInputError("etc_s must hold positive numbers only")
        n_machines = etc.shape[1]
        object.__setattr__(self, "etc_s", etc)
        ready = np.zeros(n_machines) if self.ready_time_s is None else self.ready_time_s
        ready = _read_only_float_array(ready, "ready_time_s", 1)
        if ready.shape != (n_machines,):
            raise MappingInputError(f"ready_time_s must have one entry per machine ({n_machines}), got {ready.shape}")
        if np.any(ready < 0):
            raise MappingInputError("ready_time_s must be non-negative")
        object.__setattr__(self, "ready_time_s", ready)
        if (self.busy_power_w is None) != (self.idle_power_w is None):
            raise MappingInputError("busy_power_w and idle_power_w must be given together or not at all")
        for power_name in ("busy_power_w", "idle_power_w"):
            power = getattr(self, power_name)
            if power is None:
                continue
            power = _read_only_float_array(power, power_name, 1)
            if power.shape != (n_machines,):
                raise MappingInputError(
                    f"{power_name} must have one entry per machine ({n_machines}), got {power.shape}"
                )
            if np.any(power < 0):
                raise MappingInputError(f"{power_name} must be non-negative")
            object.__setattr__(self, power_name, power)

    @property
    def n_tasks(self) -> int:
        """Number of tasks ``T`` (rows of the ETC matrix)."""
        return int(self.etc_s.shape[0])

    @property
    def n_machines(self) -> int:
        """Number of machines ``M`` (columns of the ETC matrix)."""
        return int(self.etc_s.shape[1])

    @property
    def has_energy(self) -> bool:
        """Whether busy and idle powers are given, so that :func:`energy_j` is defined."""
        return self.busy_power_w is not None


# ----------------------------------------------------------------------------------------------------------
# Objectives
# ----------------------------------------------------------------------------------------------------------


def as_assignment(problem: MappingProblem, assignment: ArrayLike) -> NDArray[np.intp]:
    """Check an assignment or population against ``problem`` and return it as an integer array.

    Args:
        problem: The mapping problem.
        assignment: Machine index per task, shape ``(T,)``, or a population of shape ``(P, T)``.

    Returns:
        The same values as an ``np.intp`` array (a view when no conversion is needed).

    Raises:
        ValueError: If the shape does not match the problem, a value is not an integer, or a machine
            index is outside ``[0, M)``.
    """
    array = np.asarray(assignment)
    if array.ndim not in (1, 2) or array.shape[-1] != problem.n_tasks:
        raise ValueError(
            f"assignment must have shape ({problem.n_tasks},) or (P, {problem.n_tasks}), got {array.shape}"
        )
    if array.dtype.kind == "b" or (array.dtype.kind not in "iu" and not _all_integral(array)):
        raise ValueError("assignment must hold integer machine indices")
    array = array.astype(np.intp, copy=False)
    if array.size and (array.min() < 0 or array.max() >= problem.n_machines):
        raise ValueError(f"machine indices must lie in [0, {problem.n_machines}), got a value outside")
    return array


def _all_integral(array: NDArray[Any]) -> bool:
    """Whether a non-integer array holds whole numbers only (floats like 3.0 are accepted)."""
    try:
        return bool(np.all(np.equal(np.mod(array, 1), 0)))
    except TypeError:
        return False


def _task_costs(problem: MappingProblem, assignment: NDArray[np.intp]) -> NDArray[np.float64]:
    """ETC of every task on its assigned machine, same shape as ``assignment``."""
    return problem.etc_s[np.arange(problem.n_tasks), assignment]


def _busy(problem: MappingProblem, assignment: NDArray[np.intp]) -> NDArray[np.float64]:
    """Sum of ETC per machine for a checked 1-D or 2-D assignment (one ``np.bincount``)."""
    n_machines = problem.n_machines
    costs = _task_costs(problem, assignment)
    if assignment.ndim == 1:
        return np.bincount(assignment, weights=costs, minlength=n_machines).astype(np.float64, copy=False)
    n_individuals = assignment.shape[0]
    offsets = assignment + n_machines * np.arange(n_individuals)[:, None]
    flat = np.bincount(offsets.ravel(), weights=costs.ravel(), minlength=n_individuals * n_machines)
    return flat.reshape(n_individuals, n_machines).astype(np.float64, copy=False)


def machine_busy_s(problem: MappingProblem, assignment: ArrayLike) -> NDArray[np.float64]:
    """Total run time of the tasks assigned to each machine, excluding its ready time.

    Args:
        problem: The mapping problem.
        assignment: Shape ``(T,)`` or ``(P, T)``.

    Returns:
        Seconds of work per machine, shape ``(M,)`` or ``(P, M)``.
    """
    return _busy(problem, as_assignment(problem, assignment))


def machine_loads(problem: MappingProblem, assignment: ArrayLike) -> NDArray[np.float64]:
    """Completion time of each machine: its ready time plus the ETC of every task assigned to it.

    This is the quantity Braun et al. call the machine availability time after the mapping; makespan is
    its maximum. The order of tasks on a machine does not change it.

    Args:
        problem: The mapping problem.
        assignment: Shape ``(T,)`` or ``(P, T)``.

    Returns:
        Seconds, shape ``(M,)`` or ``(P, M)``.
    """
    return _busy(problem, as_assignment(problem, assignment)) + problem.ready_time_s


def makespan(problem: MappingProblem, assignment: ArrayLike) -> Any:
    """Time at which the last machine finishes: ``max_m machine_loads[m]``.

    As in Braun et al. (2001), this is the largest machine availability time after the mapping, so a
    machine that receives no task still counts with its ready time.

    Args:
        problem: The mapping problem.
        assignment: Shape ``(T,)`` or ``(P, T)``.

    Returns:
        A float for one assignment, an array of shape ``(P,)`` for a population (seconds).
    """
    loads = machine_loads(problem, assignment)
    result = loads.max(axis=-1)
    return float(result) if loads.ndim == 1 else result


def flowtime(problem: MappingProblem, assignment: ArrayLike) -> Any:
    """Sum over tasks of their completion times, each machine running its tasks shortest first.

    The standard definition in the grid-scheduling literature (Xhafa, Carretero and Abraham 2007;
    Nesmachnow, Luna and Alba 2012): a machine starts at its ready time and runs the tasks mapped to it in
    ascending order of ETC, which minimizes the sum of their completion times (SPT rule), so flowtime is a
    function of the assignment alone. Ties in ETC do not change the sum.

    Vectorized over a population with one ``np.lexsort`` by (individual, machine, ETC) and a cumulative
    sum per (individual, machine) group.

    Args:
        problem: The mapping problem.
        assignment: Shape ``(T,)`` or ``(P, T)``.

    Returns:
        A float for one assignment, an array of shape ``(P,)`` for a population (seconds).
    """
    checked = as_assignment(problem, assignment)
    single = checked.ndim == 1
    population = checked[None, :] if single else checked
    n_individuals = population.shape[0]
    n_machines = problem.n_machines
    costs = _task_costs(problem, population).ravel()
    groups = (population + n_machines * np.arange(n_individuals)[:, None]).ravel()
    order = np.lexsort((costs, groups))
    sorted_costs = costs[order]
    sorted_groups = groups[order]
    running = np.cumsum(sorted_costs)
    # Subtract the running total reached before each group starts, so the sum restarts per machine.
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    offsets_before = np.r_[0.0, running[:-1]][starts]
    group_sizes = np.diff(np.r_[starts, sorted_groups.size])
    completion = running - np.repeat(offsets_before, group_sizes)
    completion += problem.ready_time_s[sorted_groups % n_machines]
    result = np.bincount(sorted_groups // n_machines, weights=completion, minlength=n_individuals)
    return float(result[0]) if single else result


def load_variance(problem: MappingProblem, assignment: ArrayLike) -> Any:
    """Population variance (``ddof=0``) of the machine completion times (:func:`machine_loads`).

    A measure of load balance: zero when every machine finishes at the same time.

    Args:
        problem: The mapping problem.
        assignment: Shape ``(T,)`` or ``(P, T)``.

    Returns:
        A float for one assignment, an array of shape ``(P,)`` for a population (seconds squared).
    """
    loads = machine_loads(problem, assignment)
    result = loads.var(axis=-1)
    return float(result) if loads.ndim == 1 else result


def energy_j(problem: MappingProblem, assignment: ArrayLike) -> Any:
    """Energy used until the makespan: busy power x busy time + idle power x idle time, summed over machines.

    Each machine's accounting window runs from its ready time to the makespan: it is busy for the ETC of
    its tasks and idle for the rest of the window. The interval before its ready time belongs to earlier
    work and is not charged to this mapping.

    Args:
        problem: The mapping problem; must have ``busy_power_w`` and ``idle_power_w``.
        assignment: Shape ``(T,)`` or ``(P, T)``.

    Returns:
        A float for one assignment, an array of shape ``(P,)`` for a population (joules).

    Raises:
        ValueError: If the problem has no power model.
    """
    if problem.busy_power_w is None or problem.idle_power_w is None:
        raise ValueError("energy_j needs busy_power_w and idle_power_w in the MappingProblem")
    busy = _busy(problem, as_assignment(problem, assignment))
    loads = busy + problem.ready_time_s
    span = loads.max(axis=-1, keepdims=True)
    idle = span - loads
    result = (busy * problem.busy_power_w + idle * problem.idle_power_w).sum(axis=-1)
    return float(result) if busy.ndim == 1 else result


def evaluate(problem: MappingProblem, assignment: ArrayLike) -> dict[str, Any]:
    """All objectives of an assignment (floats) or a population (arrays of shape ``(P,)``).

    Args:
        problem: The mapping problem.
        assignment: Shape ``(T,)`` or ``(P, T)``.

    Returns:
        ``makespan_s``, ``flowtime_s``, ``load_variance_s2`` and, when the problem has a power model,
        ``energy_j``.
    """
    checked = as_assignment(problem, assignment)
    result: dict[str, Any] = {
        "makespan_s": makespan(problem, checked),
        "flowtime_s": flowtime(problem, checked),
        "load_variance_s2": load_variance(problem, checked),
    }
    if problem.has_energy:
        result["energy_j"] = energy_j(problem, checked)
    return result


# ----------------------------------------------------------------------------------------------------------
# Loading ETC files
# ----------------------------------------------------------------------------------------------------------

_SHAPE_HELP = (
    "give the shape explicitly (n_tasks and n_machines, or --shape T M), a header line 'T M' at the top "
    f"of the file, or an entry in {MANIFEST_NAME} beside the file"
)


def _parse_positive(text: str, path: Path, line_number: int) -> float:
    """Parse one ETC value, raising an error that names the file and line."""
    try:
        value = float(text)
    except ValueError:
        raise MappingInputError(f"{path}: line {line_number}: expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise MappingInputError(f"{path}: line {line_number}: ETC values must be positive finite numbers, got {text!r}")
    return value


def _positive_int(value: Any, where: str) -> int:
    """Check a shape entry from a manifest, a header or an argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MappingInputError(f"{where} must be a positive integer, got {value!r}")
    return int(value)


def _manifest_shape(path: Path) -> tuple[int, int] | None:
    """Shape of ``path`` from ``manifest.toml`` in its folder, or None when there is no entry."""
    manifest = path.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None
    try:
        with manifest.open("rb") as stream:
            document = tomllib.load(stream)
    except tomllib.TOMLDecodeError as error:
        raise MappingInputError(f"{manifest}: not valid TOML: {error}") from None
    unknown_top = set(document) - {"files"}
    if unknown_top:
        raise MappingInputError(f"{manifest}: unknown key(s) {sorted(unknown_top)}; allowed: ['files']")
    files = document.get("files", {})
    if not isinstance(files, dict):
        raise MappingInputError(f"{manifest}: files must be a table of per-file tables")
    entry = files.get(path.name)
    if entry is None:
        return None
    where = f'{manifest}: files."{path.name}"'
    if not isinstance(entry, dict):
        raise MappingInputError(f"{where} must be a table with keys {sorted(_MANIFEST_KEYS)}")
    unknown = set(entry) - _MANIFEST_KEYS
    if unknown:
        raise MappingInputError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_MANIFEST_KEYS)}")
    missing = {"n_tasks", "n_machines"} - set(entry)
    if missing:
        raise MappingInputError(f"{where}: missing key(s) {sorted(missing)}")
    layout = entry.get("layout", _ALLOWED_LAYOUT)
    if layout != _ALLOWED_LAYOUT:
        raise MappingInputError(f"{where}.layout must be {_ALLOWED_LAYOUT!r}, got {layout!r}")
    return (
        _positive_int(entry["n_tasks"], f"{where}.n_tasks"),
        _positive_int(entry["n_machines"], f"{where}.n_machines"),
    )


def _is_csv(path: Path, first_line: str) -> bool:
    return path.suffix.lower() == ".csv" or "," in first_line


def _load_csv(path: Path, lines: list[str]) -> NDArray[np.float64]:
    """Rows are tasks, columns machines; an optional header row holds no number at all."""
    rows: list[list[float]] = []
    width: int | None = None
    header_allowed = True
    for index, raw in enumerate(lines):
        line_number = index + 1
        text = raw.strip()
        if not text:
            continue
        fields = [field.strip() for field in text.split(",")]
        if header_allowed:
            header_allowed = False
            if not any(_looks_numeric(field) for field in fields):
                continue  # the header row: column names, no values
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise MappingInputError(
                f"{path}: line {line_number}: expected {width} comma-separated values (one per machine), "
                f"got {len(fields)}"
            )
        rows.append([_parse_positive(field, path, line_number) for field in fields])
    if not rows:
        raise MappingInputError(f"{path}: no ETC values found; expected rows of comma-separated positive numbers")
    return np.array(rows, dtype=np.float64)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_column(path: Path, lines: list[str]) -> tuple[list[float], tuple[int, int] | None]:
    """Values of a one-per-line file, and the shape from an optional ``T M ...`` header line."""
    values: list[float] = []
    header: tuple[int, int] | None = None
    first = True
    for index, raw in enumerate(lines):
        line_number = index + 1
        text = raw.strip()
        if not text:
            continue
        tokens = text.split()
        if first:
            first = False
            if len(tokens) >= 2:
                if not all(token.isdigit() for token in tokens[:2]):
                    raise MappingInputError(
                        f"{path}: line {line_number}: a header line must start with two positive integers "
                        f"'T M', got {text!r}"
                    )
                header = (
                    _positive_int(int(tokens[0]), f"{path}: line {line_number}: T"),
                    _positive_int(int(tokens[1]), f"{path}: line {line_number}: M"),
                )
                continue
        if len(tokens) != 1:
            raise MappingInputError(
                f"{path}: line {line_number}: expected one value per line, got {len(tokens)} values"
            )
        values.append(_parse_positive(tokens[0], path, line_number))
    return values, header


def load_etc(
    path: str | Path,
    n_tasks: int | None = None,
    n_machines: int | None = None,
) -> MappingProblem:
    """Read an ETC matrix from a Braun-format file or a CSV file into a :class:`MappingProblem`.

    Two formats are recognised:

    * **Braun et al. format**: one positive number per line, task-major, i.e. value ``k`` (0-based) is
      ``ETC[k // M, k % M]``. The shape comes from an optional header line ``T M ...`` (as in the
      chgogos/hcsp copies), else from the ``n_tasks``/``n_machines`` arguments (when only one is given,
      the other is inferred from the number of values), else from ``manifest.toml`` in the same folder
      (``[files."name"]`` with ``n_tasks``, ``n_machines`` and ``layout = "task-major"``). A header that
      contradicts an argument is an error; arguments take precedence over the manifest.
    * **CSV**: chosen when the file name ends in ``.csv`` or the first line holds a comma. Rows are tasks,
      columns machines; an optional first row holding no number is a header and is skipped.

    Args:
        path: The file to read.
        n_tasks: Expected number of tasks ``T``, or None.
        n_machines: Expected number of machines ``M``, or None.

    Returns:
        The problem, named after the file, with zero ready times and no power model.

    Raises:
        MappingInputError: If the file is missing or unreadable, a value is not a positive number, the
            number of values does not fit the shape, or no shape can be determined. The message names the
            file, the line where relevant, and what is allowed.
    """
    path = Path(path)
    if n_tasks is not None:
        n_tasks = _positive_int(n_tasks, "n_tasks")
    if n_machines is not None:
        n_machines = _positive_int(n_machines, "n_machines")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise MappingInputError(f"{path}: is a directory, expected an ETC file") from None
    except UnicodeDecodeError:
        raise MappingInputError(f"{path}: not a text file; expected ASCII numbers") from None
    except OSError as error:
        raise MappingInputError(f"{path}: cannot read: {error.strerror}") from None
    lines = text.splitlines()
    first_line = next((line for line in lines if line.strip()), "")
    if not first_line:
        raise MappingInputError(f"{path}: the file is empty; expected positive ETC values")

    if _is_csv(path, first_line):
        etc = _load_csv(path, lines)
        for expected, actual, what in (
            (n_tasks, etc.shape[0], "tasks (rows)"),
            (n_machines, etc.shape[1], "machines (columns)"),
        ):
            if expected is not None and expected != actual:
                raise MappingInputError(f"{path}: expected {expected} {what}, the file has {actual}")
        return MappingProblem(etc_s=etc, name=path.name)

    values, header = _load_column(path, lines)
    count = len(values)
    shape = _resolve_shape(path, count, n_tasks, n_machines, header)
    expected_count = shape[0] * shape[1]
    if count != expected_count:
        raise MappingInputError(
            f"{path}: expected {expected_count} values for {shape[0]} tasks x {shape[1]} machines "
            f"(one per line, task-major), found {count}"
        )
    etc = np.array(values, dtype=np.float64).reshape(shape)
    return MappingProblem(etc_s=etc, name=path.name)


def _resolve_shape(
    path: Path,
    count: int,
    n_tasks: int | None,
    n_machines: int | None,
    header: tuple[int, int] | None,
) -> tuple[int, int]:
    """Combine explicit arguments, a header line and the manifest into one shape, or explain why not."""
    if header is not None:
        for given, from_header, what in ((n_tasks, header[0], "n_tasks"), (n_machines, header[1], "n_machines")):
            if given is not None and given != from_header:
                raise MappingInputError(
                    f"{path}: line 1: header gives {what} = {from_header}, but {given} was requested"
                )
        return header
    if n_tasks is not None and n_machines is not None:
        return n_tasks, n_machines
    if n_tasks is not None or n_machines is not None:
        known = n_tasks if n_tasks is not None else n_machines
        assert known is not None
        if count % known != 0:
            what = "n_tasks" if n_tasks is not None else "n_machines"
            raise MappingInputError(
                f"{path}: {count} values cannot be split evenly with {what} = {known}; {_SHAPE_HELP}"
            )
        other = count // known
        return (known, other) if n_tasks is not None else (other, known)
    from_manifest = _manifest_shape(path)
    if from_manifest is None:
        raise MappingInputError(f"{path}: the shape of the ETC matrix is unknown; {_SHAPE_HELP}")
    return from_manifest
