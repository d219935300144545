"""Figure: stability and 95th-percentile response time of each policy against the edge servers' MTBF, one
column of panels per recovery variant (no retries, retries, retries + rebalancing, retries + work stealing).

Reads ``results/failures_sweep`` (``experiments/failures_sweep.toml``); writes ``failures_mtbf.pdf``: the mean
over replications with its 95 % t-interval as a band. Stability is 1 - (failed + abandoned jobs) / arrived
jobs; the response time is over completed jobs only.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

from _common import POLICY_LABELS, parse_arguments, plt, results_dir, save, style

from simulator.runner import load_results, summarize
from simulator.runner.figures import plot_metric_vs_factor

MTBF = "nodes.edge.failures.time_to_failure.mean_s"
VARIANT = "recovery_variant"
VARIANT_TITLES = {"none": "no retries", "retries": "retries", "rebalancing": "retries + rebalancing",
                  "stealing": "retries + work stealing"}
METRICS = (("stability", "stability"), ("response_time_p95_s", "p95 response time (s)"))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    results = load_results(results_dir(args, "failures_sweep"))
    summary = summarize(results, [metric for metric, _ in METRICS])
    variants = list(dict.fromkeys(results.runs[VARIANT]))
    figure, axes = plt.subplots(len(METRICS), len(variants), figsize=(7.0, 3.6), sharex=True, sharey="row",
                                squeeze=False)
    for column, variant in enumerate(variants):
        for row, (metric, label) in enumerate(METRICS):
            axis = plot_metric_vs_factor(results, summary, metric, MTBF, where={VARIANT: variant},
                                         ax=axes[row, column])
            axis.set_xscale("log")
            axis.set_xlabel("edge server MTBF (s)" if row == len(METRICS) - 1 else "")
            axis.set_ylabel(label if column == 0 else "")
        axes[0, column].set_title(VARIANT_TITLES.get(variant, variant))
    # a t-interval band of a fraction or of a time can leave [0, 1] or [0, inf); the axes stay inside
    lowest = summary[["stability_mean", "stability_ci_low"]].min(skipna=True).min(skipna=True)
    if not math.isnan(lowest):
        bottom = min(max(0.0, float(lowest)), 0.99)
        axes[0, 0].set_ylim(bottom, 1.0 + 0.03 * (1.0 - bottom))
    axes[1, 0].set_ylim(bottom=0.0)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, [POLICY_LABELS.get(label, label) for label in labels], loc="lower center",
                  bbox_to_anchor=(0.5, 1.0), ncol=len(labels), frameon=False)
    return save(figure, args, "failures_mtbf.pdf")


if __name__ == "__main__":
    sys.exit(main())
