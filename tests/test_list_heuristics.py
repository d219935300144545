"""Tests of the list heuristics: hand-computed instances, an independent loop implementation, Braun values."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simulator.mapping import MappingProblem, load_etc, makespan
from simulator.solvers import get_solver
from simulator.solvers import list_heuristics as heuristics

BRAUN_DIR = Path(__file__).resolve().parents[1] / "scenarios" / "data" / "braun"
BRAUN_FILES = sorted(path.name for path in BRAUN_DIR.glob("u_*.0"))

# ETC of the hand-worked instance below: 4 tasks (rows) x 2 machines (columns), all machines ready at 0.
HAND_ETC = [[4.0, 6.0], [1.0, 3.0], [5.0, 2.0], [3.0, 8.0]]


def hand_problem() -> MappingProblem:
    return MappingProblem(etc_s=HAND_ETC)


@pytest.mark.unit
def test_olb_by_hand() -> None:
    """Reference: Braun et al. 2001 OLB, worked by hand on HAND_ETC.

    availability [0, 0]: t0 -> m0 (tie, lowest index) [4, 0]; t1 -> m1 [4, 3]; t2 -> m1 (3 < 4) [4, 5];
    t3 -> m0 (4 < 5) [7, 5]. Makespan 7.
    """
    assert heuristics.olb(hand_problem()).tolist() == [0, 1, 1, 0]


@pytest.mark.unit
def test_met_by_hand() -> None:
    """Reference: Braun et al. 2001 MET by hand: each task to its smallest ETC: t0 m0 (4 < 6), t1 m0 (1 < 3),
    t2 m1 (2 < 5), t3 m0 (3 < 8). Loads [8, 2], makespan 8."""
    problem = hand_problem()
    assert heuristics.met(problem).tolist() == [0, 0, 1, 0]
    assert makespan(problem, heuristics.met(problem)) == 8.0


@pytest.mark.unit
def test_mct_by_hand() -> None:
    """Reference: Braun et al. 2001 MCT by hand (task order 0..3, completion = availability + ETC).

    t0: [4, 6] -> m0, avail [4, 0]; t1: [5, 3] -> m1, [4, 3]; t2: [9, 5] -> m1, [4, 5]; t3: [7, 13] -> m0,
    [7, 5]. Makespan 7.
    """
    assert heuristics.mct(hand_problem()).tolist() == [0, 1, 1, 0]


@pytest.mark.unit
def test_min_min_by_hand() -> None:
    """Reference: Braun et al. 2001 Min-min by hand.

    Round 1 minimum completion times: t0 4 (m0), t1 1 (m0), t2 2 (m1), t3 3 (m0): t1 -> m0, avail [1, 0].
    Round 2: t0 5 (m0), t2 2 (m1), t3 4 (m0): t2 -> m1, [1, 2]. Round 3: t0 5, t3 4: t3 -> m0, [4, 2].
    Round 4: t0 completes at 8 on both machines: the tie goes to m0, [8, 2]. Makespan 8.
    """
    problem = hand_problem()
    assert heuristics.min_min(problem).tolist() == [0, 0, 1, 0]
    assert makespan(problem, heuristics.min_min(problem)) == 8.0


@pytest.mark.unit
def test_max_min_and_duplex_by_hand() -> None:
    """Reference: Braun et al. 2001 Max-min and Duplex by hand.

    Round 1 minima t0 4, t1 1, t2 2, t3 3: the largest, t0 -> m0, avail [4, 0]. Round 2: t1 3 (m1), t2 2 (m1),
    t3 7 (m0): t3 -> m0, [7, 0]. Round 3: t1 3 (m1), t2 2 (m1): t1 -> m1, [7, 3]. Round 4: t2 -> m1, [7, 5].
    Makespan 7 < Min-min's 8, so Duplex returns Max-min's mapping.
    """
    problem = hand_problem()
    assert heuristics.max_min(problem).tolist() == [0, 1, 1, 0]
    assert heuristics.duplex(problem).tolist() == [0, 1, 1, 0]


@pytest.mark.unit
def test_sufferage_one_task_per_step_by_hand() -> None:
    """Reference: the sequential Sufferage rule by hand (sufferage = second minus first completion time).

    Step 1: t0 [4, 6] s=2, t1 [1, 3] s=2, t2 [5, 2] s=3, t3 [3, 8] s=5: t3 -> m0, avail [3, 0].
    Step 2: t0 [7, 6] s=1, t1 [4, 3] s=1, t2 [8, 2] s=6: t2 -> m1, [3, 2].
    Step 3: t0 [7, 8] s=1, t1 [4, 5] s=1: tie, lowest task t0 -> m0, [7, 2]. Step 4: t1 [8, 5] -> m1.
    """
    assert heuristics.sufferage(hand_problem()).tolist() == [0, 1, 1, 0]


@pytest.mark.unit
def test_shortest_task_first_by_hand() -> None:
    """Reference: STF by hand. Sizes by min ETC: t0 4, t1 1, t2 2, t3 3, order t1 t2 t3 t0, each by MCT:
    t1 -> m0 [1, 0]; t2 [6, 2] -> m1 [1, 2]; t3 [4, 10] -> m0 [4, 2]; t0 [8, 8] tie -> m0 [8, 2]. By mean ETC
    (5, 2, 3.5, 5.5) the order is t1 t2 t0 t3 and the result is the same mapping."""
    assert heuristics.shortest_task_first(hand_problem()).tolist() == [0, 0, 1, 0]
    assert heuristics.shortest_task_first(hand_problem(), order_by="mean").tolist() == [0, 0, 1, 0]
    with pytest.raises(ValueError, match="order_by"):
        heuristics.shortest_task_first(hand_problem(), order_by="max")


# ETC where the two Sufferage variants differ: 3 tasks x 3 machines.
SUFFERAGE_ETC = [[8.0, 4.0, 7.0], [3.0, 8.0, 4.0], [3.0, 2.0, 9.0]]


@pytest.mark.unit
def test_sufferage_variants_differ_by_hand() -> None:
    """Reference: Maheswaran et al. 1999 (batch rounds) versus the one-task-per-step rule, by hand.

    Both start with sufferage values t0 = 7 - 4 = 3 (best m1), t1 = 4 - 3 = 1 (best m0), t2 = 3 - 2 = 1 (best m1).

    Step version: t0 -> m1, avail [0, 4, 0]. Then t1 [3, 12, 4] s=1 (m0), t2 [3, 6, 9] s=3 (m0): t2 -> m0,
    [3, 4, 0]. Then t1 [6, 12, 4] -> m2. Mapping [1, 2, 0], makespan 4.

    Batch version, round 1 (availability frozen at 0): t0 claims m1; t1 claims the free m0; t2 wants m1 but
    its sufferage 1 is not larger than t0's 3, so it waits. t0 -> m1 and t1 -> m0: avail [3, 4, 0].
    Round 2: t2 [6, 6, 9]: tie between m0 and m1, lowest index m0. Mapping [1, 0, 0], makespan 6.
    """
    problem = MappingProblem(etc_s=SUFFERAGE_ETC)
    assert heuristics.sufferage(problem).tolist() == [1, 2, 0]
    assert heuristics.sufferage_batch(problem).tolist() == [1, 0, 0]
    assert makespan(problem, heuristics.sufferage(problem)) == 4.0
    assert makespan(problem, heuristics.sufferage_batch(problem)) == 6.0


@pytest.mark.unit
def test_ready_times_delay_machines() -> None:
    """Reference: Braun et al.'s availability vector, initialised with the machines' ready times, by hand.

    ETC [[1, 1], [1, 1]] with machine 0 ready at 5: OLB and MCT put both tasks on m1 (available 0, then 1),
    MET ignores availability and puts both on m0 (tie, lowest index). The makespan is 5, not 2: as in
    Braun et al., it is the largest machine availability time, and machine 0 is not free before 5.
    """
    problem = MappingProblem(etc_s=[[1.0, 1.0], [1.0, 1.0]], ready_time_s=[5.0, 0.0])
    assert heuristics.olb(problem).tolist() == [1, 1]
    assert heuristics.mct(problem).tolist() == [1, 1]
    assert heuristics.min_min(problem).tolist() == [1, 1]
    assert heuristics.met(problem).tolist() == [0, 0]
    assert makespan(problem, [1, 1]) == 5.0


@pytest.mark.unit
def test_single_machine_problems() -> None:
    """Reference: the documented convention that sufferage is 0 when there is no second machine."""
    problem = MappingProblem(etc_s=[[2.0], [1.0], [3.0]])
    for name in ("olb", "met", "mct", "min_min", "max_min", "duplex", "sufferage", "sufferage_batch", "stf"):
        result = get_solver(name).solve(problem, np.random.default_rng(0))
        assert result.assignment.tolist() == [0, 0, 0]
        assert result.makespan_s == 6.0


# --------------------------------------------------------------------------------------------------------
# Independent reference: straightforward pure-Python loops written from the papers' pseudo-code.
# --------------------------------------------------------------------------------------------------------

Etc = list[list[float]]


def _best(available: list[float], row: list[float]) -> tuple[int, float, float]:
    """Best machine (first on ties), its completion time, and the second-best completion time."""
    best_machine, best, second = 0, available[0] + row[0], float("inf")
    for machine in range(1, len(row)):
        value = available[machine] + row[machine]
        if value < best:
            best_machine, best, second = machine, value, best
        elif value < second:
            second = value
    return best_machine, best, second


def loop_olb(etc: Etc, ready: list[float]) -> list[int]:
    available, result = list(ready), []
    for row in etc:
        machine = min(range(len(available)), key=lambda m: (available[m], m))
        result.append(machine)
        available[machine] += row[machine]
    return result


def loop_met(etc: Etc, ready: list[float]) -> list[int]:
    return [min(range(len(row)), key=lambda m: (row[m], m)) for row in etc]


def loop_mct(etc: Etc, ready: list[float], order: list[int] | None = None) -> list[int]:
    available, result = list(ready), [0] * len(etc)
    for task in order if order is not None else range(len(etc)):
        machine = _best(available, etc[task])[0]
        result[task] = machine
        available[machine] += etc[task][machine]
    return result


def loop_min_max_min(etc: Etc, ready: list[float], largest: bool) -> list[int]:
    available, result, unmapped = list(ready), [0] * len(etc), list(range(len(etc)))
    while unmapped:
        chosen, chosen_machine, chosen_value = -1, -1, 0.0
        for task in unmapped:  # ascending task order: strict comparison keeps the lowest index on ties
            machine, value, _ = _best(available, etc[task])
            if chosen < 0 or (value > chosen_value if largest else value < chosen_value):
                chosen, chosen_machine, chosen_value = task, machine, value
        result[chosen] = chosen_machine
        available[chosen_machine] += etc[chosen][chosen_machine]
        unmapped.remove(chosen)
    return result


def loop_sufferage_step(etc: Etc, ready: list[float]) -> list[int]:
    available, result, unmapped = list(ready), [0] * len(etc), list(range(len(etc)))
    while unmapped:
        chosen, chosen_machine, chosen_sufferage = -1, -1, -1.0
        for task in unmapped:
            machine, best, second = _best(available, etc[task])
            value = 0.0 if second == float("inf") else second - best
            if value > chosen_sufferage:
                chosen, chosen_machine, chosen_sufferage = task, machine, value
        result[chosen] = chosen_machine
        available[chosen_machine] += etc[chosen][chosen_machine]
        unmapped.remove(chosen)
    return result


def loop_sufferage_batch(etc: Etc, ready: list[float]) -> list[int]:
    """Maheswaran et al. 1999, Figure 3, literally: tentative claims with displacement, then update."""
    available, result, meta_task = list(ready), [0] * len(etc), list(range(len(etc)))
    while meta_task:
        claims: dict[int, tuple[int, float]] = {}  # machine -> (task, sufferage)
        for task in list(meta_task):
            machine, best, second = _best(available, etc[task])
            value = 0.0 if second == float("inf") else second - best
            if machine not in claims:
                claims[machine] = (task, value)
                meta_task.remove(task)
            elif claims[machine][1] < value:
                meta_task.append(claims[machine][0])  # the displaced task goes back to the meta-task
                claims[machine] = (task, value)
                meta_task.remove(task)
        for machine, (task, _) in claims.items():
            result[task] = machine
            available[machine] += etc[task][machine]
        meta_task.sort()
    return result


def loop_stf(etc: Etc, ready: list[float]) -> list[int]:
    order = sorted(range(len(etc)), key=lambda task: (min(etc[task]), task))
    return loop_mct(etc, ready, order)


REFERENCES: dict[str, Callable[[Etc, list[float]], list[int]]] = {
    "olb": loop_olb,
    "met": loop_met,
    "mct": loop_mct,
    "min_min": lambda etc, ready: loop_min_max_min(etc, ready, largest=False),
    "max_min": lambda etc, ready: loop_min_max_min(etc, ready, largest=True),
    "sufferage": loop_sufferage_step,
    "sufferage_batch": loop_sufferage_batch,
    "stf": loop_stf,
}


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_vectorized_heuristics_equal_loop_references_on_random_problems(name: str) -> None:
    """Reference: the pure-Python loop implementations above, on random problems with ready times and with
    deliberate ties (integer ETC values)."""
    rng = np.random.default_rng(11)
    for trial in range(30):
        n_tasks, n_machines = int(rng.integers(1, 25)), int(rng.integers(1, 6))
        if trial % 2:
            etc = rng.integers(1, 5, size=(n_tasks, n_machines)).astype(float)  # many ties
        else:
            etc = rng.uniform(1.0, 100.0, size=(n_tasks, n_machines))
        ready = rng.integers(0, 5, size=n_machines).astype(float)
        problem = MappingProblem(etc_s=etc, ready_time_s=ready)
        expected = REFERENCES[name](etc.tolist(), ready.tolist())
        assert get_solver(name).solve(problem, np.random.default_rng(0)).assignment.tolist() == expected


# Makespans our implementations give on the Braun instances, identical to the loop references (checked in
# test_braun_instances_match_loop_references). Min-min on u_c_hihi.0 is the literature's 8460675.0 (for
# example Xhafa, Carretero and Abraham, 2007; Nesmachnow, Luna and Alba, 2012).
BRAUN_MAKESPANS = {
    "u_c_hihi.0": {"olb": 14376662.176, "met": 47472299.43, "mct": 11422624.494, "min_min": 8460675.003,
                   "max_min": 12385671.828, "sufferage_batch": 10908697.837, "sufferage": 10249172.885},
    "u_c_hilo.0": {"olb": 221051.824, "met": 1185092.969, "mct": 185887.404, "min_min": 161805.434,
                   "max_min": 204054.589, "sufferage_batch": 167377.929, "sufferage": 168982.602},
    "u_c_lohi.0": {"olb": 477357.02, "met": 1453098.004, "mct": 378303.625, "min_min": 275837.356,
                   "max_min": 392566.686, "sufferage_batch": 351382.002, "sufferage": 337121.461},
    "u_c_lolo.0": {"olb": 7306.596, "met": 39582.297, "mct": 6360.055, "min_min": 5441.428,
                   "max_min": 6945.362, "sufferage_batch": 5703.229, "sufferage": 5658.538},
    "u_i_hihi.0": {"olb": 26102017.618, "met": 4508506.792, "mct": 4413582.982, "min_min": 3513919.281,
                   "max_min": 8018378.072, "sufferage_batch": 3391758.359, "sufferage": 3306818.943},
    "u_i_hilo.0": {"olb": 272785.201, "met": 96610.481, "mct": 94855.913, "min_min": 80755.679,
                   "max_min": 151923.835, "sufferage_batch": 78828.279, "sufferage": 77589.104},
    "u_i_lohi.0": {"olb": 833605.655, "met": 185694.594, "mct": 143816.094, "min_min": 120517.709,
                   "max_min": 251528.848, "sufferage_batch": 125688.604, "sufferage": 114578.915},
    "u_i_lolo.0": {"olb": 8938.027, "met": 3399.285, "mct": 3137.35, "min_min": 2785.645,
                   "max_min": 5177.709, "sufferage_batch": 2673.829, "sufferage": 2639.318},
    "u_s_hihi.0": {"olb": 19464875.91, "met": 25162058.136, "mct": 6693923.896, "min_min": 5160342.819,
                   "max_min": 9208811.495, "sufferage_batch": 5574357.8, "sufferage": 5121953.621},
    "u_s_hilo.0": {"olb": 250362.114, "met": 605363.773, "mct": 126587.591, "min_min": 104375.164,
                   "max_min": 172822.698, "sufferage_batch": 103400.813, "sufferage": 102499.893},
    "u_s_lohi.0": {"olb": 603231.467, "met": 674689.536, "mct": 186151.286, "min_min": 140284.489,
                   "max_min": 282085.731, "sufferage_batch": 153094.026, "sufferage": 150297.125},
    "u_s_lolo.0": {"olb": 8938.389, "met": 21042.413, "mct": 4436.118, "min_min": 3806.828,
                   "max_min": 6232.242, "sufferage_batch": 3700.745, "sufferage": 3846.469},
}  # fmt: skip


@pytest.mark.validation
def test_min_min_on_u_c_hihi_reproduces_the_published_makespan() -> None:
    """Reference: Min-min makespan 8460675.0 on u_c_hihi.0 as reported in the literature (e.g. Xhafa et al.
    2007, Nesmachnow et al. 2012), computed by Braun et al.'s definition in float64."""
    problem = load_etc(BRAUN_DIR / "u_c_hihi.0")
    assert makespan(problem, heuristics.min_min(problem)) == pytest.approx(8460675.0, abs=0.01)


