"""The summary of a sweep: mean and t-based confidence interval of every metric, per factor combination and
policy, across replications; written as CSV and Parquet and printed as a table with the failures.

The interval is ``mean ± t_{(1+c)/2, n-1} · s / sqrt(n)`` over the n successful replications (s: sample
standard deviation; the t quantile is ``scipy.special.stdtrit``, what ``scipy.stats.t.ppf`` calls, without
importing ``scipy.stats``); with one replication it is undefined (NaN). Replications are independent runs
(different seeds), so the interval is valid for each cell; cells share seeds across policies (common random
numbers), which makes differences between policies sharper than the separate intervals suggest.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from simulator.runner.results import Results
from simulator.user_files import writable_directory, write_atomically

__all__ = ["DEFAULT_METRICS", "OPTIONAL_METRICS", "format_report", "interval_cell", "summarize", "t_interval",
           "write_report"]

DEFAULT_METRICS = ("response_time_mean_s", "response_time_p95_s", "throughput_per_s", "utilization_mean",
                   "slo_attainment", "completion_rate", "stability")
"""Metrics the printed table shows unless asked otherwise (the files have every metric); response times are over
completed jobs, so the completion rate and the stability (1 - (failed + abandoned) / arrived) say of how many."""
OPTIONAL_METRICS = ("accuracy_mean",)
"""Metrics only some runs report, shown after `DEFAULT_METRICS` when the sweep's runs report them:
``accuracy_mean``, the stated accuracy delivered in runs with model variants (`simulator.variants`)."""


def _t_half_width(std: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """``t_{(1+c)/2, n-1} · s / sqrt(n)`` element-wise: the package's one confidence-interval formula (NaN
    where n < 2)."""
    n = np.asarray(n, dtype=float)
    enough = n >= 2
    dof = np.where(enough, n - 1, 1.0)
    return np.where(enough, stdtrit(dof, (1 + confidence) / 2) * std / np.sqrt(np.where(enough, n, 1.0)), np.nan)


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the t-based confidence interval of the mean; NaN values are left out."""
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if len(data) == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if len(data) > 1 else math.nan
    half = float(_t_half_width(np.array(std), np.array(len(data)), confidence))
    return mean, mean - half, mean + half


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def summarize(results: Results, metrics: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (factor combination, policy), in the order of the runs: the factor levels and derived
    values, ``policy``, counts of ``replications`` (successful), ``failed`` and ``missing`` runs, and per
    metric ``<metric>_mean``, ``<metric>_ci_low``, ``<metric>_ci_high``.

    Computed for all cells at once (one grouping, per-cell sums by `numpy.bincount`), not cell by cell."""
    metrics = list(metrics) if metrics is not None else results.metrics
    runs = results.runs
    keys = [*results.factors, *results.derived, "policy"]
    cells = runs[keys].copy()
    for column in keys:
        if cells[column].dtype == object:  # lists and dicts (levels of structured factors) cannot be grouped
            cells[column] = cells[column].map(_hashable)
    cell = cells.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_cells = int(cell.max()) + 1 if len(cell) else 0
    summary = cells.iloc[np.unique(cell, return_index=True)[1]].reset_index(drop=True)
    status = runs["status"].to_numpy()
    ok = status == "ok"
    for column, mask in (("replications", ok), ("failed", status == "failed"), ("missing", status == "missing")):
        summary[column] = np.bincount(cell[mask], minlength=n_cells)
    columns: dict[str, np.ndarray] = {}
    for metric in metrics:
        values = (pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                  if metric in runs.columns else np.full(len(runs), np.nan))
        present = ok & ~np.isnan(values)
        n = np.bincount(cell[present], minlength=n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(cell[present], values[present], n_cells) / n
            squares = np.bincount(cell[present], (values[present] - mean[cell[present]]) ** 2, n_cells)
            half = _t_half_width(np.sqrt(squares / (n - 1)), n, confidence)
        columns[f"{metric}_mean"], columns[f"{metric}_ci_low"], columns[f"{metric}_ci_high"] = (
            mean, mean - half, mean + half)
    return pd.concat([summary, pd.DataFrame(columns)], axis=1)


def interval_cell(mean: float, low: float, high: float) -> str:
    """``mean ±half-width`` of an interval as a table shows it (``-`` without a mean)."""
    if math.isnan(mean):
        return "-"
    if math.isnan(low):
        return f"{mean:.4g}"
    return f"{mean:.4g} ±{(high - low) / 2:.2g}"


def format_report(results: Results, summary: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS,
                  confidence: float = 0.95, titles: Mapping[str, str] | None = None) -> str:
    """A plain-text table (mean ± half-width of the interval) and the list of failed and missing runs.

    Args:
        results: The sweep.
        summary: `summarize` of it.
        metrics: The metric columns to show, in order.
        confidence: The level the summary's intervals were computed at (for the caption).
        titles: A column title per metric (default: the metric's name).
    """
    metrics = [m for m in metrics if f"{m}_mean" in summary.columns]
    keys = [*results.factors, "policy"]
    headers = [*keys, "n", *((titles or {}).get(m, m) for m in metrics)]
    lines = []
    for _, row in summary.iterrows():
        cells = [str(row[k]) for k in keys] + [str(row["replications"])]
        cells += [interval_cell(row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"]) for m in metrics]
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    numeric_from = len(keys)
    render = ["  ".join(cell.rjust(widths[i]) if i >= numeric_from else cell.ljust(widths[i])
                        for i, cell in enumerate(cells)) for cells in [headers, *lines]]
    render.insert(1, "  ".join("-" * width for width in widths))
    runs = results.runs
    n_ok = int((runs["status"] == "ok").sum())
    text = [f"experiment {results.name}: {len(runs)} runs ({n_ok} ok, {len(results.failed)} failed, "
            f"{len(results.missing)} missing); mean ±half-width of the {confidence:.0%} t-interval over "
            "replications", "", *render]
    if len(results.failed):
        text += ["", f"{len(results.failed)} of {len(runs)} runs failed:"]
        for _, row in results.failed.iterrows():
            levels = ", ".join(f"{k}={row[k]}" for k in results.factors)
            text.append(f"  {row['key'][:12]}  {levels + ', ' if levels else ''}policy={row['policy']}, "
                        f"replication={row['replication']}, seed={row['seed']}: {row['error']}")
        text.append(f"  (full tracebacks: the error_traceback column of the runs table in {results.root}/store.sqlite)")
    if len(results.missing):
        text += ["", f"{len(results.missing)} runs are missing (the sweep was interrupted or is running): run the "
                 "sweep command again to finish them"]
    return "\n".join(text)


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types become strings, which Parquet can store."""
    mixed = {}
    for column in table.columns:
        if table[column].dtype == object:
            kinds = {type(v) for v in table[column] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1 or kinds & {list, dict}:
                mixed[column] = table[column].map(lambda v: None if v is None else str(v))
    return table.assign(**mixed) if mixed else table


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False)


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    table.to_parquet(path, index=False)


def write_report(results: Results, summary: pd.DataFrame, out_dir: str | Path | None = None) -> list[Path]:
    """Write ``summary.csv``/``.parquet`` (one row per cell) and ``runs.parquet`` (one row per run), each
    atomically (a reader never sees half a file).

    The runs table is Parquet only: as CSV, 100,000 runs take 4-5 s to format and some 60 MB, against about
    0.3 s and 25 MB (``pandas.read_parquet`` and DuckDB read it, with its column types).

    Raises:
        UserInputError: ``out_dir`` (default: the result directory) is a file or cannot be written.
    """
    option = "--out" if out_dir is not None else "the result directory (write elsewhere with --out)"
    out = writable_directory(Path(out_dir) if out_dir is not None else results.root, option)
    paths = [(out / "summary.csv", functools.partial(_write_csv, summary)),
             (out / "summary.parquet", functools.partial(_write_parquet, _parquet_safe(summary))),
             (out / "runs.parquet", functools.partial(_write_parquet, _parquet_safe(results.runs)))]
    for path, write in paths:
        write_atomically(path, write, option)
    return [path for path, _ in paths]
