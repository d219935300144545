"""Pareto fronts of the multi-objective mapping solvers: filtering, choosing one point, hypervolume.

Every objective is minimised. Fronts are compared by hypervolume (the volume dominated by the front and
bounded by a reference point; Zitzler and Thiele 1999), computed by pymoo's ``HV`` indicator, which is
imported only here and only when a hypervolume is asked for.

Reference point rule, so that hypervolumes are comparable across algorithms and seeds: take the union of
all fronts being compared, normalise every objective by the ideal point (the per-objective minimum of the
union) and the nadir point of the fronts (the per-objective maximum of the union), so every point lies in
``[0, 1]`` in each objective, and use ``REFERENCE_MARGIN`` (1.1) in every normalised objective as the
reference point. Every point then dominates the reference, so every front has a positive hypervolume,
even one another front dominates; the largest possible value is ``1.1 ** n_objectives``. For one front
alone, the union is that front and the nadir is its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OBJECTIVE_COLUMNS",
    "REFERENCE_MARGIN",
    "ParetoFront",
    "check_pick",
    "hypervolumes",
    "non_dominated",
    "normalisation_bounds",
    "pick",
]

OBJECTIVE_COLUMNS = {
    "makespan": "makespan_s",
    "flowtime": "flowtime_s",
    "load_variance": "load_variance_s2",
    "energy": "energy_j",
}
"""Objective names (as ``third_objective`` and pick weights spell them) and their front columns."""

REFERENCE_MARGIN = 1.1
"""The reference point in every normalised objective (see the module docstring)."""


@dataclass(frozen=True, eq=False)
class ParetoFront:
    """Mutually non-dominated solutions found by a multi-objective solver.

    Attributes:
        objectives: One row per solution, sorted by makespan, with columns ``makespan_s``,
            ``flowtime_s`` and ``load_variance_s2`` or ``energy_j``.
        assignments: Machine per task for each row, shape ``(K, T)``, read-only.
        wall_s: Seconds the search took.
        history: ``(wall_s, best_makespan_s)`` pairs over the run.
        generations: Generations (iterations) completed.
        evaluations: Candidate assignments evaluated.
    """

    objectives: pd.DataFrame
    assignments: NDArray[np.intp]
    wall_s: float
    history: tuple[tuple[float, float], ...]
    generations: int
    evaluations: int


def non_dominated(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Mask of the rows of ``values`` (one row per point, all objectives minimised) no other row dominates.

    Of several rows with equal objective vectors all are kept; callers drop duplicates where they matter.
    """
    points = np.asarray(values, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(f"values must be a 2-D array (points x objectives), got shape {points.shape}")
    keep = np.ones(len(points), dtype=bool)
    for index, point in enumerate(points):
        if keep[index]:
            dominated = np.all(point <= points, axis=1) & np.any(point < points, axis=1)
            keep &= ~dominated
    return keep


def normalisation_bounds(fronts: Sequence[NDArray[np.float64]]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(ideal, nadir) of the union of ``fronts``: the per-objective minimum and maximum of the union."""
    union = np.vstack([np.asarray(front, dtype=np.float64) for front in fronts])
    if len(union) == 0:
        raise ValueError("hypervolume needs at least one point")
    return union.min(axis=0), union.max(axis=0)


def hypervolumes(fronts: Sequence[NDArray[np.float64]]) -> list[float]:
    """Hypervolume of each front under the module's reference point rule, computed by pymoo's ``HV``.

    Args:
        fronts: Objective matrices, one per front, each ``(K_i, n_objectives)``, all minimised.

    Returns:
        One hypervolume per front, in normalised units (at most ``REFERENCE_MARGIN ** n_objectives``).
    """
    from pymoo.indicators.hv import HV

    ideal, nadir = normalisation_bounds(fronts)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)  # an objective constant over the union
    indicator = HV(ref_point=np.full(len(ideal), REFERENCE_MARGIN))
    return [float(indicator((np.asarray(front, dtype=np.float64) - ideal) / span)) for front in fronts]


def check_pick(rule: str, weights: Mapping[str, float] | None, objectives: Sequence[str]) -> str | None:
    """Why the pick ``rule`` and ``weights`` do not fit a front of ``objectives`` (names), or None if they do."""
    if rule not in ("knee", "weights"):
        return f"pick_rule must be 'knee' or 'weights', got {rule!r}"
    if weights is None:
        return "pick_rule 'weights' needs pick_weights, a table objective -> weight" if rule == "weights" else None
    if not isinstance(weights, Mapping):
        return f"pick_weights must be a table objective -> weight, got {weights!r}"
    unknown = sorted(set(weights) - set(objectives))
    if unknown:
        return f"pick_weights names unknown objective(s) {unknown}; allowed: {list(objectives)}"
    values = list(weights.values())
    if not all(isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value) and value >= 0
               for value in values) or not any(value > 0 for value in values):
        return f"pick_weights must be finite, non-negative numbers with at least one positive, got {dict(weights)}"
    return None


def pick(
    front: pd.DataFrame,
    rule: str = "knee",
    weights: Mapping[str, float] | Sequence[float] | None = None,
) -> int:
    """Choose one solution of a Pareto front; returns its row position (0-based).

    Each objective column is first min-max normalised over the front (a constant column becomes 0), so
    that seconds, squared seconds and joules are comparable.

    Args:
        front: One row per solution, one numeric column per objective (all minimised).
        rule: ``"knee"``: the solution closest (Euclidean) to the ideal point in the normalised space, the
            compromise solution of compromise programming (Zeleny, "Compromise programming", 1973, with
            the L2 metric); on a convex front it lies where the trade-off bends most, and it needs no
            preference. ``"weights"``: the smallest weighted sum of normalised objectives.
        weights: For ``"weights"``: a mapping from objective to weight, keyed by column (``makespan_s``) or
            by objective name (``makespan``, see ``OBJECTIVE_COLUMNS``); missing objectives weigh 0. Or a
            sequence with one weight per column.

    Returns:
        The row position of the chosen solution; ties go to the first row.

    Raises:
        ValueError: If the front is empty, the rule is unknown, or the weights do not fit the columns.
    """
    if front.empty:
        raise ValueError("pick needs a non-empty front")
    values = front.to_numpy(dtype=np.float64)
    low = values.min(axis=0)
    span = values.max(axis=0) - low
    normalised = np.divide(values - low, span, out=np.zeros_like(values), where=span > 0)
    if rule == "knee":
        return int(np.argmin(np.sqrt((normalised**2).sum(axis=1))))
    if rule != "weights":
        raise ValueError(f"rule must be 'knee' or 'weights', got {rule!r}")
    if weights is None:
        raise ValueError("rule 'weights' needs weights")
    if isinstance(weights, Mapping):
        by_column = {OBJECTIVE_COLUMNS.get(key, key): float(value) for key, value in weights.items()}
        unknown = sorted(set(by_column) - set(front.columns))
        if unknown:
            raise ValueError(f"weights name unknown column(s) {unknown}; columns: {list(front.columns)}")
        vector = np.array([by_column.get(column, 0.0) for column in front.columns])
    else:
        vector = np.asarray(weights, dtype=np.float64)
        if vector.shape != (values.shape[1],):
            raise ValueError(f"weights must have one entry per column ({values.shape[1]}), got {vector.shape}")
    if np.any(vector < 0) or not np.any(vector > 0):
        raise ValueError("weights must be non-negative with at least one positive")
    vector = vector / vector.max()  # the same choice, and no overflow when the weights are huge (1e308 each)
    return int(np.argmin(normalised @ vector))
