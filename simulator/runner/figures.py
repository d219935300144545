"""The standard figures of a sweep, drawn from its result tables (never from inside the engine).

* ``metrics_vs_<factor>``: each metric against a factor, one line per policy, with the t-interval as a band;
  one row of panels per combination of the other factors.
* ``response_cdf``: the distribution of job response times per policy, at up to four levels of the factor
  (the quantile functions of the replications averaged, i.e. Vincentized).
* ``utilization_heatmap``: mean utilization per (policy, node), at up to four levels of the factor.
* ``policy_ranking``: each policy's mean rank over the factor combinations on one metric, with its wins.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from simulator.runner.report import summarize
from simulator.runner.results import Results, load_results
from simulator.user_files import user_output, writable_directory, write_atomically

__all__ = ["HIGHER_IS_BETTER", "choose_factor", "draw_standard_figures", "plot_metrics_vs_factor",
           "plot_policy_ranking", "plot_response_cdfs", "plot_utilization_heatmaps"]

FIGURE_METRICS = ("response_time_mean_s", "response_time_p95_s", "throughput_per_s", "utilization_mean")
HIGHER_IS_BETTER = frozenset({"throughput_per_s", "slo_attainment", "jain_fairness", "jobs_completed",
                              "tasks_completed", "utilization_mean"})
"""Metrics where a larger value ranks better (for every other metric, smaller is better)."""

LABELS = {
    "response_time_mean_s": "mean response time (s)", "response_time_p95_s": "p95 response time (s)",
    "response_time_p99_s": "p99 response time (s)", "throughput_per_s": "throughput (jobs/s)",
    "utilization_mean": "mean utilization", "slo_attainment": "SLO attainment", "energy_j": "energy (J)",
    "load_variance": "load variance",
}


def _levels(results: Results, factor: str) -> list[Any]:
    for entry in results.manifest.get("factors", []):
        if entry["name"] == factor:
            return list(entry["levels"])
    return list(dict.fromkeys(results.runs[factor]))


def choose_factor(results: Results) -> str | None:
    """The factor to put on the x axis: the first with several numeric levels, else the first with several."""
    varying = [f for f in results.factors if len(_levels(results, f)) > 1]
    numeric = [f for f in varying if all(isinstance(v, int | float) and not isinstance(v, bool)
                                         for v in _levels(results, f))]
    candidates = numeric or varying
    return candidates[0] if candidates else None


def _save(figure: Any, path: Path) -> Path:
    """Write the figure atomically (format from the file's suffix) and close it."""
    try:
        write_atomically(path, lambda temporary: figure.savefig(temporary, format=path.suffix.lstrip(".") or None,
                                                                dpi=130, bbox_inches="tight"))
    finally:
        plt.close(figure)
    return path


def _others(results: Results, factor: str | None) -> list[dict[str, Any]]:
    """Every combination of the factors other than ``factor`` (one empty dict when there are none)."""
    names = [f for f in results.factors if f != factor]
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(_levels(results, f) for f in names))] or [{}]


def _select(table: pd.DataFrame, levels: dict[str, Any]) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for name, value in levels.items():
        mask &= (table[name] == value).to_numpy()
    return table[mask]


def _title(levels: dict[str, Any]) -> str:
    return ", ".join(f"{name.rsplit('.', 1)[-1]}={value}" for name, value in levels.items())


