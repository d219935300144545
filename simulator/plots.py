"""Figures drawn from result tables (never from inside the engine)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_policy_comparison(runs: pd.DataFrame, utilization: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Response time (mean and p95, with 95% intervals over replications) per policy, and per-node utilization.

    Args:
        runs: One row per run with columns ``policy``, ``response_time_mean_s``, ``response_time_p95_s``.
        utilization: One row per (run, node) with columns ``policy``, ``node``, ``utilization``.
        path: Where to write the figure (PNG or PDF by suffix).
    """
    from scipy import stats

    policies = list(dict.fromkeys(runs["policy"]))
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1.4]})
    width = 0.38
    positions = np.arange(len(policies))
    for offset, (column, label) in enumerate((("response_time_mean_s", "mean"), ("response_time_p95_s", "p95"))):
        groups = [runs.loc[runs["policy"] == p, column].to_numpy() for p in policies]
        means = [g.mean() for g in groups]
        half_widths = [
            stats.t.ppf(0.975, len(g) - 1) * g.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else 0.0 for g in groups
        ]
        left.bar(positions + (offset - 0.5) * width, means, width, yerr=half_widths, capsize=3, label=label)
    left.set_xticks(positions, policies, rotation=20, ha="right")
    left.set_ylabel("job response time (s)")
    left.set_title("Response time (95% CI over replications)")
    left.legend()

    table = utilization.pivot_table(index="policy", columns="node", values="utilization", aggfunc="mean", sort=False)
    table = table.reindex(policies)
    image = right.imshow(table.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    right.set_yticks(range(len(table.index)), table.index)
    right.set_xticks(range(len(table.columns)), table.columns, rotation=60, ha="right", fontsize=7)
    right.set_title("Per-node utilization")
    figure.colorbar(image, ax=right, label="utilization")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return path
