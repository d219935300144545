"""Figure: mean response time of the detector ensemble against how many detectors the vote waits for (all, 3, 2,
any): per protocol with direct transfers, and per transport (direct, chunked, streaming, through a broker)
without a protocol; compression off and on in both.

Reads ``results/communication`` (``experiments/communication.toml``) and ``results/communication_broker``
(``experiments/communication_broker.toml``); writes ``communication.pdf``: the mean over replications with its
95 % t-interval as an error bar; colour: protocol or transport, line style: compression.
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
EXPERIMENTS = ("communication", "communication_broker")
PROTOCOL_LABELS = {"none": "no protocol", "grpc": "gRPC-like", "http": "HTTP/JSON-like"}
TRANSPORT_LABELS = {"direct": "direct", "chunked": "4 chunks", "streaming": "4 chunks, streaming",
                    "broker": "through a broker"}
METRIC = "response_time_mean_s"


def join_label(level: object) -> str:
    return str(level) if isinstance(level, str) else f"k = {level}"


def communication_summary(args: argparse.Namespace, metrics: Sequence[str]) -> tuple[pd.DataFrame, list[object]]:
    """Both sweeps' summaries in one table, with a column ``join_position`` (the join levels in the experiment's
    order, strings and integers mixed), and those levels."""
    summaries = []
    joins: list[object] = []
    for experiment in EXPERIMENTS:
        results = load_results(results_dir(args, experiment))
        joins += [level for level in dict.fromkeys(results.runs[JOIN]) if level not in joins]
        summaries.append(summarize(results, list(metrics)))
    summary = pd.concat(summaries, ignore_index=True)
    position = {join_label(level): index for index, level in enumerate(joins)}
    summary["join_position"] = [position[join_label(level)] for level in summary[JOIN]]
    return summary, joins


def draw(axis: plt.Axes, rows: pd.DataFrame, colour: str, compression: str, label: str) -> None:
    rows = rows.sort_values("join_position")
    mean = rows[f"{METRIC}_mean"].to_numpy(dtype=float)
    errors = np.nan_to_num(np.vstack([mean - rows[f"{METRIC}_ci_low"].to_numpy(dtype=float),
                                      rows[f"{METRIC}_ci_high"].to_numpy(dtype=float) - mean]))
    axis.errorbar(rows["join_position"], mean, yerr=errors, marker="o", markersize=3, capsize=2, color=colour,
                  linestyle="-" if compression == "off" else "--", label=f"{label}, compression {compression}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    summary, joins = communication_summary(args, [METRIC])
    figure, axes = plt.subplots(1, 2, figsize=(7.0, 3.4), sharex=True, sharey=True)
    direct = summary[summary["transport"] == "direct"]
    for colour, protocol in enumerate(dict.fromkeys(direct["protocol"])):
        for compression in dict.fromkeys(direct["compression"]):
            rows = direct[(direct["protocol"] == protocol) & (direct["compression"] == compression)]
            draw(axes[0], rows, f"C{colour}", compression, PROTOCOL_LABELS.get(protocol, protocol))
    bare = summary[summary["protocol"] == "none"]
    for colour, transport in enumerate(dict.fromkeys(bare["transport"])):
        for compression in dict.fromkeys(bare["compression"]):
            rows = bare[(bare["transport"] == transport) & (bare["compression"] == compression)]
            draw(axes[1], rows, f"C{colour + 3}" if colour else "C0", compression,
                 TRANSPORT_LABELS.get(transport, transport))
    axes[0].set_title("direct transfers, per protocol")
    axes[1].set_title("no protocol, per transport")
    for axis in axes:
        axis.set_xticks(range(len(joins)), [join_label(level) for level in joins])
        axis.set_xlabel("the vote waits for")
        axis.set_ylim(bottom=0.0)
        axis.legend(frameon=False, fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    axes[0].set_ylabel("mean response time (s)")
    return save(figure, args, "communication.pdf")


if __name__ == "__main__":
    sys.exit(main())
