"""The paper's speed comparison: this simulator against SimPy, Ciw and SimGrid, each ratio measured in one process.

Runs three of the benchmarks of ``experiments/perf/`` (their code, not a copy) and keeps what the paper needs in
``results/reference/speed/speed.json`` (committed; ``experiments/figures/table_speed.py`` reads it, so
``make figures`` redraws the table without timing anything):

* ``bench_mmc.py``: the M/M/4 queue of ``scenarios/validation/mmc.toml`` through this simulator's public path,
  plain SimPy (a process per customer), Ciw, SimPy with callbacks and a ``heapq`` loop, interleaved rounds;
* ``bench_simgrid.py``: the same 10,000 flows on a random 30-vertex graph through this simulator's ``Network``
  and through SimGrid 3.32 (a subprocess per round; skipped, and said so, where SimGrid is not installed);
* ``bench_network.py``: ``scenarios/perf/network_heavy.toml`` with max-min shared links against the same run
  without contention (``sharing = "none"``): what flow-level sharing costs per job.

The machine and the versions of Python, SimPy, Ciw, NumPy and SimGrid are stored with the numbers. Timings on a
shared machine are noisy: compare the ratios, each taken within one process and one minute, not absolute times.

    python experiments/speed_comparison.py                     # about 3 minutes on 2 cores
    python experiments/speed_comparison.py --jobs 20000 --flows 2000 --network-jobs 1000 --repeats 1 --out /tmp/s
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
PERF = REPOSITORY / "experiments" / "perf"
for folder in (REPOSITORY, PERF):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import bench_mmc  # noqa: E402
import bench_network  # noqa: E402
import bench_simgrid  # noqa: E402
import ciw  # noqa: E402
import numpy as np  # noqa: E402
from _perf import machine_description, write_json  # noqa: E402

REFERENCE = REPOSITORY / "results" / "reference" / "speed" / "speed.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="M/M/4 jobs per method and round")
    parser.add_argument("--flows", type=int, default=10_000, help="flows of the SimGrid comparison")
    parser.add_argument("--network-jobs", type=int, default=3_000, help="jobs of the network_heavy runs")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of each benchmark; best kept")
    parser.add_argument("--out", type=Path, default=REFERENCE, help="where the JSON goes (default: %(default)s)")
    args = parser.parse_args(argv)
    if min(args.jobs, args.flows, args.network_jobs, args.repeats) <= 0:
        parser.error("--jobs, --flows, --network-jobs and --repeats must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    repeats = str(args.repeats)
    mmc = bench_mmc.main(["--jobs", str(args.jobs), "--repeats", repeats])
    simgrid = bench_simgrid.main(["--flows", str(args.flows), "--repeats", repeats])
    network = bench_network.main(["--jobs", str(args.network_jobs), "--repeats", repeats,
                                  "--sharing", "max-min,none"])
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description() | {"ciw": ciw.__version__, "numpy": np.__version__,
                                            "simgrid": simgrid["simgrid_version"] if simgrid else None},
        "command": "python experiments/speed_comparison.py " + " ".join(argv or sys.argv[1:]),
        "mmc": {key: mmc[key] for key in ("queue", "erlang_c_response_s", "jobs", "ciw_jobs", "repeats", "ratios")}
        | {"methods": {name: {key: row[key] for key in ("description", "jobs", "best_wall_s", "best_cpu_s",
                                                         "us_per_job", "cpu_us_per_job", "mean_response_s",
                                                         "ci95_half_width_s")}
                       for name, row in mmc["methods"].items()}},
        "simgrid": None if simgrid is None else {
            key: simgrid[key] for key in ("parameters", "ratio_simulator_over_simgrid",
                                          "ratio_cpu_simulator_over_simgrid", "max_relative_difference",
                                          "mean_flows_in_flight")}
        | {"simulator_best_s": min(simgrid["simulator_s"]), "simgrid_best_s": min(simgrid["simgrid_s"])},
        "network": {"scenario": Path(network["scenario"]).relative_to(REPOSITORY).as_posix(),
                    "jobs": args.network_jobs, "repeats": args.repeats,
                    "us_per_job": {mode: row["us_per_job"] for mode, row in network["sharing"].items()},
                    "cpu_us_per_job": {mode: row["cpu_us_per_job"] for mode, row in network["sharing"].items()},
                    "flows_per_job": {mode: row["flows_per_job"] for mode, row in network["sharing"].items()},
                    "ratio_over_none": network["ratio_over_none"]},
    }
    write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
