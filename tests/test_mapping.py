"""Tests of simulator.mapping: the vectorized objectives and the ETC loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.mapping import (
    MappingInputError,
    MappingProblem,
    as_assignment,
    energy_j,
    evaluate,
    flowtime,
    load_etc,
    load_variance,
    machine_busy_s,
    machine_loads,
    makespan,
)

BRAUN_DIR = Path(__file__).resolve().parents[1] / "scenarios" / "data" / "braun"


# --------------------------------------------------------------------------------------------------------
# Reference implementations: plain Python loops over tasks, written from the definitions.
# --------------------------------------------------------------------------------------------------------


def loop_loads(etc: list[list[float]], ready: list[float], assignment: list[int]) -> list[float]:
    loads = list(ready)
    for task, machine in enumerate(assignment):
        loads[machine] += etc[task][machine]
    return loads


def loop_flowtime(etc: list[list[float]], ready: list[float], assignment: list[int]) -> float:
    """Each machine runs its tasks shortest first from its ready time; sum the completion times."""
    total = 0.0
    for machine in range(len(ready)):
        durations = sorted(etc[task][machine] for task, chosen in enumerate(assignment) if chosen == machine)
        clock = ready[machine]
        for duration in durations:
            clock += duration
            total += clock
    return total


def loop_variance(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((value - mean) ** 2 for value in values) / len(values)


def loop_energy(
    etc: list[list[float]], ready: list[float], assignment: list[int], busy_w: list[float], idle_w: list[float]
) -> float:
    loads = loop_loads(etc, ready, assignment)
    span = max(loads)
    energy = 0.0
    for machine in range(len(ready)):
        busy = loads[machine] - ready[machine]
        idle = span - loads[machine]
        energy += busy_w[machine] * busy + idle_w[machine] * idle
    return energy


def random_problem(rng: np.random.Generator, n_tasks: int, n_machines: int) -> MappingProblem:
    return MappingProblem(
        etc_s=rng.uniform(0.5, 20.0, size=(n_tasks, n_machines)),
        ready_time_s=rng.uniform(0.0, 10.0, size=n_machines),
        busy_power_w=rng.uniform(50, 300, size=n_machines),
        idle_power_w=rng.uniform(5, 50, size=n_machines),
    )


# --------------------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("n_tasks", "n_machines"), [(1, 1), (7, 3), (30, 5), (64, 16)])
def test_objectives_match_python_loops_on_single_assignments(n_tasks: int, n_machines: int) -> None:
    """Reference: plain Python loops over tasks written from the definitions (loop_* above)."""
    rng = np.random.default_rng(n_tasks * 100 + n_machines)
    problem = random_problem(rng, n_tasks, n_machines)
    etc, ready = problem.etc_s.tolist(), problem.ready_time_s.tolist()
    busy_w, idle_w = problem.busy_power_w.tolist(), problem.idle_power_w.tolist()  # type: ignore[union-attr]
    for _ in range(5):
        assignment = rng.integers(0, n_machines, size=n_tasks)
        listed = assignment.tolist()
        loads = loop_loads(etc, ready, listed)
        assert machine_loads(problem, assignment) == pytest.approx(loads, rel=1e-12)
        assert machine_busy_s(problem, assignment) == pytest.approx(np.subtract(loads, ready), rel=1e-9, abs=1e-9)
        assert makespan(problem, assignment) == pytest.approx(max(loads), rel=1e-12)
        assert flowtime(problem, assignment) == pytest.approx(loop_flowtime(etc, ready, listed), rel=1e-12)
        assert load_variance(problem, assignment) == pytest.approx(loop_variance(loads), rel=1e-9, abs=1e-9)
        assert energy_j(problem, assignment) == pytest.approx(
            loop_energy(etc, ready, listed, busy_w, idle_w), rel=1e-12
        )


@pytest.mark.unit
def test_objectives_on_a_population_equal_row_by_row_loops() -> None:
    """Reference: the same Python loops applied to every row of a (P, T) population."""
    rng = np.random.default_rng(7)
    problem = random_problem(rng, 40, 6)
    etc, ready = problem.etc_s.tolist(), problem.ready_time_s.tolist()
    busy_w, idle_w = problem.busy_power_w.tolist(), problem.idle_power_w.tolist()  # type: ignore[union-attr]
    population = rng.integers(0, 6, size=(25, 40))
    population[3] = 0  # every task on one machine: other machines idle, empty groups in flowtime
    rows = [row.tolist() for row in population]
    loads = machine_loads(problem, population)
    assert loads.shape == (25, 6)
    for index, row in enumerate(rows):
        assert loads[index] == pytest.approx(loop_loads(etc, ready, row), rel=1e-12)
    assert makespan(problem, population) == pytest.approx([max(loop_loads(etc, ready, row)) for row in rows])
    assert flowtime(problem, population) == pytest.approx([loop_flowtime(etc, ready, row) for row in rows], rel=1e-12)
    assert load_variance(problem, population) == pytest.approx(
        [loop_variance(loop_loads(etc, ready, row)) for row in rows], rel=1e-9
    )
    assert energy_j(problem, population) == pytest.approx(
        [loop_energy(etc, ready, row, busy_w, idle_w) for row in rows], rel=1e-12
    )
    summary = evaluate(problem, population)
    assert set(summary) == {"makespan_s", "flowtime_s", "load_variance_s2", "energy_j"}
    assert summary["makespan_s"].shape == (25,)


@pytest.mark.property
@settings(max_examples=40, deadline=None)
@given(
    n_tasks=st.integers(1, 12),
    n_machines=st.integers(1, 5),
    n_individuals=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_population_objectives_equal_single_assignment_objectives(
    n_tasks: int, n_machines: int, n_individuals: int, seed: int
) -> None:
    """Invariant: evaluating a population equals evaluating each row on its own (and the Python loops)."""
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, n_tasks, n_machines)
    population = rng.integers(0, n_machines, size=(n_individuals, n_tasks))
    together = evaluate(problem, population)
    etc, ready = problem.etc_s.tolist(), problem.ready_time_s.tolist()
    for index, row in enumerate(population):
        alone = evaluate(problem, row)
        for key, value in alone.items():
            assert together[key][index] == pytest.approx(value, rel=1e-12, abs=1e-9)
        assert alone["flowtime_s"] == pytest.approx(loop_flowtime(etc, ready, row.tolist()), rel=1e-12)


@pytest.mark.unit
def test_flowtime_runs_each_machine_shortest_first_from_its_ready_time() -> None:
    """Reference: hand computation. Machine 0 (ready 1) runs tasks of 3 and 1 s as 1 then 3: completions
    2 and 5; machine 1 (ready 0) runs a 2 s task: completion 2. Flowtime 2 + 5 + 2 = 9, makespan 5."""
    problem = MappingProblem(etc_s=[[3.0, 9.0], [1.0, 9.0], [9.0, 2.0]], ready_time_s=[1.0, 0.0])
    assignment = [0, 0, 1]
    assert flowtime(problem, assignment) == 9.0
    assert makespan(problem, assignment) == 5.0
    assert machine_loads(problem, assignment).tolist() == [5.0, 2.0]
    assert load_variance(problem, assignment) == pytest.approx(2.25)  # loads 5 and 2, mean 3.5


@pytest.mark.unit
def test_energy_charges_busy_and_idle_time_until_the_makespan() -> None:
    """Reference: hand computation. Loads 5 (busy 4 after ready 1) and 2; makespan 5. Machine 0: 4 s busy
    at 100 W, 0 s idle; machine 1: 2 s busy at 50 W, 3 s idle at 10 W: 400 + 100 + 30 = 530 J."""
    problem = MappingProblem(
        etc_s=[[3.0, 9.0], [1.0, 9.0], [9.0, 2.0]],
        ready_time_s=[1.0, 0.0],
        busy_power_w=[100.0, 50.0],
        idle_power_w=[20.0, 10.0],
    )
    assert energy_j(problem, [0, 0, 1]) == pytest.approx(530.0)
    assert evaluate(problem, [0, 0, 1])["energy_j"] == pytest.approx(530.0)


@pytest.mark.unit
def test_single_assignment_objectives_are_python_floats() -> None:
    """Reference: the documented return types (float for one assignment)."""
    problem = MappingProblem(etc_s=[[1.0, 2.0], [3.0, 4.0]])
    for value in evaluate(problem, [0, 1]).values():
        assert type(value) is float
    assert "energy_j" not in evaluate(problem, [0, 1])
    with pytest.raises(ValueError, match="busy_power_w"):
        energy_j(problem, [0, 1])


@pytest.mark.unit
def test_problem_arrays_are_read_only_copies() -> None:
    """Reference: MappingProblem's documented contract (copied, frozen arrays; zero default ready times)."""
    etc = np.array([[1.0, 2.0], [3.0, 4.0]])
    problem = MappingProblem(etc_s=etc)
    etc[0, 0] = 99.0
    assert problem.etc_s[0, 0] == 1.0
    assert problem.ready_time_s.tolist() == [0.0, 0.0]
    assert (problem.n_tasks, problem.n_machines) == (2, 2)
    with pytest.raises(ValueError):
        problem.etc_s[0, 0] = 5.0


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"etc_s": [1.0, 2.0]}, "2 dimension"),
        ({"etc_s": [[1.0, 0.0]]}, "positive"),
        ({"etc_s": [[1.0, float("nan")]]}, "finite"),
        ({"etc_s": [[1.0, 2.0]], "ready_time_s": [0.0]}, "one entry per machine"),
        ({"etc_s": [[1.0, 2.0]], "ready_time_s": [0.0, -1.0]}, "non-negative"),
        ({"etc_s": [[1.0, 2.0]], "busy_power_w": [1.0, 1.0]}, "together"),
        ({"etc_s": [[1.0, 2.0]], "busy_power_w": [1.0], "idle_power_w": [1.0]}, "one entry per machine"),
        ({"etc_s": [["a", "b"]]}, "numbers"),
    ],
)
def test_invalid_problems_are_rejected(kwargs: dict[str, object], message: str) -> None:
    """Reference: MappingProblem's validation rules."""
    with pytest.raises(MappingInputError, match=message):
        MappingProblem(**kwargs)  # type: ignore[arg-type]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ([0, 1], "shape"),
        ([0, 1, 2], r"\[0, 2\)"),
        ([0, -1, 1], r"\[0, 2\)"),
        ([0.5, 1, 1], "integer"),
        ([True, False, True], "integer"),
    ],
)
def test_invalid_assignments_are_rejected(assignment: list[object], message: str) -> None:
    """Reference: as_assignment's documented checks."""
    problem = MappingProblem(etc_s=np.ones((3, 2)))
    with pytest.raises(ValueError, match=message):
        makespan(problem, assignment)


