"""The standard figures of a sweep, drawn from its result tables (never from inside the engine).

Each ``plot_*`` function draws one panel onto ``ax`` (default: pyplot's current axes, as pandas and seaborn
do) and returns it, so it fits a notebook cell or a figure of the user's own. `draw_standard_figures` composes
them into four files:

* ``metrics_vs_<factor>``: each metric against a factor, one line per policy, with the t-interval as a band;
  one row of panels per combination of the other factors (bars per policy when nothing varies).
* ``response_cdf``: the distribution of job response times per policy, at up to four levels of the factor
  (the quantile functions of the replications averaged, i.e. Vincentized).
* ``utilization_heatmap``: mean utilization per (policy, node), at up to four levels of the factor.
* ``policy_ranking``: each policy's mean rank over the factor combinations on one metric, with its wins.

Nothing here chooses a matplotlib backend: the files are drawn on `matplotlib.figure.Figure` objects, which
need none, and a notebook keeps its own.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from simulator.runner.report import summarize
from simulator.runner.results import Results, load_results
from simulator.user_files import user_output, writable_directory, write_atomically

__all__ = ["HIGHER_IS_BETTER", "choose_factor", "draw_standard_figures", "plot_accuracy_vs_latency",
           "plot_metric_vs_factor", "plot_policy_ranking", "plot_response_cdf", "plot_utilization_heatmap"]

logger = logging.getLogger(__name__)

FIGURE_METRICS = ("response_time_mean_s", "response_time_p95_s", "throughput_per_s", "utilization_mean",
                  "accuracy_mean")
"""The metrics figure's panels (those the runs report: ``accuracy_mean`` only in runs with model variants)."""
HIGHER_IS_BETTER = frozenset({"throughput_per_s", "slo_attainment", "jain_fairness", "jobs_completed",
                              "tasks_completed", "utilization_mean", "accuracy_mean"})
"""Metrics where a larger value ranks better (for every other metric, smaller is better)."""

LABELS = {
    "response_time_mean_s": "mean response time (s)", "response_time_p95_s": "p95 response time (s)",
    "response_time_p99_s": "p99 response time (s)", "throughput_per_s": "throughput (jobs/s)",
    "utilization_mean": "mean utilization", "slo_attainment": "SLO attainment", "energy_j": "energy (J)",
    "load_variance": "load variance", "accuracy_mean": "mean accuracy (stated)",
}
PANELS_PER_FIGURE = 4
"""Most factor levels the CDF and heatmap figures show (spread evenly over the levels)."""
ROWS_PER_FIGURE = 6
"""Most combinations of the other factors the metrics figure shows, one row of panels each."""


