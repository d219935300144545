"""Experiment runner: parameter sweeps with replications, a resumable result store, executors, reports, figures.

Typical use::

    from simulator.runner import sweep, load_results, summarize
    runs = sweep("experiments/load_sweep.toml", executor="processes")   # one row per run
    summary = summarize(load_results("results/load_sweep"))               # mean and t-interval per cell

The command line has the same: ``python -m simulator sweep|report|figures``; ``demo`` is the built-in
experiment `demo_experiment` through the same path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.runner.demo import demo_experiment
    from simulator.runner.errors import ExecutorError, ExperimentError, StoreError
    from simulator.runner.executors import EXECUTORS, DaskExecutor, Executor, ProcessExecutor, SerialExecutor
    from simulator.runner.grid import STORE_FORMAT, RunSpec, expand, replication_seed, run_key
    from simulator.runner.report import format_report, summarize, t_interval, write_report
    from simulator.runner.results import Results, load_results
    from simulator.runner.spec import ExperimentSpec, load_experiment, parse_experiment
    from simulator.runner.store import ResultStore
    from simulator.runner.sweeps import plan, run_sweep, sweep
    from simulator.runner.worker import execute_run, simulate_config

# Names are imported on first use, so that `python -m simulator run` does not pay for pandas, scipy and the
# runner's modules (the command line registers the runner's sub-commands on every start).
_MODULES = {
    "demo_experiment": "demo",
    "ExecutorError": "errors", "ExperimentError": "errors", "StoreError": "errors",
    "EXECUTORS": "executors", "DaskExecutor": "executors", "Executor": "executors",
    "ProcessExecutor": "executors", "SerialExecutor": "executors",
    "STORE_FORMAT": "grid", "RunSpec": "grid", "expand": "grid", "replication_seed": "grid", "run_key": "grid",
    "format_report": "report", "summarize": "report", "t_interval": "report", "write_report": "report",
    "Results": "results", "load_results": "results",
    "ExperimentSpec": "spec", "load_experiment": "spec", "parse_experiment": "spec",
    "ResultStore": "store",
    "plan": "sweeps", "run_sweep": "sweeps", "sweep": "sweeps",
    "execute_run": "worker", "simulate_config": "worker",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator.runner' has no attribute {name!r}")
    return getattr(importlib.import_module(f"simulator.runner.{module}"), name)


__all__ = [
    "EXECUTORS",
    "STORE_FORMAT",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "ExperimentError",
    "ExperimentSpec",
    "ProcessExecutor",
    "ResultStore",
    "Results",
    "RunSpec",
    "SerialExecutor",
    "StoreError",
    "demo_experiment",
    "execute_run",
    "expand",
    "format_report",
    "load_experiment",
    "load_results",
    "parse_experiment",
    "plan",
    "replication_seed",
    "run_key",
    "run_sweep",
    "simulate_config",
    "summarize",
    "sweep",
    "t_interval",
    "write_report",
]
