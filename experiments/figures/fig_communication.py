"""Figure: mean and 95th-percentile response time of the detector ensemble against how many detectors the vote
waits for (all, 3, 2, any), per protocol, with compression off and on.

Reads ``results/communication`` (``experiments/communication.toml``); writes ``communication.pdf``: the mean
over replications with its 95 % t-interval as an error bar; colour: protocol, line style: compression.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from _common import parse_arguments, plt, results_dir, save, style

from simulator.runner import load_results, summarize

JOIN = "applications.detect.stages.vote.join"
PROTOCOL_LABELS = {"none": "no protocol", "grpc": "gRPC-like", "http": "HTTP/JSON-like"}
METRICS = (("response_time_mean_s", "mean response time (s)"), ("response_time_p95_s", "p95 response time (s)"))


def join_label(level: object) -> str:
    return str(level) if isinstance(level, str) else f"k = {level}"


def communication_summary(args: argparse.Namespace, metrics: Sequence[str]) -> tuple[pd.DataFrame, list[object]]:
    """The sweep's summary and its join levels in the experiment's order (strings and integers mixed)."""
    results = load_results(results_dir(args, "communication"))
    return summarize(results, list(metrics)), list(dict.fromkeys(results.runs[JOIN]))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    summary, joins = communication_summary(args, [metric for metric, _ in METRICS])
    position = {join_label(level): index for index, level in enumerate(joins)}
    summary["join_position"] = [position[join_label(level)] for level in summary[JOIN]]
    figure, axes = plt.subplots(1, len(METRICS), figsize=(7.0, 2.6), sharex=True)
    for axis, (metric, label) in zip(axes, METRICS, strict=True):
        for colour, protocol in enumerate(dict.fromkeys(summary["protocol"])):
            for compression in dict.fromkeys(summary["compression"]):
                rows = summary[(summary["protocol"] == protocol) & (summary["compression"] == compression)]
                rows = rows.sort_values("join_position")
                mean = rows[f"{metric}_mean"].to_numpy(dtype=float)
                errors = np.nan_to_num(np.vstack([mean - rows[f"{metric}_ci_low"].to_numpy(dtype=float),
                                                  rows[f"{metric}_ci_high"].to_numpy(dtype=float) - mean]))
                axis.errorbar(rows["join_position"], mean, yerr=errors, marker="o", markersize=3, capsize=2,
                              color=f"C{colour}", linestyle="-" if compression == "off" else "--",
                              label=f"{PROTOCOL_LABELS.get(protocol, protocol)}, compression {compression}")
        axis.set_xticks(range(len(joins)), [join_label(level) for level in joins])
        axis.set_xlabel("the vote waits for")
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0.0)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    return save(figure, args, "communication.pdf")


if __name__ == "__main__":
    sys.exit(main())