def _axes(ax: Axes | None) -> Axes:
    """``ax``, or pyplot's current axes (imported only then, so drawing into files never touches pyplot)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.gca()


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


def _fixed(results: Results, where: Mapping[str, Any] | None, free: str | None = None) -> dict[str, Any]:
    """``where`` completed with the first level of every other factor except ``free``."""
    where = dict(where or {})
    return {f: where.get(f, _levels(results, f)[0]) for f in results.factors if f != free}


def _select(table: pd.DataFrame, levels: Mapping[str, Any]) -> pd.DataFrame:
    if table.empty:
        return table
    mask = np.ones(len(table), dtype=bool)
    for name, value in levels.items():
        mask &= (table[name] == value).to_numpy()
    return table[mask]


def _title(levels: Mapping[str, Any]) -> str:
    return ", ".join(f"{name.rsplit('.', 1)[-1]}={value}" for name, value in levels.items())


def _colour(results: Results, policy: str) -> str:
    return f"C{results.policies.index(policy) % 10}"


def plot_metric_vs_factor(results: Results, summary: pd.DataFrame, metric: str, factor: str | None = None, *,
                          where: Mapping[str, Any] | None = None, ax: Axes | None = None) -> Axes:
    """One metric against ``factor``: a line per policy and a band for its t-interval; with no factor, a bar
    per policy and the interval as an error bar.

    Args:
        results: The sweep (policies and factor levels).
        summary: `simulator.runner.report.summarize` of it.
        metric: A metric with ``<metric>_mean`` and ``_ci_low``/``_ci_high`` columns in ``summary``.
        factor: The factor on the x axis.
        where: Levels of the other factors to show; those not named are at their first level.
        ax: Where to draw (default: the current axes).
    """
    ax = _axes(ax)
    part = _select(summary, _fixed(results, where, factor))
    if factor is None:
        positions = np.arange(len(results.policies))
        rows = [part[part["policy"] == p] for p in results.policies]
        means = [float(r[f"{metric}_mean"].iloc[0]) if len(r) else math.nan for r in rows]
        errors = [float(r[f"{metric}_ci_high"].iloc[0]) - m if len(r) else math.nan for r, m in zip(rows, means,
                                                                                                     strict=True)]
        ax.bar(positions, means, yerr=np.nan_to_num(errors), capsize=3,
               color=[_colour(results, p) for p in results.policies])
        ax.set_xticks(positions, results.policies, rotation=30, ha="right", fontsize=7)
    else:
        for policy in results.policies:
            line = part[part["policy"] == policy].sort_values(factor)
            if line.empty:
                continue
            x = line[factor].to_numpy()
            ax.plot(x, line[f"{metric}_mean"], marker="o", markersize=3, color=_colour(results, policy), label=policy)
            ax.fill_between(x, line[f"{metric}_ci_low"].to_numpy(dtype=float),
                            line[f"{metric}_ci_high"].to_numpy(dtype=float), color=_colour(results, policy),
                            alpha=0.2, linewidth=0)
        ax.set_xlabel(factor)
    ax.set_ylabel(LABELS.get(metric, metric), fontsize=8)
    return ax


def plot_accuracy_vs_latency(results: Results, summary: pd.DataFrame, factor: str | None = None, *,
                             where: Mapping[str, Any] | None = None, ax: Axes | None = None) -> Axes:
    """The accuracy/latency trade-off of a sweep with model variants: mean accuracy against mean response time, a
    point per policy (and level of ``factor``, joined by a line in level order) with both t-intervals as error bars.

    Args:
        results: The sweep.
        summary: `simulator.runner.report.summarize` of it (with ``accuracy_mean_*`` columns).
        factor: The factor whose levels are joined per policy (None: one point per policy).
        where: Levels of the other factors to show; those not named are at their first level.
        ax: Where to draw (default: the current axes).
    """
    ax = _axes(ax)
    part = _select(summary, _fixed(results, where, factor))
    for policy in results.policies:
        points = part[part["policy"] == policy]
        if factor is not None:
            points = points.sort_values(factor)
        if points.empty:
            continue
        x = points["response_time_mean_s_mean"].to_numpy(dtype=float)
        y = points["accuracy_mean_mean"].to_numpy(dtype=float)
        x_error = np.nan_to_num(np.abs(np.stack([x - points["response_time_mean_s_ci_low"].to_numpy(dtype=float),
                                                 points["response_time_mean_s_ci_high"].to_numpy(dtype=float) - x])))
        y_error = np.nan_to_num(np.abs(np.stack([y - points["accuracy_mean_ci_low"].to_numpy(dtype=float),
                                                 points["accuracy_mean_ci_high"].to_numpy(dtype=float) - y])))
        ax.errorbar(x, y, xerr=x_error, yerr=y_error, marker="o", markersize=3, capsize=2, linewidth=1,
                    color=_colour(results, policy), label=policy)
    ax.set_xlabel(LABELS["response_time_mean_s"], fontsize=8)
    ax.set_ylabel(LABELS["accuracy_mean"], fontsize=8)
    return ax


def plot_response_cdf(results: Results, *, where: Mapping[str, Any] | None = None,
                      ax: Axes | None = None) -> Axes:
    """Response-time CDF per policy (the replications' quantile functions averaged) at one combination of
    factor levels: ``where``, and the first level of every factor it does not name."""
    ax = _axes(ax)
    levels = _fixed(results, where)
    part = _select(results.response_quantiles, levels)
    for policy in results.policies:
        rows = part[part["policy"] == policy] if not part.empty else part
        if rows.empty:
            logger.debug("%s: no response times of %s at %s", results.name, policy, _title(levels))
            continue
        curve = rows.groupby("probability")["response_s"].mean()
        ax.plot(curve.to_numpy(), curve.index.to_numpy(), color=_colour(results, policy), label=policy)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("job response time (s)")
    ax.set_ylabel("fraction of jobs")
    ax.set_title(_title(levels) or results.name, fontsize=9)
    ax.grid(alpha=0.3)
    return ax


def plot_utilization_heatmap(results: Results, *, where: Mapping[str, Any] | None = None,
                             ax: Axes | None = None) -> Axes:
    """Mean utilization per (policy, node) at one combination of factor levels (as `plot_response_cdf`);
    the image is ``ax.images[0]``, for a colour bar."""
    ax = _axes(ax)
    levels = _fixed(results, where)
    part = _select(results.node_utilization, levels)
    ax.set_title(_title(levels) or results.name, fontsize=9)
    if part.empty:
        logger.debug("%s: no utilization at %s", results.name, _title(levels))
        ax.set_axis_off()
        return ax
    grid = part.pivot_table(index="policy", columns="node", values="utilization", aggfunc="mean", sort=False)
    grid = grid.reindex([p for p in results.policies if p in grid.index])
    ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(grid.index)), grid.index, fontsize=7)
    ax.set_xticks(range(len(grid.columns)), grid.columns, rotation=60, ha="right", fontsize=6)
    return ax


def plot_policy_ranking(results: Results, summary: pd.DataFrame, metric: str, *, ax: Axes | None = None) -> Axes:
    """Mean rank (1 = best) of each policy over all factor combinations on ``metric``; wins annotated."""
    ax = _axes(ax)
    column = f"{metric}_mean"
    keys = [*results.factors] or ["_all"]
    table = summary.assign(_all=0)
    ranks = table.groupby(keys, sort=False)[column].rank(ascending=metric not in HIGHER_IS_BETTER, method="average")
    table = table.assign(rank=ranks)
    per_policy = table.groupby("policy", sort=False)["rank"].agg(["mean", "min", "max"])
    wins = table[table["rank"] == 1].groupby("policy").size()
    per_policy = per_policy.reindex([p for p in results.policies if p in per_policy.index])
    positions = np.arange(len(per_policy))
    ax.bar(positions, per_policy["mean"], color=[_colour(results, p) for p in per_policy.index],
           yerr=[per_policy["mean"] - per_policy["min"], per_policy["max"] - per_policy["mean"]], capsize=3)
    for x, policy in zip(positions, per_policy.index, strict=True):
        ax.annotate(f"{int(wins.get(policy, 0))} wins", (x, 0.05), ha="center", fontsize=7, color="white")
    ax.set_xticks(positions, per_policy.index, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mean rank (1 = best)")
    ax.set_title(f"{results.name}: ranking on {LABELS.get(metric, metric)} over "
                 f"{len(table.groupby(keys, sort=False))} combinations", fontsize=9)
    return ax


# -- the standard files ------------------------------------------------------------------------------------


def _save(figure: Figure, path: Path) -> Path:
    """Write the figure atomically, its format from the file's suffix."""
    write_atomically(path, lambda temporary: figure.savefig(temporary, format=path.suffix.lstrip(".") or None,
                                                            dpi=130, bbox_inches="tight"))
    logger.debug("wrote %s", path)
    return path


def _other_combinations(results: Results, factor: str | None) -> list[dict[str, Any]]:
    """Every combination of the factors other than ``factor`` (one empty dict when there are none)."""
    names = [f for f in results.factors if f != factor]
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(_levels(results, f) for f in names))] or [{}]


