"""Figure: NSGA-II and MOPSO Pareto fronts (makespan, flowtime, load variance) on a Braun et al. instance, and
both solvers' hypervolume on every instance.

Reads the committed results of ``experiments/multiobjective_braun.py`` (``results/reference/multiobjective``:
``fronts.csv``, ``summary.csv``; also with ``--quick``, since that benchmark is not a sweep); writes
``multiobjective_fronts.pdf``. Left panels: every seed's front on ``PLOT_INSTANCE`` (light), each solver's
combined front over its seeds (the points no other point of that solver dominates, dark) and the knee of the
union of both solvers' fronts (the point nearest the ideal after min-max normalisation,
`simulator.solvers.front.pick`); load variance on a log scale. Right panel: mean hypervolume per instance with
its 95 % t-interval.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from _common import REPOSITORY, parse_arguments, plt, save, style

from simulator.solvers.front import non_dominated, pick

REFERENCE = REPOSITORY / "results" / "reference" / "multiobjective"
OBJECTIVES = ["makespan_s", "flowtime_s", "load_variance_s2"]
SOLVERS = {"nsga2": ("NSGA-II", "C0", "o"), "mopso": ("MOPSO", "C3", "^")}
PLOT_INSTANCE = "u_c_hihi.0"  # the benchmark's own default plot instance: the first of Braun et al.'s twelve
PANELS = (("makespan_s", "flowtime_s"), ("makespan_s", "load_variance_s2"))
LABELS = {"makespan_s": "makespan (s)", "flowtime_s": "flowtime (s)", "load_variance_s2": "load variance (s$^2$)"}


def read_reference() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The benchmark's front points and per-instance summary."""
    return pd.read_csv(REFERENCE / "fronts.csv"), pd.read_csv(REFERENCE / "summary.csv")


def combined_front(points: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``points`` no other row dominates (duplicates dropped)."""
    unique = points.drop_duplicates(subset=OBJECTIVES)
    return unique[non_dominated(unique[OBJECTIVES].to_numpy(dtype=float))]


def knee(points: pd.DataFrame) -> pd.Series:
    """The knee of the union front of ``points`` (all solvers together)."""
    union = combined_front(points).reset_index(drop=True)
    return union.iloc[pick(union[OBJECTIVES], rule="knee")]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    fronts, summary = read_reference()
    data = fronts[fronts["instance"] == PLOT_INSTANCE]
    figure, axes = plt.subplots(1, 3, figsize=(7.0, 2.4), gridspec_kw={"width_ratios": [1, 1, 1.3]})
    chosen = knee(data)
    for axis, (x, y) in zip(axes[:2], PANELS, strict=True):
        for solver, (label, colour, marker) in SOLVERS.items():
            points = data[data["algorithm"] == solver]
            axis.scatter(points[x], points[y], s=6, marker=marker, color=colour, alpha=0.25, linewidths=0)
            best = combined_front(points)
            axis.scatter(best[x], best[y], s=14, marker=marker, color=colour, label=f"{label} (combined)",
                         edgecolors="black", linewidths=0.3)
        axis.scatter([chosen[x]], [chosen[y]], s=60, marker="*", color="gold", edgecolors="black", linewidths=0.5,
                     label="knee of the union", zorder=5)
        axis.set_xlabel(LABELS[x])
        axis.set_ylabel(LABELS[y])
        if y == "load_variance_s2":  # spans orders of magnitude across a front
            axis.set_yscale("log")
        else:
            axis.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        axis.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    for axis in axes[:2]:
        axis.set_title(PLOT_INSTANCE)
    instances = list(dict.fromkeys(summary["instance"]))
    positions = np.arange(len(instances))
    for offset, (solver, (label, colour, marker)) in zip((-0.15, 0.15), SOLVERS.items(), strict=True):
        part = summary[summary["algorithm"] == solver].set_index("instance").loc[instances]
        mean = part["hypervolume_mean"].to_numpy(dtype=float)
        errors = np.vstack([mean - part["hypervolume_ci_low"].to_numpy(dtype=float),
                            part["hypervolume_ci_high"].to_numpy(dtype=float) - mean])
        axes[2].errorbar(positions + offset, mean, yerr=errors, fmt=marker, color=colour, markersize=3,
                         elinewidth=0.8, capsize=1.5, label=label)
    axes[2].set_xticks(positions, [name.removesuffix(".0").removeprefix("u_") for name in instances], rotation=60,
                       ha="right")
    axes[2].set_ylabel("hypervolume (normalised)")
    axes[2].set_title("all instances (mean, 95 % interval)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels), frameon=False)
    return save(figure, args, "multiobjective_fronts.pdf")


if __name__ == "__main__":
    sys.exit(main())
