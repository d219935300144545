"""Sweep executors: speedup of the local process pool over serial, and the per-run overhead of Dask.

1. Speedup: one sweep of ``experiments/load_sweep.toml`` (``--replications 2``: 6 rates x 4 policies x 2 = 48
   runs of 2,000 jobs each) run serially and with the process executor (``--workers``, default all cores),
   each into a fresh result store; wall times, the speedup serial / processes, and a check that both stores
   hold the same results bit for bit.
2. Dask overhead: ``--tiny-runs`` runs of a one-node scenario with 20 jobs (a few milliseconds of work each)
   serially and on a Dask ``LocalCluster`` that is already running (its start-up is timed separately):
   overhead per run = (Dask wall - serial wall / workers) / runs, i.e. what each run costs beyond ideal
   parallel execution (scheduling, serialization, transfer of the record, writing it to the store). The
   same is measured for the process pool, whose wall time includes starting its workers.

The speedup needs the cores to be free: on a shared machine, the share of CPU time that was idle during each
phase (from /proc/stat) is printed with it; a serial phase with the machine 50 % idle means a second core was
there for the taking, 0 % means other processes used it.

    .venv/bin/python experiments/perf/bench_sweep.py                # about 1.5 min on 2 cores
    .venv/bin/python experiments/perf/bench_sweep.py --json         # also write results/perf/bench_sweep.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from _perf import write_json  # noqa: E402

from simulator.runner import run_sweep  # noqa: E402
from simulator.runner.executors import DaskExecutor, ProcessExecutor, default_workers  # noqa: E402
from simulator.runner.store import ResultStore  # noqa: E402
from simulator.runner.worker import RESULT_FIELDS  # noqa: E402

TINY_SCENARIO = """
[simulation]
max_jobs = 20
[nodes.server]
kind = "cpu"
[models.m.devices.cpu]
mean_s = 0.5
[applications.app.stages.only]
model = "m"
[arrivals.users]
application = "app"
rate_per_s = 1.0
"""

TINY_EXPERIMENT = """
[experiment]
name = "tiny"
scenario = "tiny_scenario.toml"
replications = {runs}
seed = 1
"""


def cpu_jiffies() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs from /proc/stat (Linux), to tell how busy the machine was."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return fields[3] + fields[4], sum(fields[:8])


def idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else float("nan")


def results_of(directory: Path) -> dict[str, dict[str, object]]:
    with ResultStore.open(directory) as store:
        return {key: {field: record[field] for field in RESULT_FIELDS}
                for key in store.run_keys() if (record := store.read_run(key)) is not None}


def timed_sweep(experiment: Path, executor: object, out: Path, replications: int | None = None,
                quick: bool = False) -> float:
    started = time.perf_counter()
    outcome = run_sweep(experiment, executor=executor, out=out, replications=replications,  # type: ignore[arg-type]
                        quick=quick, progress=False)
    wall = time.perf_counter() - started
    if outcome.failed:
        raise SystemExit(f"{len(outcome.failed)} runs failed: {outcome.failed[:3]}")
    return wall


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--replications", type=int, default=2, help="of load_sweep.toml (2: 48 runs)")
    parser.add_argument("--tiny-runs", type=int, default=200, help="runs of the Dask overhead measurement")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="the sweep's --quick version (200 jobs per run)")
    parser.add_argument("--json", nargs="?", const=REPOSITORY / "results" / "perf" / "bench_sweep.json", type=Path)
    args = parser.parse_args(argv)
    experiment = REPOSITORY / "experiments" / "load_sweep.toml"
    report: dict[str, object] = {
        "python": platform.python_version(), "machine": platform.machine(), "cpus_visible": default_workers(),
        "workers": args.workers, "load_average_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        start = cpu_jiffies()
        serial_s = timed_sweep(experiment, "serial", root / "serial", args.replications, args.smoke)
        middle = cpu_jiffies()
        processes_s = timed_sweep(experiment, ProcessExecutor(args.workers), root / "processes", args.replications,
                                  args.smoke)
        end = cpu_jiffies()
        report.update({"idle_cpu_share_during_serial": idle_share(start, middle),
                       "idle_cpu_share_during_processes": idle_share(middle, end)})
        n_runs = len(results_of(root / "serial"))
        identical = results_of(root / "serial") == results_of(root / "processes")
        report.update({"sweep_runs": n_runs, "serial_s": serial_s, "processes_s": processes_s,
                       "speedup": serial_s / processes_s, "identical_results": identical})
        print(f"sweep of {n_runs} runs (load_sweep.toml, {args.replications} replications):")
        print(f"  serial                   {serial_s:8.2f} s   {serial_s / n_runs * 1000:7.1f} ms/run"
              f"   machine idle {100 * idle_share(start, middle):.0f}% of the time (other processes use the rest)")
        print(f"  processes ({args.workers} workers)    {processes_s:8.2f} s   speedup {serial_s / processes_s:.2f}x"
              f"   results identical to serial: {identical}   machine idle {100 * idle_share(middle, end):.0f}%")

        tiny = root / "tiny.toml"
        (root / "tiny_scenario.toml").write_text(TINY_SCENARIO)
        tiny.write_text(TINY_EXPERIMENT.format(runs=args.tiny_runs))
        tiny_serial_s = timed_sweep(tiny, "serial", root / "tiny-serial")
        tiny_processes_s = timed_sweep(tiny, ProcessExecutor(args.workers), root / "tiny-processes")
        n = args.tiny_runs
        process_overhead = (tiny_processes_s - tiny_serial_s / args.workers) / n
        report.update({"tiny_runs": n, "tiny_serial_s": tiny_serial_s, "tiny_processes_s": tiny_processes_s,
                       "processes_overhead_per_run_ms": 1000 * process_overhead})
        print(f"\n{n} tiny runs (20 jobs each):")
        print(f"  serial                   {tiny_serial_s:8.2f} s   {tiny_serial_s / n * 1000:7.2f} ms/run")
        print(f"  processes (incl. start)  {tiny_processes_s:8.2f} s   overhead {1000 * process_overhead:7.2f} ms/run")
        if not args.no_dask:
            from dask.distributed import LocalCluster

            started = time.perf_counter()
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            start_s = time.perf_counter() - started
            try:
                executor = DaskExecutor(cluster.scheduler_address)
                timed_sweep(tiny, executor, root / "tiny-dask-warmup", replications=4)  # workers import the package
                dask_s = timed_sweep(tiny, executor, root / "tiny-dask")
            finally:
                cluster.close()
            dask_overhead = (dask_s - tiny_serial_s / args.workers) / n
            identical_dask = results_of(root / "tiny-serial") == results_of(root / "tiny-dask")
            report.update({"dask_cluster_start_s": start_s, "tiny_dask_s": dask_s,
                           "dask_overhead_per_run_ms": 1000 * dask_overhead, "dask_identical_results": identical_dask})
            print(f"  dask LocalCluster start  {start_s:8.2f} s")
            print(f"  dask ({args.workers} workers, warm)   {dask_s:8.2f} s   overhead "
                  f"{1000 * dask_overhead:7.2f} ms/run   results identical to serial: {identical_dask}")
    report["load_average_after"] = os.getloadavg()
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