def _panel_levels(results: Results, factor: str | None) -> list[dict[str, Any]]:
    """``where`` of each panel: up to `PANELS_PER_FIGURE` levels of ``factor``, spread evenly."""
    if factor is None:
        return [{}]
    levels = _levels(results, factor)
    picks = np.linspace(0, len(levels) - 1, min(len(levels), PANELS_PER_FIGURE)).round().astype(int)
    return [{factor: levels[i]} for i in dict.fromkeys(picks.tolist())]


def _metrics_figure(results: Results, summary: pd.DataFrame, factor: str | None) -> Figure:
    metrics = [m for m in FIGURE_METRICS if f"{m}_mean" in summary.columns]
    rows = _other_combinations(results, factor)[:ROWS_PER_FIGURE]
    figure = Figure(figsize=(3.6 * len(metrics), 2.9 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), len(metrics), squeeze=False)
    for r, levels in enumerate(rows):
        for c, metric in enumerate(metrics):
            plot_metric_vs_factor(results, summary, metric, factor, where=levels, ax=axes[r, c])
        if levels:
            axes[r, 0].set_title(_title(levels), fontsize=8, loc="left")
    if factor is not None:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncol=min(6, len(labels)), fontsize=8)
    figure.suptitle(f"{results.name}: mean and 95% t-interval over replications", fontsize=10)
    return figure


