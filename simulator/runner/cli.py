"""Sub-commands ``sweep``, ``report``, ``figures`` and ``migrate`` of ``python -m simulator`` (see `simulator.cli`)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.cli import int_in_range
from simulator.runner.errors import ExecutorError
from simulator.runner.executors import EXECUTORS
from simulator.runner.spec import MAX_REPLICATIONS
from simulator.user_files import user_output, writable_directory

__all__ = ["register_commands"]

logger = logging.getLogger(__name__)

MAX_WORKERS = 4096


def register_commands(subparsers: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the runner's sub-commands to ``python -m simulator``; returns their handlers by name."""
    sweep = subparsers.add_parser(
        "sweep", help="run an experiment: every factor combination x policy x replication, resumable",
        description="Expand an experiment file into independent runs and run those the result store lacks. "
                    "Interrupt it at any time; the same command resumes.")
    sweep.add_argument("experiment", type=Path, help="experiment file (experiments/NAME.toml)")
    sweep.add_argument("--executor", choices=EXECUTORS, default="serial",
                       help="serial (default), processes (local cores) or dask (a Dask cluster)")
    sweep.add_argument("--workers", type=int_in_range(1, MAX_WORKERS), help="worker processes (default: all cores)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler address, e.g. tcp://host:8786 (default: start a LocalCluster)")
    sweep.add_argument("--replications", type=int_in_range(1, MAX_REPLICATIONS),
                       help="override the experiment's replications")
    sweep.add_argument("--quick", action="store_true",
                       help="smoke run: the experiment's [quick] replications and job cap (results/quick/NAME)")
    sweep.add_argument("--out", type=Path, help="result directory (default: results/NAME)")
    sweep.add_argument("--retry-failed", action="store_true", help="run again the runs stored as failed")
    sweep.add_argument("--dry-run", action="store_true", help="show the grid and what would run, run nothing")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")

    report = subparsers.add_parser("report", help="summary table of a sweep (mean and 95%% t-interval)")
    report.add_argument("results", type=Path, help="result directory (results/NAME)")
    report.add_argument("--metrics", help="comma-separated metrics to print (the files have all of them)")
    report.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    report.add_argument("--out", type=Path, help="where to write summary.csv, summary.parquet and runs.parquet "
                                                 "(default: the result directory)")

    figures = subparsers.add_parser("figures", help="standard figures of a sweep")
    figures.add_argument("results", type=Path, help="result directory (results/NAME)")
    figures.add_argument("--out", type=Path, help="figure directory (default: RESULTS/figures)")
    figures.add_argument("--x", dest="factor", help="factor on the x axis (default: the first numeric one)")
    figures.add_argument("--metric", default="response_time_mean_s", help="metric of the policy ranking")
    figures.add_argument("--format", dest="file_format", choices=("png", "pdf", "svg"), default="png")

    migrate = subparsers.add_parser(
        "migrate", help="convert a result directory of the older JSON store into the database store",
        description="Convert results/NAME/store.json, manifest.json and runs/*.json into results/NAME/store.sqlite; "
                    "the JSON files are moved into results/NAME/json_store_backup/.")
    migrate.add_argument("results", type=Path, help="result directory (results/NAME)")
    return {"sweep": _command_sweep, "report": _command_report, "figures": _command_figures,
            "migrate": _command_migrate}


def _command_sweep(args: argparse.Namespace) -> int:
    from simulator.runner.executors import make_executor
    from simulator.runner.store import ResultStore
    from simulator.runner.sweeps import default_results_dir, plan, run_sweep

    spec, runs = plan(args.experiment, args.replications, args.quick)
    executor = make_executor(args.executor, args.workers, args.scheduler)  # bad options: exit 2 before running
    out = args.out or default_results_dir(spec)
    if args.dry_run:
        keys = {run.key for run in runs}
        stored = set()
        if (store := ResultStore.open_if_present(out)) is not None:
            with store:
                stored = store.run_keys()
        factors = ", ".join(f"{f.name} ({len(f.levels)} levels)" for f in spec.factors) or "(none)"
        print(f"experiment {spec.name}: factors {factors}; {len(spec.policies)} policies; "
              f"{spec.replications} replications -> {len(runs)} runs ({len(keys)} distinct), "
              f"{len(keys - stored)} to run, results in {out}")
        return 0
    writable_directory(out, "--out")
    started = time.perf_counter()
    logger.info("experiment %s: %d runs into %s", spec.name, len(runs), out)
    try:
        outcome = run_sweep(spec, executor=executor, out=out, retry_failed=args.retry_failed,
                            progress=not args.no_progress and args.log_level <= logging.INFO)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are stored in {out}; run the same command again to resume",
              file=sys.stderr)
        return 130
    except ExecutorError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"{spec.name}: {outcome.n_runs} runs ({outcome.n_unique} distinct): {outcome.n_reused} already stored, "
          f"{outcome.n_executed} run now ({outcome.n_failed_now} failed) in {time.perf_counter() - started:.1f} s")
    if outcome.failed:
        print(f"{len(outcome.failed)} runs failed (recorded; the report lists them):", file=sys.stderr)
        for line in outcome.failed[:20]:
            print(f"  {line}", file=sys.stderr)
    print(f"results in {out}; next: python -m simulator report {out}")
    return 1 if outcome.failed else 0


def _command_report(args: argparse.Namespace) -> int:
    from simulator.runner.errors import ExperimentError
    from simulator.runner.report import DEFAULT_METRICS, OPTIONAL_METRICS, format_report, summarize, write_report
    from simulator.runner.results import load_results

    if not 0 < args.confidence < 1:
        raise ExperimentError([f"--confidence must be between 0 and 1, got {args.confidence}"])
    results = load_results(args.results)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else [
        *DEFAULT_METRICS, *(m for m in OPTIONAL_METRICS if m in results.metrics)]
    unknown = [m for m in metrics if m not in results.metrics]
    if unknown and (results.runs["status"] == "ok").any():
        raise ExperimentError([f"--metrics: unknown metric(s) {', '.join(unknown)}; known: "
                               f"{', '.join(results.metrics)}"])
    summary = summarize(results, confidence=args.confidence)
    print(format_report(results, summary, metrics, args.confidence))
    written = write_report(results, summary, args.out)
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def _command_figures(args: argparse.Namespace) -> int:
    from simulator.runner.figures import draw_standard_figures

    paths = draw_standard_figures(args.results, args.out, args.factor, args.metric, args.file_format)
    print("wrote " + ", ".join(str(path) for path in paths))
    return 0


def _command_migrate(args: argparse.Namespace) -> int:
    from simulator.runner.store import JSON_BACKUP_DIR, migrate_json_store

    with user_output(args.results, "migrate"):
        converted, damaged = migrate_json_store(args.results)
    print(f"{args.results}: {converted} runs converted into store.sqlite"
          + (f", {damaged} damaged run files skipped (the next sweep runs them again)" if damaged else "")
          + f"; the JSON files are in {args.results / JSON_BACKUP_DIR}")
    return 0
