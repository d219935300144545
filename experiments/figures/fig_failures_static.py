"""Figure: stability and mean response time of a static plan and of dynamic allocation against the edge servers'
MTBF on the failing edge-cloud demo.

Reads ``results/failures_static_dynamic`` (``experiments/failures_static_dynamic.toml``); writes
``failures_static.pdf``: one line per allocation (the static plan; redispatch and redispatch + work stealing
under each policy), the mean over replications with its 95 % t-interval as a band. Stability is
1 - (failed + abandoned jobs) / arrived jobs; the response time is over completed jobs only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pandas as pd
from _common import POLICY_LABELS, parse_arguments, plt, results_dir, save, style
from fig_failures import MTBF

from simulator.runner import load_results, summarize

ALLOCATION = "allocation"
ALLOCATION_LABELS = {"static_plan": "static plan", "redispatch": "redispatch", "stealing": "redispatch + stealing"}
METRICS = (("stability", "stability"), ("response_time_mean_s", "mean response time (s)"))


def series(summary: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows sorted by MTBF) per allocation, and per policy for the dynamic ones."""
    lines = []
    for allocation in dict.fromkeys(summary[ALLOCATION]):
        part = summary[summary[ALLOCATION] == allocation]
        for policy in dict.fromkeys(part["policy"]):
            label = ALLOCATION_LABELS.get(allocation, allocation)
            if allocation != "static_plan":
                label = f"{POLICY_LABELS.get(policy, policy)}, {label}"
            lines.append((label, part[part["policy"] == policy].sort_values(MTBF)))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    results = load_results(results_dir(args, "failures_static_dynamic"))
    summary = summarize(results, [metric for metric, _ in METRICS])
    figure, axes = plt.subplots(1, len(METRICS), figsize=(7.0, 2.6), sharex=True)
    for axis, (metric, label) in zip(axes, METRICS, strict=True):
        for index, (name, rows) in enumerate(series(summary)):
            colour = "black" if index == 0 else f"C{index - 1}"
            x = rows[MTBF].to_numpy(dtype=float)
            axis.plot(x, rows[f"{metric}_mean"], marker="o", markersize=3, color=colour, label=name,
                      linestyle="-" if "stealing" not in name else "--")
            axis.fill_between(x, rows[f"{metric}_ci_low"].to_numpy(dtype=float),
                              rows[f"{metric}_ci_high"].to_numpy(dtype=float), color=colour, alpha=0.15, linewidth=0)
        axis.set_xscale("log")
        axis.set_xlabel("edge server MTBF (s)")
        axis.set_ylabel(label)
    axes[0].set_ylim(top=1.02)  # a t-interval band of a fraction can leave [0, 1]; the axis stays inside
    axes[1].set_ylim(bottom=0.0)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    return save(figure, args, "failures_static.pdf")


if __name__ == "__main__":
    sys.exit(main())