@pytest.mark.validation
@pytest.mark.parametrize("instance", BRAUN_FILES)
def test_braun_instances_match_loop_references(instance: str) -> None:
    """Reference: the independent pure-Python loops above, assignment for assignment, and the makespan table
    BRAUN_MAKESPANS (to the 3 decimals recorded)."""
    problem = load_etc(BRAUN_DIR / instance)
    etc, ready = problem.etc_s.tolist(), problem.ready_time_s.tolist()
    for name, expected_makespan in BRAUN_MAKESPANS[instance].items():
        ours = get_solver(name).solve(problem, np.random.default_rng(0))
        assert ours.assignment.tolist() == REFERENCES[name](etc, ready), name
        assert ours.makespan_s == pytest.approx(expected_makespan, abs=1e-3), name


@pytest.mark.unit
def test_quadratic_heuristics_are_fast_on_512_by_16() -> None:
    """Reference: the brief's performance requirement (well under a second per heuristic on 512 x 16)."""
    problem = load_etc(BRAUN_DIR / "u_i_hihi.0")
    for name in ("min_min", "max_min", "sufferage", "sufferage_batch", "duplex"):
        start = time.perf_counter()
        get_solver(name).solve(problem, np.random.default_rng(0))
        assert time.perf_counter() - start < 0.5, name
