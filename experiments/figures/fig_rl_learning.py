"""Figure: the learning curve of each shipped agent (issue 12's benchmarks), against the heuristics.

Reads the committed ``experiments/rl/results/NAME/learning_curve.csv`` (written by ``experiments/rl/benchmark.py``
while it trained the agent: the mean response time of the training episodes ended in each interval) and
``training_reference.csv`` (the heuristics on episodes of the same length); writes ``rl_learning_curves.pdf``,
one panel per benchmark that has been trained. Nothing is retrained: ``make figures`` only draws.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pandas as pd
from _common import REPOSITORY, parse_arguments, plt, save, style
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

sys.path.insert(0, str(REPOSITORY / "experiments" / "rl"))
from suite import BENCHMARKS, METRIC, Benchmark

REFERENCES = 2
"""Heuristics drawn as reference lines: the best ones on the training episodes."""


def draw(axis: Axes, item: Benchmark) -> None:
    """The training episodes' mean response time against timesteps, and the best heuristics' means."""
    curve = pd.read_csv(item.learning_curve_csv).dropna(subset=["mean_response_time_s"])
    if len(curve):
        axis.plot(curve["timesteps"], curve["mean_response_time_s"], color="C0", linewidth=1,
                  label="agent (training, sampled actions)")
    else:  # an agent that only cloned a heuristic: no RL episode to draw
        axis.text(0.5, 0.5, f"imitation of {item.imitate} only:\nno RL training", transform=axis.transAxes,
                  ha="center", va="center", fontsize=7)
    if item.reference_csv.exists():
        reference = pd.read_csv(item.reference_csv).groupby("policy", sort=False)[METRIC].mean().sort_values()
        for index, (policy, mean) in enumerate(reference.head(REFERENCES).items()):
            axis.axhline(mean, color=f"C{index + 1}", linestyle="--", linewidth=0.8, label=str(policy))
    axis.set_yscale("log")
    axis.set_title(item.title)
    axis.set_xlabel("training decisions (thousands)")
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / 1000:g}"))
    axis.legend(frameon=False, fontsize=6)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    trained = [item for item in BENCHMARKS if item.learning_curve_csv.exists()]
    if not trained:
        print("no learning curve in experiments/rl/results: run experiments/rl/benchmark.py first; "
              "rl_learning_curves.pdf not written")
        return 0
    figure, axes = plt.subplots(1, len(trained), figsize=(2.5 * len(trained), 2.5), squeeze=False)
    for axis, item in zip(axes[0], trained, strict=True):
        draw(axis, item)
    axes[0][0].set_ylabel("mean response time (s)")
    return save(figure, args, "rl_learning_curves.pdf")


if __name__ == "__main__":
    sys.exit(main())
