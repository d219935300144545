"""Benchmark: configuration handling before and after the `simulator.config` package (pydantic schema).

Two workloads, each timed in a fresh interpreter of each implementation (imports excluded) by the process's
CPU time (steadier than wall time on a shared machine), best of ``--repeats`` rounds in each of ``--rounds``
interpreters per implementation, run alternately so a busy machine affects both alike:

* ``scenarios``: `load_scenario` of every shipped scenario file and the fuzz corpus (read TOML, validate,
  resolve groups, profiles and traces, semantic checks);
* ``grid``: `load_experiment` + `expand` of an experiment over the demo scenario with ``--levels`` x 4 x 3
  factor combinations and two policies, where every combination's scenario is validated.

The old implementation is the commit before the package replaced ``simulator/scenario.py`` (found with git,
or given by ``--baseline``), exported with ``git archive`` into a temporary directory. Prints the time of each
and the ratio new / old (below 1: the new one is faster).

Run from the repository root::

    .venv/bin/python experiments/perf/bench_config.py
    .venv/bin/python experiments/perf/bench_config.py --repeats 7 --levels 50
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_config.json"

WORKER = r"""
import json, sys, time
from pathlib import Path
root, files, experiment, repeats = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sys.path.insert(0, root)
from simulator import load_scenario
from simulator.runner.grid import expand
from simulator.runner.spec import load_experiment

best = {"scenarios": float("inf"), "grid": float("inf")}
runs = 0
for _ in range(repeats):
    start = time.process_time()
    for path in files:
        load_scenario(path)
    middle = time.process_time()
    runs = len(expand(load_experiment(experiment)))
    end = time.process_time()
    best["scenarios"] = min(best["scenarios"], middle - start)
    best["grid"] = min(best["grid"], end - middle)
print(json.dumps({**best, "runs": runs}))
"""


def scenario_files() -> list[str]:
    """The shipped scenarios (data/ holds inputs of other formats) and the fuzz corpus."""
    scenarios = REPO_ROOT / "scenarios"
    shipped = [p for p in scenarios.rglob("*.toml") if "data" not in p.relative_to(scenarios).parts]
    return [str(p) for p in sorted([*shipped, *(REPO_ROOT / "tests" / "fuzz_corpus").glob("*.toml")])]


def baseline_commit() -> str:
    """The parent of the commit that removed ``simulator/scenario.py``."""
    removed = subprocess.run(["git", "log", "-1", "--format=%H", "--diff-filter=D", "--", "simulator/scenario.py"],
                             cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    if not removed:
        sys.exit("no commit removes simulator/scenario.py here: give --baseline")
    return f"{removed}^"


def export(commit: str, directory: Path) -> Path:
    """The package and scenarios of `commit`, written under `directory`."""
    archive = subprocess.run(["git", "archive", "--format=tar", commit, "simulator", "scenarios"], cwd=REPO_ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="tar")
    return directory


def write_experiment(directory: Path, levels: int) -> Path:
    rates = ", ".join(f"{0.2 + 0.01 * i:.2f}" for i in range(levels))
    path = directory / "grid.toml"
    path.write_text(f"""[experiment]
name = "bench_config"
scenario = "{REPO_ROOT / 'scenarios' / 'demo_edge_cloud.toml'}"
replications = 1
[factors]
"arrivals.clips.rate_per_s" = [{rates}]
"nodes.edge.slots" = [1, 2, 4, 8]
"nodes.cloud.speed" = [0.5, 1.0, 2.0]
[[policies]]
name = "least_loaded"
[[policies]]
name = "round_robin"
""")
    return path


def measure(root: Path, files: list[str], experiment: Path, repeats: int) -> dict[str, float]:
    completed = subprocess.run([sys.executable, "-c", WORKER, str(root), json.dumps(files), str(experiment),
                                str(repeats)], cwd=root, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.exit(f"the benchmark failed in {root}:\n{completed.stderr}")
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git commit of the old implementation (default: found with git)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per interpreter (best is kept)")
    parser.add_argument("--rounds", type=int, default=3, help="interpreters per implementation, alternated")
    parser.add_argument("--levels", type=int, default=25, help="levels of the rate factor (x 12 combinations)")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path: {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    args = parser.parse_args()
    commit = args.baseline or baseline_commit()
    files = scenario_files()
    with tempfile.TemporaryDirectory(prefix="bench-config-") as temporary:
        old_root = export(commit, Path(temporary) / "old")
        experiment = write_experiment(Path(temporary), args.levels)
        best: dict[str, dict[str, float]] = {"old": {}, "new": {}}
        runs = 0
        for _ in range(args.rounds):
            for label, root in (("old", old_root), ("new", REPO_ROOT)):
                result = measure(root, files, experiment, args.repeats)
                runs = int(result.pop("runs"))
                for key, value in result.items():
                    best[label][key] = min(best[label].get(key, float("inf")), value)
    print(f"baseline {commit}; {len(files)} scenario files; grid of {runs} runs; best of "
          f"{args.rounds} x {args.repeats} rounds")
    ratios = {}
    for key, what in (("scenarios", "load + validate every scenario"), ("grid", "expand + validate the grid")):
        old, new = best["old"][key], best["new"][key]
        ratios[key] = new / old
        print(f"{what:<32} old {old * 1e3:8.1f} ms   new {new * 1e3:8.1f} ms   ratio new/old {new / old:.2f}")
    if args.json:
        sys.path.insert(0, str(Path(__file__).parent))
        from _perf import machine_description, write_json

        write_json(args.json, {"machine": machine_description(), "baseline": commit, "scenario_files": len(files),
                               "grid_runs": runs, "best_s": best, "ratio_new_over_old": ratios})


if __name__ == "__main__":
    main()
