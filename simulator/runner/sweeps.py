"""A sweep: expand an experiment, run what the result store lacks with an executor, and return tidy rows.

The result store is the single source of truth: every finished run is written there (one transaction, by this
process only: workers return records) as soon as it comes back, before the next one is waited for, so
interrupting a sweep (Ctrl-C, kill, power loss) loses at most the runs in flight, and running it again does
only what is missing. The returned table is a query on the store, not a re-reading of every record.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.runner.executors import Executor, make_executor
from simulator.runner.grid import STORE_FORMAT, RunSpec, expand
from simulator.runner.progress import Progress
from simulator.runner.results import read_runs
from simulator.runner.spec import ExperimentSpec, load_experiment
from simulator.runner.store import ResultStore
from simulator.runner.worker import execute_run, failed_record
from simulator.user_files import user_output, writable_directory

__all__ = ["SweepOutcome", "default_results_dir", "plan", "run_sweep", "sweep"]


def default_results_dir(spec: ExperimentSpec, results_root: str | Path = "results") -> Path:
    """``results/NAME`` (``results/quick/NAME`` for a quick sweep, so smoke runs never mix with real ones)."""
    root = Path(results_root)
    return root / "quick" / spec.name if spec.is_quick else root / spec.name


def plan(experiment: str | Path | ExperimentSpec, replications: int | None = None, quick: bool = False
         ) -> tuple[ExperimentSpec, list[RunSpec]]:
    """The validated experiment (with ``--replications``/``--quick`` applied) and every run of its grid."""
    spec = experiment if isinstance(experiment, ExperimentSpec) else load_experiment(experiment)
    if replications is not None:
        spec = spec.with_replications(replications)
    if quick:
        spec = spec.with_quick()
    return spec, expand(spec)


def manifest_for(spec: ExperimentSpec, runs: list[RunSpec]) -> dict[str, Any]:
    """What the store records about the sweep: the experiment and one entry per run of its grid."""
    from simulator import __version__

    return {
        "format": STORE_FORMAT,
        "experiment": spec.name,
        "source": spec.source,
        "description": spec.description,
        "scenario": str(spec.scenario_path),
        "quick": spec.is_quick,
        "replications": spec.replications,
        "seed": spec.seed,
        "factors": [{"name": factor.name, "levels": list(factor.levels)} for factor in spec.factors],
        "derived": [path for path, _ in spec.derived],
        "policies": [entry.label for entry in spec.policies],
        "package_version": __version__,
        "written_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "runs": [{"key": run.key, "point": run.point, "factors": dict(run.factors), "derived": dict(run.derived),
                  "policy": run.policy, "policy_name": run.policy_name, "policy_params": dict(run.policy_params),
                  "replication": run.replication, "seed": run.seed} for run in runs],
    }


@dataclass
class SweepOutcome:
    """What a sweep did: where its results are, the tidy rows, and counts of this invocation."""

    results_dir: Path
    runs: pd.DataFrame
    n_runs: int
    n_unique: int
    n_reused: int
    n_executed: int = 0
    n_failed_now: int = 0
    failed: list[str] = field(default_factory=list)


def run_sweep(experiment: str | Path | ExperimentSpec, *, executor: str | Executor = "serial",
              workers: int | None = None, scheduler: str | None = None, replications: int | None = None,
              quick: bool = False, out: str | Path | None = None, results_root: str | Path = "results",
              retry_failed: bool = False, progress: bool | None = True,
              on_record: Callable[[dict[str, Any]], None] | None = None) -> SweepOutcome:
    """Run a sweep and return its `SweepOutcome` (see `sweep` for the arguments)."""
    spec, runs = plan(experiment, replications, quick)
    results_dir = Path(out) if out is not None else default_results_dir(spec, results_root)
    runner = executor if isinstance(executor, Executor) else make_executor(executor, workers, scheduler)
    writable_directory(results_dir, "--out")
    with user_output(results_dir, "--out"):
        store = ResultStore.create(results_dir, spec.name)
    with store:
        store.write_manifest(manifest_for(spec, runs))
        outcome = _run_missing(store, spec, runs, runner, retry_failed, progress, on_record)
        outcome.runs = read_runs(store, spec.name)
    failed_rows = outcome.runs[outcome.runs["status"] == "failed"]
    outcome.failed = [f"{row['key'][:12]} ({_where(row, spec)}): {row['error']}" for _, row in failed_rows.iterrows()]
    outcome.runs.attrs["results_dir"] = str(results_dir)
    return outcome


def _run_missing(store: ResultStore, spec: ExperimentSpec, runs: list[RunSpec], runner: Executor,
                 retry_failed: bool, progress: bool | None, on_record: Callable[[dict[str, Any]], None] | None
                 ) -> SweepOutcome:
    """Run the distinct keys of the grid that the store lacks, storing each record as it comes back."""
    unique: dict[str, RunSpec] = {}
    for run in runs:
        unique.setdefault(run.key, run)
    stored = store.run_keys()
    if retry_failed:
        stored -= store.failed_keys()
    todo = [run for key, run in unique.items() if key not in stored]
    outcome = SweepOutcome(store.root, pd.DataFrame(), len(runs), len(unique), len(unique) - len(todo))
    meter = Progress(len(todo), spec.name, enabled=bool(progress))
    try:
        with contextlib.closing(runner.map_unordered(execute_run, todo)) as finished:
            for index, result in finished:
                run = todo[index]
                record = failed_record(run, result) if isinstance(result, BaseException) else result
                store.write_run(record)
                outcome.n_executed += 1
                failed = record["status"] != "ok"
                if failed:
                    outcome.n_failed_now += 1
                meter.update(failed)
                if on_record is not None:
                    on_record(record)
    finally:
        meter.close()
    return outcome


def _where(row: pd.Series, spec: ExperimentSpec) -> str:
    levels = ", ".join(f"{factor.name}={row[factor.name]}" for factor in spec.factors)
    return f"{levels + ', ' if levels else ''}policy={row['policy']}, replication={row['replication']}"


def sweep(experiment: str | Path | ExperimentSpec, *, executor: str | Executor = "serial",
          workers: int | None = None, scheduler: str | None = None, replications: int | None = None,
          quick: bool = False, out: str | Path | None = None, results_root: str | Path = "results",
          retry_failed: bool = False, progress: bool | None = False) -> pd.DataFrame:
    """Run every (factor combination, policy, replication) of an experiment that the store lacks.

    Args:
        experiment: An experiment file (``experiments/NAME.toml``) or a loaded `ExperimentSpec`.
        executor: ``"serial"``, ``"processes"``, ``"dask"`` or an `Executor`.
        workers: Worker processes (processes, Dask LocalCluster); default: all cores.
        scheduler: Address of a running Dask scheduler (``tcp://host:8786``); None starts a LocalCluster.
        replications: Override the experiment's number of replications.
        quick: Smoke-run version: the experiment's ``[quick]`` replications and job cap.
        out: Result directory; default ``results_root/NAME`` (``results_root/quick/NAME`` when quick).
        results_root: Where default result directories go.
        retry_failed: Run again the runs stored as failed (after a fix); by default they count as done.
        progress: Show progress on stderr.

    Returns:
        One row per run of the grid: every factor, derived parameter, ``policy`` (label), ``policy_name``,
        ``policy.<parameter>``, ``replication``, ``seed``, ``status`` (ok, failed), the summary metrics,
        ``runtime_s`` and ``error``. ``attrs["results_dir"]`` says where the store is.

    Raises:
        ExperimentError: The experiment is invalid (before anything runs).
        StoreError: The result directory holds an incompatible store.
        ExecutorError: The executor broke down (finished runs are stored; call again to resume).
    """
    return run_sweep(experiment, executor=executor, workers=workers, scheduler=scheduler,
                     replications=replications, quick=quick, out=out, results_root=results_root,
                     retry_failed=retry_failed, progress=progress).runs
