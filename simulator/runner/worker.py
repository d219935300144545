"""One run of a sweep as a pure, top-level function: what every executor calls, in any process or machine.

`simulate_config` turns a resolved raw configuration and a seed into the run's results; `execute_run` adds
the provenance (package version, host, start time, runtime) and turns an exception into a failed record
instead of raising, so a sweep goes on past a failing run. Both are plain module-level functions of
picklable arguments, so ``spawn`` process pools and Dask workers can import and call them.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from simulator.runner.grid import STORE_FORMAT, RunSpec, _plain

__all__ = ["QUANTILES", "RESULT_FIELDS", "execute_run", "failed_record", "simulate_config"]

QUANTILES = tuple(np.linspace(0.0, 1.0, 101).round(2).tolist())
"""Probabilities at which each run stores the quantiles of its job response times (for CDF figures)."""

RESULT_FIELDS = ("status", "summary", "utilization_by_node", "response_quantiles_s", "error")
"""The fields of a record that depend only on the run's inputs (the rest is provenance: host, times...)."""

_TIMING_KEYS = ("wall_s",)


def simulate_config(config: Mapping[str, Any], base_dir: str, policy: str, params: Mapping[str, Any], seed: int,
                    source: str = "scenario") -> dict[str, Any]:
    """Run one simulation from a resolved raw configuration; a pure function of its arguments.

    Returns:
        ``summary`` (scalar metrics, without the wall-clock time), ``utilization_by_node`` and
        ``response_quantiles_s`` (the job response time at each probability of `QUANTILES`).
    """
    from simulator.config import parse_scenario
    from simulator.simulation import run

    scenario = parse_scenario(config, source=source, base_dir=base_dir)
    result = run(scenario, policy=policy, seed=seed, params=dict(params))
    summary = {key: _plain(value) for key, value in result.summary.items()
               if not isinstance(value, dict | list) and key not in _TIMING_KEYS}
    jobs = result.jobs
    measured = jobs[(jobs["arrival_s"] >= scenario.simulation.warmup_s) & (jobs["state"] == "finished")]
    response = measured["response_s"].to_numpy(dtype=float)
    quantiles = np.quantile(response, QUANTILES).tolist() if len(response) else []
    return {
        "summary": summary,
        "utilization_by_node": {str(k): float(v) for k, v in result.summary["utilization_by_node"].items()},
        "response_quantiles_s": [float(q) for q in quantiles],
        "sim_wall_s": float(result.summary.get("wall_s", float("nan"))),
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _provenance(run: RunSpec, started_at: str) -> dict[str, Any]:
    from simulator import __version__

    return {
        "format": STORE_FORMAT,
        "key": run.key,
        "experiment": run.experiment,
        "point": run.point,
        "factors": dict(run.factors),
        "derived": dict(run.derived),
        "policy": run.policy,
        "policy_name": run.policy_name,
        "policy_params": dict(run.policy_params),
        "replication": run.replication,
        "seed": run.seed,
        "config": dict(run.config),
        "package_version": __version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": started_at,
    }


def failed_record(run: RunSpec, error: BaseException, runtime_s: float = float("nan"),
                  started_at: str | None = None) -> dict[str, Any]:
    """The record of a run that raised: its provenance and the exception (type, message, traceback)."""
    return {
        **_provenance(run, started_at or _now()),
        "status": "failed",
        "summary": {},
        "utilization_by_node": {},
        "response_quantiles_s": [],
        "error": {"type": type(error).__name__, "message": str(error),
                  "traceback": "".join(traceback.format_exception(error))},
        "runtime_s": runtime_s,
    }


def execute_run(run: RunSpec) -> dict[str, Any]:
    """Run one `RunSpec` and return its record; an exception becomes a failed record, it does not propagate."""
    started_at = _now()
    started = time.perf_counter()
    try:
        outcome = simulate_config(run.config, run.base_dir, run.policy_name, run.policy_params, run.seed,
                                  source=os.path.basename(run.scenario_file))
    except Exception as error:  # a failing run is recorded and the sweep goes on
        return failed_record(run, error, time.perf_counter() - started, started_at)
    return {**_provenance(run, started_at), "status": "ok", **outcome, "error": None,
            "runtime_s": time.perf_counter() - started}
