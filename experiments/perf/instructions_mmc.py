"""Instructions per job of the M/M/c benchmark's methods, counted by valgrind (callgrind): a noise-free ratio.

Wall and CPU times on a shared machine move by tens of percent from one round to the next; the number of
machine instructions a run executes does not (callgrind counts them, whatever else the machine does). Each
method of ``bench_mmc.py`` runs once with ``--jobs N`` and once with ``--jobs n0`` under callgrind, each in
its own process; instructions per job = (I(N) - I(n0)) / (N - n0), which removes the start-up (imports,
scenario, Erlang C) that both runs share. The ratio of instructions per job is the speed ratio on a machine
where both methods execute instructions equally fast, which is roughly, not exactly, true (the timed
benchmark shows the simulator a little faster than this ratio says).

    .venv/bin/python experiments/perf/instructions_mmc.py                 # about 3 min on 2 cores (2 methods)
    .venv/bin/python experiments/perf/instructions_mmc.py --methods simulator,simpy_process,ciw --json
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _perf import write_json

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "instructions_mmc.json"
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def instructions(method: str, jobs: int) -> int:
    """Instructions executed by one ``bench_mmc.py`` run of ``method`` with ``jobs`` jobs, under callgrind."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
               str(HERE / "bench_mmc.py"), "--methods", method, "--repeats", "1", "--jobs", str(jobs)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    match = COLLECTED.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"callgrind run of {method} with {jobs} jobs failed:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="simulator,simpy_process",
                        help="comma-separated methods of bench_mmc.py; the first is compared to the others")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs of the measured run (default 20,000)")
    parser.add_argument("--base-jobs", type=int, default=1_000, help="jobs of the run subtracted (default 1,000)")
    parser.add_argument("--workers", type=int, default=2, help="callgrind runs at once (default 2)")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.jobs <= args.base_jobs:
        parser.error("--jobs must be larger than --base-jobs")
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    runs = [(method, jobs) for method in methods for jobs in (args.base_jobs, args.jobs)]
    print(f"callgrind: {len(runs)} runs of bench_mmc.py ({args.base_jobs:,} and {args.jobs:,} jobs per method), "
          f"{args.workers} at a time; this takes minutes")
    with ThreadPoolExecutor(args.workers) as pool:
        counts = dict(zip(runs, pool.map(lambda run: instructions(*run), runs), strict=True))
    per_job = {method: (counts[(method, args.jobs)] - counts[(method, args.base_jobs)]) / (args.jobs - args.base_jobs)
               for method in methods}
    print(f"\n{'method':<16} {'instructions/job':>17}")
    for method in methods:
        print(f"{method:<16} {per_job[method]:>17,.0f}")
    reference = methods[0]
    ratios = {other: per_job[other] / per_job[reference] for other in methods[1:]}
    print()
    for other, ratio in ratios.items():
        print(f"{other} / {reference}: {ratio:.2f}x the instructions per job")
    if args.json:
        write_json(args.json, {"jobs": args.jobs, "base_jobs": args.base_jobs,
                               "counts": {f"{method}@{jobs}": count for (method, jobs), count in counts.items()},
                               "instructions_per_job": per_job, "ratios_to_" + reference: ratios})
    return 0


if __name__ == "__main__":
    sys.exit(main())
