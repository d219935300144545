"""Figure: mean and 95th-percentile response time of each policy against the total arrival rate (demo).

Reads ``results/load_sweep`` (``experiments/load_sweep.toml``); writes ``policy_load.pdf``: the mean over
replications with its 95 % t-interval as a band.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import POLICY_LABELS, parse_arguments, plt, results_dir, save, style

from simulator.runner import load_results, summarize

RATE = "arrivals.clips.rate_per_s"
CAMERAS = 6  # one Poisson stream per camera in scenarios/demo_edge_cloud.toml


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    results = load_results(results_dir(args, "load_sweep"))
    summary = summarize(results, ["response_time_mean_s", "response_time_p95_s", "utilization_mean"])
    metrics = [("response_time_mean_s", "mean response time (s)"),
               ("response_time_p95_s", "95th percentile response time (s)"),
               ("utilization_mean", "mean node utilization")]
    figure, axes = plt.subplots(1, len(metrics), figsize=(7.0, 2.3))
    for axis, (metric, label) in zip(axes, metrics, strict=True):
        for index, policy in enumerate(results.policies):
            part = summary[summary["policy"] == policy].sort_values(RATE)
            rate = part[RATE].to_numpy() * CAMERAS
            axis.plot(rate, part[f"{metric}_mean"], marker="o", markersize=2.5, linewidth=1, color=f"C{index}",
                      label=POLICY_LABELS.get(policy, policy))
            axis.fill_between(rate, part[f"{metric}_ci_low"].to_numpy(dtype=float),
                              part[f"{metric}_ci_high"].to_numpy(dtype=float), color=f"C{index}", alpha=0.2,
                              linewidth=0)
        axis.set_xlabel("arrival rate (jobs/s)")
        axis.set_ylabel(label)
    axes[0].legend(frameon=False)
    return save(figure, args, "policy_load.pdf")


if __name__ == "__main__":
    sys.exit(main())