@pytest.mark.unit
def test_whole_float_assignments_are_accepted() -> None:
    """Reference: as_assignment accepts floats holding whole numbers (e.g. from a CSV)."""
    problem = MappingProblem(etc_s=np.ones((3, 2)))
    assert as_assignment(problem, [0.0, 1.0, 1.0]).tolist() == [0, 1, 1]


# --------------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_braun_file_is_read_task_major_with_the_manifest_shape() -> None:
    """Reference: scenarios/data/braun/SOURCE.md (first values of u_c_hihi.0, task-major, consistent rows)."""
    problem = load_etc(BRAUN_DIR / "u_c_hihi.0")
    assert problem.etc_s.shape == (512, 16)
    assert problem.name == "u_c_hihi.0"
    assert problem.etc_s[0, :3].tolist() == [91753.195312, 263115.4375, 275111.21875]
    # Consistent instance: every row is non-decreasing across machines (SOURCE.md, "How the layout was verified").
    assert np.all(np.diff(problem.etc_s, axis=1) >= 0)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.unit
def test_one_value_per_line_with_header_explicit_shape_or_inference(tmp_path: Path) -> None:
    """Reference: load_etc's documented shape sources (header 'T M ...', arguments, inference from one)."""
    values = "\r\n".join(str(value) for value in [1, 2, 3, 4, 5, 6]) + "\r\n"
    with_header = load_etc(write(tmp_path / "header.txt", "3 2 0\n" + values))
    assert with_header.etc_s.tolist() == [[1, 2], [3, 4], [5, 6]]
    plain = write(tmp_path / "plain.txt", values)
    assert load_etc(plain, n_tasks=2, n_machines=3).etc_s.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert load_etc(plain, n_machines=3).etc_s.shape == (2, 3)
    assert load_etc(plain, n_tasks=6).etc_s.shape == (6, 1)
    assert load_etc(write(tmp_path / "blank.txt", "\n" + values + "\n\n"), n_tasks=3, n_machines=2).n_tasks == 3


