"""The summary of a sweep: mean and t-based confidence interval of every metric, per factor combination and
policy, across replications; written as CSV and Parquet and printed as a table with the failures.

The interval is ``mean ± t_{(1+c)/2, n-1} · s / sqrt(n)`` over the n successful replications (s: sample
standard deviation), i.e. ``scipy.stats.t``; with one replication it is undefined (NaN). Replications are
independent runs (different seeds), so the interval is valid for each cell; cells share seeds across
policies (common random numbers), which makes differences between policies sharper than the separate
intervals suggest.
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
from scipy import stats

from simulator.runner.results import Results
from simulator.user_files import writable_directory, write_atomically

__all__ = ["DEFAULT_METRICS", "format_report", "summarize", "t_interval", "write_report"]

DEFAULT_METRICS = ("response_time_mean_s", "response_time_p95_s", "throughput_per_s", "utilization_mean",
                   "slo_attainment")
"""Metrics the printed table shows unless asked otherwise (the files have every metric)."""


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the t-based confidence interval of the mean; NaN values are left out."""
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if len(data) == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if len(data) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
    return mean, mean - half, mean + half


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def summarize(results: Results, metrics: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (factor combination, policy): the factor levels and derived values, ``policy``, counts of
    ``replications`` (successful), ``failed`` and ``missing`` runs, and per metric ``<metric>_mean``,
    ``<metric>_ci_low``, ``<metric>_ci_high``."""
    metrics = list(metrics) if metrics is not None else results.metrics
    runs = results.runs.copy()
    keys = [*results.factors, *results.derived, "policy"]
    for column in keys:
        runs[column] = runs[column].map(_hashable)
    rows = []
    for values, group in runs.groupby(keys, sort=False, dropna=False):
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        ok = group[group["status"] == "ok"]
        row["replications"] = len(ok)
        row["failed"] = int((group["status"] == "failed").sum())
        row["missing"] = int((group["status"] == "missing").sum())
        for metric in metrics:
            series = ok[metric] if metric in ok.columns else pd.Series(dtype=float)
            mean, low, high = t_interval(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float), confidence)
            row[f"{metric}_mean"] = mean
            row[f"{metric}_ci_low"] = low
            row[f"{metric}_ci_high"] = high
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(mean: float, low: float, high: float) -> str:
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
        cells += [_cell(row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"]) for m in metrics]
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
    table = table.copy()
    for column in table.columns:
        if table[column].dtype == object:
            kinds = {type(v) for v in table[column] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1 or kinds & {list, dict}:
                table[column] = table[column].map(lambda v: None if v is None else str(v))
    return table


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False)


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    table.to_parquet(path, index=False)


def write_report(results: Results, summary: pd.DataFrame, out_dir: str | Path | None = None) -> list[Path]:
    """Write ``summary.csv``/``.parquet`` (one row per cell) and ``runs.csv``/``.parquet`` (one row per run),
    each atomically (a reader never sees half a file).

    Raises:
        UserInputError: ``out_dir`` (default: the result directory) is a file or cannot be written.
    """
    option = "--out" if out_dir is not None else "the result directory (write elsewhere with --out)"
    out = writable_directory(Path(out_dir) if out_dir is not None else results.root, option)
    written = []
    for name, table in (("summary", summary), ("runs", results.runs)):
        csv_path, parquet_path = out / f"{name}.csv", out / f"{name}.parquet"
        write_atomically(csv_path, functools.partial(_write_csv, table), option)
        write_atomically(parquet_path, functools.partial(_write_parquet, _parquet_safe(table)), option)
        written += [csv_path, parquet_path]
    return written