def plot_metrics_vs_factor(results: Results, summary: pd.DataFrame, factor: str | None, path: str | Path,
                           metrics: Sequence[str] = FIGURE_METRICS) -> Path:
    """Each metric against ``factor``, a line per policy and a band for its interval (bars if no factor)."""
    metrics = [m for m in metrics if f"{m}_mean" in summary.columns]
    rows = _others(results, factor)[:6]
    figure, axes = plt.subplots(len(rows), len(metrics), figsize=(3.6 * len(metrics), 2.9 * len(rows)),
                                squeeze=False)
    colours = {p: f"C{i % 10}" for i, p in enumerate(results.policies)}
    for r, levels in enumerate(rows):
        part = _select(summary, levels)
        for c, metric in enumerate(metrics):
            axis = axes[r, c]
            if factor is None:
                positions = np.arange(len(results.policies))
                values = [part.loc[part["policy"] == p, f"{metric}_mean"] for p in results.policies]
                means = [float(v.iloc[0]) if len(v) else math.nan for v in values]
                highs = [part.loc[part["policy"] == p, f"{metric}_ci_high"] for p in results.policies]
                errors = [float(h.iloc[0]) - m if len(h) and not math.isnan(float(h.iloc[0])) else 0.0
                          for h, m in zip(highs, means, strict=True)]
                axis.bar(positions, means, yerr=errors, capsize=3,
                         color=[colours[p] for p in results.policies])
                axis.set_xticks(positions, results.policies, rotation=30, ha="right", fontsize=7)
            else:
                for policy in results.policies:
                    line = part[part["policy"] == policy].sort_values(factor)
                    if line.empty:
                        continue
                    x = line[factor].to_numpy()
                    axis.plot(x, line[f"{metric}_mean"], marker="o", markersize=3, color=colours[policy],
                              label=policy)
                    axis.fill_between(x, line[f"{metric}_ci_low"].to_numpy(dtype=float),
                                      line[f"{metric}_ci_high"].to_numpy(dtype=float), color=colours[policy],
                                      alpha=0.2, linewidth=0)
                axis.set_xlabel(factor)
            axis.set_ylabel(LABELS.get(metric, metric), fontsize=8)
            if levels and c == 0:
                axis.set_title(_title(levels), fontsize=8, loc="left")
    if factor is not None:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="upper center", ncol=min(6, len(labels)), fontsize=8,
                      bbox_to_anchor=(0.5, 1.02))
    figure.suptitle(f"{results.name}: mean and 95% t-interval over replications", y=1.06 if factor else 1.0,
                    fontsize=10)
    figure.tight_layout()
    return _save(figure, Path(path))


def _panel_levels(results: Results, factor: str | None, most: int = 4) -> list[Any]:
    if factor is None:
        return [None]
    levels = _levels(results, factor)
    if len(levels) <= most:
        return levels
    picks = np.linspace(0, len(levels) - 1, most).round().astype(int)
    return [levels[i] for i in dict.fromkeys(picks.tolist())]


def plot_response_cdfs(results: Results, factor: str | None, path: str | Path) -> Path:
    """Response-time CDF per policy (replications' quantile functions averaged) at up to 4 factor levels;
    other factors at their first level."""
    table = results.response_quantiles
    levels = _panel_levels(results, factor)
    figure, axes = plt.subplots(1, len(levels), figsize=(3.8 * len(levels), 3.2), squeeze=False, sharey=True)
    fixed = _others(results, factor)[0]
    for axis, level in zip(axes[0], levels, strict=True):
        part = _select(table, fixed) if not table.empty else table
        if factor is not None and not part.empty:
            part = part[part[factor] == level]
        for i, policy in enumerate(results.policies):
            rows = part[part["policy"] == policy] if not part.empty else part
            if rows.empty:
                continue
            curve = rows.groupby("probability")["response_s"].mean()
            axis.plot(curve.to_numpy(), curve.index.to_numpy(), color=f"C{i % 10}", label=policy)
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("job response time (s)")
        axis.set_title(f"{factor.rsplit('.', 1)[-1]} = {level}" if factor else results.name, fontsize=9)
        axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel("fraction of jobs")
    axes[0, 0].legend(fontsize=7)
    if fixed:
        figure.suptitle(_title(fixed), fontsize=8)
    figure.tight_layout()
    return _save(figure, Path(path))


def plot_utilization_heatmaps(results: Results, factor: str | None, path: str | Path) -> Path:
    """Mean utilization per (policy, node) at up to 4 factor levels; other factors at their first level."""
    table = results.node_utilization
    levels = _panel_levels(results, factor)
    fixed = _others(results, factor)[0]
    n_nodes = table["node"].nunique() if not table.empty else 1
    figure, axes = plt.subplots(1, len(levels), figsize=(max(3.5, 0.35 * n_nodes + 2.0) * len(levels),
                                                         0.4 * len(results.policies) + 2.0), squeeze=False)
    image = None
    for column, (axis, level) in enumerate(zip(axes[0], levels, strict=True)):
        part = _select(table, fixed) if not table.empty else table
        if factor is not None and not part.empty:
            part = part[part[factor] == level]
        if part.empty:
            axis.set_axis_off()
            continue
        grid = part.pivot_table(index="policy", columns="node", values="utilization", aggfunc="mean", sort=False)
        grid = grid.reindex([p for p in results.policies if p in grid.index])
        image = axis.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
        axis.set_yticks(range(len(grid.index)), grid.index if column == 0 else [], fontsize=7)
        axis.set_xticks(range(len(grid.columns)), grid.columns, rotation=60, ha="right", fontsize=6)
        axis.set_title(f"{factor.rsplit('.', 1)[-1]} = {level}" if factor else results.name, fontsize=9)
    if image is not None:
        figure.colorbar(image, ax=list(axes[0]), label="utilization")
    return _save(figure, Path(path))