@pytest.mark.unit
def test_manifest_gives_the_shape_of_files_beside_it(tmp_path: Path) -> None:
    """Reference: the manifest format documented in load_etc and scenarios/data/braun/manifest.toml."""
    write(tmp_path / "manifest.toml", '[files."a.0"]\nn_tasks = 2\nn_machines = 2\nlayout = "task-major"\n')
    problem = load_etc(write(tmp_path / "a.0", "1\n2\n3\n4\n"))
    assert problem.etc_s.tolist() == [[1, 2], [3, 4]]
    # Explicit arguments take precedence over the manifest.
    assert load_etc(tmp_path / "a.0", n_tasks=4, n_machines=1).etc_s.shape == (4, 1)


@pytest.mark.unit
def test_csv_with_and_without_header(tmp_path: Path) -> None:
    """Reference: load_etc's CSV rules (rows tasks, columns machines, optional header without numbers)."""
    assert load_etc(write(tmp_path / "a.csv", "m0,m1\n1,2\n3,4\n5,6\n")).etc_s.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert load_etc(write(tmp_path / "b.csv", "1.5, 2\n3,4\n")).etc_s.tolist() == [[1.5, 2], [3, 4]]
    assert load_etc(write(tmp_path / "c.txt", "1,2\n3,4\n"), n_tasks=2).n_machines == 2


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "text", "kwargs", "patterns"),
    [
        ("count.txt", "1\n2\n3\n", {"n_tasks": 2, "n_machines": 2}, ["count.txt", "expected 4 values", "found 3"]),
        (
            "word.txt",
            "1\n2\nabc\n4\n",
            {"n_tasks": 2, "n_machines": 2},
            ["word.txt", "line 3", "positive number", "abc"],
        ),
        ("zero.txt", "1\n0\n3\n4\n", {"n_tasks": 2, "n_machines": 2}, ["line 2", "positive finite"]),
        ("negative.txt", "1\n2\n-3\n4\n", {"n_tasks": 2, "n_machines": 2}, ["line 3", "positive finite"]),
        ("nan.txt", "1\nnan\n3\n4\n", {"n_tasks": 2, "n_machines": 2}, ["line 2", "positive finite"]),
        ("inf.txt", "1\ninf\n3\n4\n", {"n_tasks": 2, "n_machines": 2}, ["line 2", "positive finite"]),
        ("noshape.txt", "1\n2\n3\n4\n", {}, ["noshape.txt", "shape", "manifest.toml", "header line"]),
        ("uneven.txt", "1\n2\n3\n", {"n_machines": 2}, ["3 values", "n_machines = 2"]),
        ("two.txt", "1\n2 3\n4\n5\n", {"n_tasks": 2, "n_machines": 2}, ["line 2", "one value per line"]),
        ("badheader.txt", "3 x\n1\n", {}, ["line 1", "header line", "'T M'"]),
        ("zeroheader.txt", "0 2\n1\n", {}, ["line 1", "positive integer"]),
        ("clash.txt", "2 2\n1\n2\n3\n4\n", {"n_tasks": 4}, ["line 1", "header gives n_tasks = 2", "4 was requested"]),
        ("empty.txt", "\n\n", {}, ["empty.txt", "empty"]),
        ("ragged.csv", "1,2\n3\n", {}, ["ragged.csv", "line 2", "expected 2 comma-separated values"]),
        ("word.csv", "1,2\n3,x\n", {}, ["word.csv", "line 2", "'x'"]),
        ("header_only.csv", "a,b\n", {}, ["no ETC values"]),
        ("shape.csv", "1,2\n3,4\n", {"n_machines": 3}, ["expected 3 machines", "has 2"]),
    ],
)
def test_bad_input_names_file_line_and_what_is_allowed(
    tmp_path: Path, name: str, text: str, kwargs: dict[str, int], patterns: list[str]
) -> None:
    """Reference: the error-message rule of STYLE.md (file, line/field, what is allowed)."""
    with pytest.raises(MappingInputError) as error:
        load_etc(write(tmp_path / name, text), **kwargs)
    for pattern in patterns:
        assert pattern in str(error.value)


