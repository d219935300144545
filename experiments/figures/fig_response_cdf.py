"""Figure: distribution of job response times per policy on the demo at a low and a high arrival rate.

Reads ``results/load_sweep``; writes ``response_cdf.pdf``. Each run stores its response-time quantiles;
the curves average them over replications (Vincentized CDF).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import POLICY_LABELS, parse_arguments, plt, results_dir, save, style
from matplotlib.ticker import NullFormatter

from simulator.runner import load_results

RATE = "arrivals.clips.rate_per_s"
CAMERAS = 6


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    results = load_results(results_dir(args, "load_sweep"))
    quantiles = results.response_quantiles
    levels = sorted(quantiles[RATE].unique())
    shown = [levels[0], levels[-1]] if len(levels) > 1 else levels
    figure, axes = plt.subplots(1, len(shown), figsize=(7.0, 2.3), sharey=True, squeeze=False)
    for axis, level in zip(axes[0], shown, strict=True):
        part = quantiles[quantiles[RATE] == level]
        for index, policy in enumerate(results.policies):
            curve = part[part["policy"] == policy].groupby("probability")["response_s"].mean()
            axis.plot(curve.to_numpy(), curve.index.to_numpy(), color=f"C{index}", linewidth=1,
                      label=POLICY_LABELS.get(policy, policy))
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("job response time (s)")
        axis.set_title(f"{level * CAMERAS:g} jobs/s")
    axes[0, 0].set_ylabel("fraction of jobs")
    axes[0, 0].legend(frameon=False)
    return save(figure, args, "response_cdf.pdf")


if __name__ == "__main__":
    sys.exit(main())
