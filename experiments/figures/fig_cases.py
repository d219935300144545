"""Figures: greedy, list, metaheuristic (batch mode) and DRL allocation on each case study, one figure per case.

Reads ``results/case_speech``, ``case_medical``, ``case_traffic`` and ``case_driving``
(``experiments/case_*.toml``); writes ``case_NAME.pdf`` for the paper and ``case_NAME.png`` for the README's
gallery. Each figure has four panels, one bar per policy: mean and 95th-percentile response time of the
completed jobs, the deadline-miss rate (1 - SLO attainment: jobs with a deadline that missed it, abandoned ones
included) and the energy of all nodes, each the mean over replications with its 95 % t-interval.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from _common import parse_arguments, plt, results_dir, save, style
from matplotlib.figure import Figure

from simulator.runner import load_results, summarize

CASES = (("case_speech", "Speech recognition"), ("case_medical", "Medical diagnosis"),
         ("case_traffic", "Intelligent traffic"), ("case_driving", "Autonomous driving"))
"""The case studies' experiments (``experiments/NAME.toml``) and their titles, in the order of the paper."""
CASE_POLICY_LABELS = {"least_loaded": "Least loaded", "min_completion_time": "MCT", "heft": "HEFT",
                      "ga": "GA (batch)", "pso": "PSO (batch)", "nsga2": "NSGA-II (batch)", "drl": "DRL (cloned HEFT)"}
FAMILY_COLORS = {"least_loaded": "tab:blue", "min_completion_time": "tab:cyan", "heft": "tab:orange",
                 "ga": "tab:green", "pso": "yellowgreen", "nsga2": "darkgreen", "drl": "tab:red"}
METRICS = ("response_time_mean_s", "response_time_p95_s", "slo_attainment", "energy_j", "sim_wall_s")
PANELS = (("response_time_mean_s", "mean response (s)", 1.0), ("response_time_p95_s", "p95 response (s)", 1.0),
          ("deadline_miss", "deadline missed (%)", 100.0), ("energy_j", "energy (kJ)", 1e-3))
GALLERY_DPI = 110


def case_summary(args: argparse.Namespace, experiment: str) -> tuple[pd.DataFrame, list[str]]:
    """One row per policy: the metrics' means and t-intervals, plus ``deadline_miss`` = 1 - SLO attainment."""
    results = load_results(results_dir(args, experiment))
    summary = summarize(results, list(METRICS)).set_index("policy")
    summary["deadline_miss_mean"] = 1.0 - summary["slo_attainment_mean"]
    summary["deadline_miss_ci_low"] = 1.0 - summary["slo_attainment_ci_high"]
    summary["deadline_miss_ci_high"] = 1.0 - summary["slo_attainment_ci_low"]
    return summary, [policy for policy in results.policies if policy in summary.index]


def draw_case(args: argparse.Namespace, experiment: str, title: str) -> int:
    summary, policies = case_summary(args, experiment)
    figure, axes = plt.subplots(1, len(PANELS), figsize=(7.0, 1.9), sharey=True)
    positions = np.arange(len(policies))[::-1]
    for axis, (metric, label, scale) in zip(axes, PANELS, strict=True):
        means = summary.loc[policies, f"{metric}_mean"].to_numpy(dtype=float) * scale
        low = summary.loc[policies, f"{metric}_ci_low"].to_numpy(dtype=float) * scale
        high = summary.loc[policies, f"{metric}_ci_high"].to_numpy(dtype=float) * scale
        # a single replication has no interval (NaN): no error bar
        errors = np.nan_to_num(np.vstack([means - low, high - means]), nan=0.0).clip(min=0.0)
        axis.barh(positions, means, xerr=errors, color=[FAMILY_COLORS.get(p, "gray") for p in policies],
                  error_kw={"elinewidth": 0.8, "capsize": 2})
        axis.set_xlabel(label)
        axis.set_xlim(left=0.0)
        axis.grid(axis="y", visible=False)
    axes[0].set_yticks(positions, [CASE_POLICY_LABELS.get(p, p) for p in policies])
    figure.suptitle(title, fontsize=8, y=1.0)
    return save_both(figure, args, experiment)


def save_both(figure: Figure, args: argparse.Namespace, experiment: str) -> int:
    """The PDF for the paper and a small PNG for the README's gallery, from the same figure."""
    figure.tight_layout()
    png = args.out / f"{experiment}.png"
    figure.savefig(png, dpi=GALLERY_DPI)
    print(f"wrote {png}")
    return save(figure, args, f"{experiment}.pdf")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    for experiment, title in CASES:
        if draw_case(args, experiment, title):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