@pytest.mark.unit
def test_missing_file_directory_and_bad_shape_arguments(tmp_path: Path) -> None:
    """Reference: load_etc's documented errors for unreadable paths and invalid shape arguments."""
    with pytest.raises(MappingInputError, match="file not found"):
        load_etc(tmp_path / "missing.0")
    with pytest.raises(MappingInputError, match="is a directory"):
        load_etc(tmp_path)
    with pytest.raises(MappingInputError, match="n_tasks must be a positive integer"):
        load_etc(write(tmp_path / "a.txt", "1\n"), n_tasks=0, n_machines=1)
    (tmp_path / "binary.0").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(MappingInputError, match="not a text file"):
        load_etc(tmp_path / "binary.0")
    with pytest.raises(MappingInputError):
        MappingProblem(etc_s=np.empty((0, 3)))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("manifest", "patterns"),
    [
        ('[files."a.0"]\nn_tasks = 2\nn_machines = 2\ncolumns = 3\n', ['files."a.0"', "unknown key", "columns"]),
        ('[files."a.0"]\nn_tasks = 2\nn_machines = 2\nlayout = "machine-major"\n', ["layout", "task-major"]),
        ('[files."a.0"]\nn_tasks = 2\n', ["missing key", "n_machines"]),
        ('[files."a.0"]\nn_tasks = "two"\nn_machines = 2\n', ["n_tasks", "positive integer"]),
        ('[files."a.0"\n', ["not valid TOML"]),
        ("shapes = 1\n", ["unknown key", "shapes"]),
    ],
)
def test_bad_manifest_entries_name_the_manifest_and_field(tmp_path: Path, manifest: str, patterns: list[str]) -> None:
    """Reference: STYLE.md's configuration rule (unknown keys are errors; messages name the field)."""
    write(tmp_path / "manifest.toml", manifest)
    write(tmp_path / "a.0", "1\n2\n3\n4\n")
    with pytest.raises(MappingInputError) as error:
        load_etc(tmp_path / "a.0")
    for pattern in ["manifest.toml", *patterns]:
        assert pattern in str(error.value)


@pytest.mark.unit
def test_shipped_manifest_covers_every_braun_file() -> None:
    """Reference: scenarios/data/braun/SOURCE.md (12 files of 512 x 16 values)."""
    files = sorted(path for path in BRAUN_DIR.glob("u_*.0"))
    assert len(files) == 12
    for path in files:
        assert load_etc(path).etc_s.shape == (512, 16)