def plot_policy_ranking(results: Results, summary: pd.DataFrame, metric: str, path: str | Path) -> Path:
    """Mean rank (1 = best) of each policy over all factor combinations on ``metric``; wins annotated."""
    column = f"{metric}_mean"
    keys = [*results.factors] or ["_all"]
    table = summary.assign(_all=0)
    ranks = table.groupby(keys, sort=False)[column].rank(ascending=metric not in HIGHER_IS_BETTER, method="average")
    table = table.assign(rank=ranks)
    per_policy = table.groupby("policy", sort=False)["rank"].agg(["mean", "min", "max"])
    wins = table[table["rank"] == 1].groupby("policy").size()
    per_policy = per_policy.reindex([p for p in results.policies if p in per_policy.index])
    figure, axis = plt.subplots(figsize=(1.0 * len(per_policy) + 2.5, 3.2))
    positions = np.arange(len(per_policy))
    axis.bar(positions, per_policy["mean"], color=[f"C{results.policies.index(p) % 10}" for p in per_policy.index],
             yerr=[per_policy["mean"] - per_policy["min"], per_policy["max"] - per_policy["mean"]], capsize=3)
    for x, policy in zip(positions, per_policy.index, strict=True):
        axis.annotate(f"{int(wins.get(policy, 0))} wins", (x, 0.05), ha="center", fontsize=7, color="white")
    axis.set_xticks(positions, per_policy.index, rotation=30, ha="right", fontsize=8)
    axis.set_ylabel("mean rank (1 = best)")
    axis.set_title(f"{results.name}: ranking on {LABELS.get(metric, metric)} over "
                   f"{len(table.groupby(keys, sort=False))} combinations", fontsize=9)
    figure.tight_layout()
    return _save(figure, Path(path))


def draw_standard_figures(results_dir: str | Path, out: str | Path | None = None, factor: str | None = None,
                          metric: str = "response_time_mean_s", file_format: str = "png") -> list[Path]:
    """Draw the four standard figures of a result directory into ``out`` (default ``results_dir/figures``).

    Args:
        results_dir: A sweep's result directory.
        out: Where figures go.
        factor: The factor on the x axis; default: `choose_factor`.
        metric: The metric of the policy ranking.
        file_format: ``png``, ``pdf`` or ``svg``.
    """
    from simulator.runner.errors import ExperimentError

    results = load_results(results_dir)
    if (results.runs["status"] != "ok").all():
        raise ExperimentError([f"{results_dir}: no finished run to draw"])
    if factor is not None and factor not in results.factors:
        raise ExperimentError([f"--x {factor!r} is not a factor of {results.name}; factors: "
                               f"{', '.join(results.factors) or '(none)'}"])
    if metric not in results.metrics:
        raise ExperimentError([f"--metric {metric!r} is not a metric of the runs; metrics: "
                               f"{', '.join(results.metrics)}"])
    factor = factor or choose_factor(results)
    option = "--out" if out is not None else "the figure directory (write elsewhere with --out)"
    out_dir = writable_directory(Path(out) if out is not None else Path(results_dir) / "figures", option)
    summary = summarize(results)
    slug = factor.rsplit(".", 1)[-1] if factor else "policy"
    with user_output(out_dir, option):
        return [
            plot_metrics_vs_factor(results, summary, factor, out_dir / f"metrics_vs_{slug}.{file_format}"),
            plot_response_cdfs(results, factor, out_dir / f"response_cdf.{file_format}"),
            plot_utilization_heatmaps(results, factor, out_dir / f"utilization_heatmap.{file_format}"),
            plot_policy_ranking(results, summary, metric, out_dir / f"policy_ranking.{file_format}"),
        ]