def _cdf_figure(results: Results, factor: str | None) -> Figure:
    panels = _panel_levels(results, factor)
    figure = Figure(figsize=(3.8 * len(panels), 3.2), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, where in zip(axes, panels, strict=True):
        plot_response_cdf(results, where=where, ax=ax)
        if ax is not axes[0]:
            ax.set_ylabel("")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7)
    return figure


def _heatmap_figure(results: Results, factor: str | None) -> Figure:
    panels = _panel_levels(results, factor)
    n_nodes = results.node_utilization["node"].nunique() if not results.node_utilization.empty else 1
    figure = Figure(figsize=(max(3.5, 0.35 * n_nodes + 2.0) * len(panels), 0.4 * len(results.policies) + 2.0),
                    layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, where in zip(axes, panels, strict=True):
        plot_utilization_heatmap(results, where=where, ax=ax)
        if ax is not axes[0] and ax.images:
            ax.set_yticks(ax.get_yticks(), [])
    images = [ax.images[0] for ax in axes if ax.images]
    if images:
        figure.colorbar(images[0], ax=list(axes), label="utilization")
    return figure


def _trade_off_figure(results: Results, summary: pd.DataFrame, factor: str | None) -> Figure:
    figure = Figure(figsize=(4.2, 3.4), layout="constrained")
    ax = plot_accuracy_vs_latency(results, summary, factor, ax=figure.subplots())
    ax.legend(fontsize=7)
    if factor is not None:
        ax.set_title(f"points joined in order of {factor}", fontsize=8, loc="left")
    return figure


def _ranking_figure(results: Results, summary: pd.DataFrame, metric: str) -> Figure:
    figure = Figure(figsize=(1.0 * len(results.policies) + 2.5, 3.2), layout="constrained")
    plot_policy_ranking(results, summary, metric, ax=figure.subplots())
    return figure


def draw_standard_figures(results_dir: str | Path, out: str | Path | None = None, factor: str | None = None,
                          metric: str = "response_time_mean_s", file_format: str = "png") -> list[Path]:
    """Draw the four standard figures of a result directory into ``out`` (default ``results_dir/figures``).

    Args:
        results_dir: A sweep's result directory.
        out: Where figures go.
        factor: The factor on the x axis; default: `choose_factor`.
        metric: The metric of the policy ranking.
        file_format: ``png``, ``pdf`` or ``svg``.

    Raises:
        ExperimentError: No finished run, or ``factor`` or ``metric`` is not one of the sweep's.
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
    figures = {
        f"metrics_vs_{slug}": _metrics_figure(results, summary, factor),
        "response_cdf": _cdf_figure(results, factor),
        "utilization_heatmap": _heatmap_figure(results, factor),
        "policy_ranking": _ranking_figure(results, summary, metric),
    }
    if "accuracy_mean_mean" in summary.columns and "response_time_mean_s_mean" in summary.columns:
        figures["accuracy_vs_latency"] = _trade_off_figure(results, summary, factor)
    with user_output(out_dir, option):
        return [_save(figure, out_dir / f"{name}.{file_format}") for name, figure in figures.items()]
