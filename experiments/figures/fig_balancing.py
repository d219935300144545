"""Figure: mean and 95th-percentile response time and load variance of the balancing strategies against the load
(medical diagnosis case study).

Reads ``results/balancing`` (``experiments/balancing.toml``); writes ``balancing.pdf``: the mean over
replications with its 95 % t-interval as a band; response times on a log scale. Load variance is the variance
of the nodes' utilizations.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import parse_arguments, plt, results_dir, save, style

from simulator.runner import load_results, summarize

LOAD = "load"
BALANCING_LABELS = {"capacity_proportional": "Capacity-proportional (equal load)",
                    "least_loaded": "Least loaded (equal load)", "stf": "Shortest task first (batch)",
                    "weighted_balance": "Weighted balance"}
METRICS = (("response_time_mean_s", "mean response time (s)"), ("response_time_p95_s", "p95 response time (s)"),
           ("load_variance", "load variance (utilization$^2$)"))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    results = load_results(results_dir(args, "balancing"))
    summary = summarize(results, [metric for metric, _ in METRICS])
    figure, axes = plt.subplots(1, len(METRICS), figsize=(7.0, 2.3))
    for axis, (metric, label) in zip(axes, METRICS, strict=True):
        for index, policy in enumerate(results.policies):
            part = summary[summary["policy"] == policy].sort_values(LOAD)
            load = part[LOAD].to_numpy(dtype=float)
            axis.plot(load, part[f"{metric}_mean"], marker="o", markersize=2.5, linewidth=1, color=f"C{index}",
                      label=BALANCING_LABELS.get(policy, policy))
            axis.fill_between(load, part[f"{metric}_ci_low"].to_numpy(dtype=float),
                              part[f"{metric}_ci_high"].to_numpy(dtype=float), color=f"C{index}", alpha=0.2,
                              linewidth=0)
        axis.set_xlabel("load (x the case's arrival rates)")
        axis.set_ylabel(label)
        if metric.startswith("response_time"):  # an overloaded strategy's times are orders of magnitude longer
            axis.set_yscale("log")
        else:
            axis.set_ylim(bottom=0.0)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels), frameon=False)
    return save(figure, args, "balancing.pdf")


if __name__ == "__main__":
    sys.exit(main())
