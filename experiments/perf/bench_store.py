"""Benchmark: `report` and `load_results` on a large synthetic result store, against the older JSON store.

1. Builds a synthetic SQLite store of ``--runs`` runs (default 100,000) through the store's own API
   (`ResultStore.write_manifest`, `ResultStore.write_runs`), from a template record of one real run of
   ``experiments/load_sweep.toml`` (its configuration, 21 summary metrics, 11 nodes, 101 quantiles), with
   random metric values: 10 loads x 5 sizes x 4 policies = 200 cells x ``runs / 200`` replications.
2. Times, each in a fresh subprocess so that peaks do not carry over: the imports alone (``baseline``),
   ``load_results``, the ``report`` command (load, summarize, print, write ``summary.csv``/``.parquet`` and
   ``runs.parquet``) and its parts one by one, and the long tables of ``load_results`` (node utilization,
   response quantiles: read on first use; ``report`` does not).
   Memory is the peak resident set size of that subprocess (``VmHWM``; `max_rss_bytes`).
3. With ``--json-runs N`` (default 20,000; 0 skips it): the same ``report`` and ``load_results`` on an older
   JSON store (``store.json``, ``manifest.json``, ``runs/<key>.json``) of N of the same runs, read by the
   code of ``--json-commit`` (the last commit with the JSON store, extracted with ``git archive``), and the
   SQLite store of the same N runs with this code: the ratio the issue asks for, measured in one go.

Run from the repository root::

    .venv/bin/python experiments/perf/bench_store.py                   # 100,000 runs; 20,000 for the ratio
    .venv/bin/python experiments/perf/bench_store.py --runs 20000 --json-runs 0 --json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

JSON_STORE_COMMIT = "69ffc21"
"""The last commit whose result store was one JSON file per run."""
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_store.json"
LOADS = 10
SIZES = 5
POLICIES = ("random", "round_robin", "least_loaded", "shortest_queue")
MB = 1024 * 1024


def max_rss_bytes() -> int:
    """Peak resident set size of this process: ``VmHWM`` of ``/proc/self/status`` on Linux, else ``ru_maxrss``.

    On Linux ``ru_maxrss`` of a child is at least its parent's resident size when it was started (the kernel
    carries the high-water mark over ``exec``), here the parent that built the store; ``VmHWM`` counts only
    the child's own pages. (``ru_maxrss`` is KiB on Linux, bytes on macOS.)"""
    with contextlib.suppress(OSError, StopIteration):
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ------------------------------------------------------------------------------------------------------------
# Building the stores.


def template_record() -> dict[str, Any]:
    """One real record: the first run of load_sweep, shortened to 300 jobs."""
    from simulator.runner import execute_run, plan

    _, runs = plan(REPO_ROOT / "experiments" / "load_sweep.toml", replications=1)
    run = runs[0]
    config = {**run.config, "simulation": {**run.config["simulation"], "max_jobs": 300}}
    record = execute_run(type(run)(**{**run.__dict__, "config": config}))
    if record["status"] != "ok":
        raise SystemExit(f"the template run failed: {record['error']}")
    return record


def synthetic_runs(template: dict[str, Any], n_runs: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(grid entry, record) of ``n_runs`` runs: cells of (load, size, policy), replication-major."""
    import numpy as np

    from simulator.runner import replication_seed

    rng = np.random.default_rng(1)
    names = list(template["summary"])
    cells = [(load, size, policy) for load in range(LOADS) for size in range(SIZES) for policy in POLICIES]
    for index in range(n_runs):
        replication, cell = divmod(index, len(cells))
        load, size, policy = cells[cell]
        seed = replication_seed(7, replication)
        point = load * SIZES + size
        factors = {"load": round(0.1 + 0.015 * load, 4), "nodes.edge.slots": size + 1}
        config = {**template["config"], "simulation": {**template["config"]["simulation"], "seed": seed,
                                                       "max_jobs": 1000 + point}}
        params: dict[str, Any] = {}
        key = hashlib.sha256(f"{point} {policy} {replication}".encode()).hexdigest()  # unique, cheaper than run_key
        entry = {"key": key, "point": point, "factors": factors, "derived": {}, "policy": policy,
                 "policy_name": policy, "policy_params": params, "replication": replication, "seed": seed}
        scale = rng.uniform(0.5, 1.5, len(names) + 1)
        summary = {name: (type(value)(value * s) if isinstance(value, int | float) else value)
                   for (name, value), s in zip(template["summary"].items(), scale, strict=False)}
        quantiles = np.sort(np.asarray(template["response_quantiles_s"]) * scale[-1]).tolist()
        yield entry, {**template, **entry, "config": config, "summary": summary, "response_quantiles_s": quantiles,
                      "utilization_by_node": {node: value * scale[0] for node, value in
                                              template["utilization_by_node"].items()}}


def manifest(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": 1, "experiment": "synthetic", "source": "bench_store.py", "description": "", "scenario": "",
            "quick": False, "replications": max(e["replication"] for e in entries) + 1, "seed": 7,
            "factors": [{"name": "load", "levels": sorted({e["factors"]["load"] for e in entries})},
                        {"name": "nodes.edge.slots", "levels": sorted({e["factors"]["nodes.edge.slots"]
                                                                       for e in entries})}],
            "derived": [], "policies": list(POLICIES), "package_version": "", "written_at": "", "runs": entries}


def build_database(root: Path, template: dict[str, Any], n_runs: int) -> float:
    from simulator.runner.store import ResultStore

    started = time.perf_counter()
    entries = []
    with ResultStore.create(root, "synthetic") as store:
        batch: list[dict[str, Any]] = []
        for entry, record in synthetic_runs(template, n_runs):
            entries.append(entry)
            batch.append(record)
            if len(batch) == 5000:
                store.write_runs(batch)
                batch.clear()
        store.write_runs(batch)
        store.write_manifest(manifest(entries))
    return time.perf_counter() - started


def build_json_store(root: Path, template: dict[str, Any], n_runs: int) -> float:
    started = time.perf_counter()
    (root / "runs").mkdir(parents=True)
    (root / "store.json").write_text(json.dumps({"format": 1, "package": "allocsim", "experiment": "synthetic"}))
    entries = []
    for entry, record in synthetic_runs(template, n_runs):
        entries.append(entry)
        (root / "runs" / f"{entry['key']}.json").write_text(json.dumps({**record, "format": 1}, indent=1) + "\n")
    (root / "manifest.json").write_text(json.dumps(manifest(entries), indent=1) + "\n")
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------------------
# Child side: one measurement in a fresh interpreter, printed as one JSON line.


def child(mode: str, root: Path, out: Path) -> dict[str, Any]:
    """One measurement; its wall and CPU times include the imports, as a user's command does."""
    started, cpu_started = time.perf_counter(), time.process_time()
    from simulator.cli import main as cli_main
    from simulator.runner import load_results

    result: dict[str, Any] = {"mode": mode}
    if mode == "load":
        result["runs"] = len(load_results(root).runs)
    elif mode == "report":
        with contextlib.redirect_stdout(io.StringIO()):
            result["exit"] = cli_main(["report", str(root), "--out", str(out)])
    elif mode == "report_parts":
        from simulator.runner.report import format_report, summarize, write_report

        marks = [("imports", time.perf_counter())]
        results = load_results(root)
        marks.append(("load_results", time.perf_counter()))
        summary = summarize(results)
        marks.append(("summarize", time.perf_counter()))
        format_report(results, summary, list(results.metrics), 0.95)
        marks.append(("format_report", time.perf_counter()))
        write_report(results, summary, out)
        marks.append(("write_report", time.perf_counter()))
        result["parts_s"] = {name: now - before for (_, before), (name, now) in
                             zip([("start", started), *marks], marks, strict=False)}
    elif mode == "long_tables":
        results = load_results(root)
        result["load_s"] = time.perf_counter() - started
        result["node_rows"] = len(results.node_utilization)
        result["quantile_rows"] = len(results.response_quantiles)
    elif mode != "baseline":
        raise ValueError(f"unknown mode {mode!r}")
    result["wall_s"] = time.perf_counter() - started
    result["cpu_s"] = time.process_time() - cpu_started
    result["max_rss_bytes"] = max_rss_bytes()
    return result


def measure(mode: str, root: Path, code_root: Path = REPO_ROOT) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter importing ``simulator`` from ``code_root``."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-c", "import sys; "
                   f"sys.path[:0] = [{str(code_root)!r}, {str(Path(__file__).parent)!r}]; "
                   "import bench_store; bench_store.main(sys.argv[1:])",
                   "--child", mode, "--child-dir", str(root), "--child-out", out]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=code_root)
    if completed.returncode != 0:
        raise SystemExit(f"{mode} measurement failed:\n{completed.stderr}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def json_store_code(commit: str, into: Path) -> Path | None:
    """The ``simulator`` package as of ``commit`` (git archive), or None when git cannot give it."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", commit, "simulator"], capture_output=True,
                             check=False)
    if archive.returncode != 0:
        print(f"(git archive {commit} failed: {archive.stderr.decode(errors='replace').strip()})")
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def show(label: str, result: dict[str, Any], baseline: dict[str, Any]) -> None:
    extra = (result["max_rss_bytes"] - baseline["max_rss_bytes"]) / MB
    print(f"  {label:<44} {result['wall_s']:7.2f} s (CPU {result['cpu_s']:5.2f} s)   peak RSS "
          f"{result['max_rss_bytes'] / MB:7.0f} MB ({extra:+.0f} MB over the imports)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the SQLite store (default 100,000)")
    parser.add_argument("--json-runs", type=int, default=20_000,
                        help="runs in the JSON store for the old-vs-new ratio (default 20,000; 0: skip)")
    parser.add_argument("--json-commit", default=JSON_STORE_COMMIT,
                        help="commit whose code reads the JSON store (default %(default)s)")
    parser.add_argument("--json-code", type=Path,
                        help="a directory holding the JSON store's `simulator` package, instead of --json-commit")
    parser.add_argument("--keep", type=Path, help="build the stores in this directory and keep them")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help="also write the results as JSON (default path: results/perf/bench_store.json)")
    parser.add_argument("--child", choices=("baseline", "load", "report", "report_parts", "long_tables"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--child-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs <= 0 or args.json_runs < 0:
        parser.error("--runs must be positive and --json-runs at least 0")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.child_dir, args.child_out)))
        return None
    sys.path.insert(0, str(REPO_ROOT))
    sys.path.insert(0, str(Path(__file__).parent))
    from _perf import machine_description, write_json

    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        template = template_record()
        results: dict[str, Any] = {"machine": machine_description(), "runs": args.runs}
        database = work / f"sqlite_{args.runs}"
        shutil.rmtree(database, ignore_errors=True)
        results["build_s"] = build_database(database, template, args.runs)
        size = (database / "store.sqlite").stat().st_size
        print(f"SQLite store of {args.runs:,} runs built in {results['build_s']:.1f} s ({size / MB:.0f} MB); "
              "each measurement in a fresh subprocess, memory = peak RSS (VmHWM) of that subprocess\n")
        baseline = measure("baseline", database)
        results["baseline"] = baseline
        print(f"  {'imports only (baseline)':<44} {baseline['wall_s']:7.2f} s (CPU {baseline['cpu_s']:5.2f} s)   "
              f"peak RSS {baseline['max_rss_bytes'] / MB:7.0f} MB")
        for mode, label in (("load", "load_results"), ("report", "report (load, summarize, print, write)"),
                            ("long_tables", "load_results + node_utilization + quantiles")):
            results[mode] = measure(mode, database)
            show(label, results[mode], baseline)
            if mode == "report":
                results["report_parts"] = measure("report_parts", database)
                print("    report's parts, timed one by one: " + ", ".join(
                    f"{name} {seconds:.2f} s" for name, seconds in results["report_parts"]["parts_s"].items()))
        long_tables = results["long_tables"]
        print(f"    ({long_tables['node_rows']:,} utilization rows, {long_tables['quantile_rows']:,} quantile rows)")
        report = results["report"]
        met = report["wall_s"] <= 5 and report["max_rss_bytes"] <= 1024 * MB
        print(f"  target for {args.runs:,} runs: report <= 5 s and <= 1024 MB: {'met' if met else 'NOT met'}")

        if args.json_runs:
            code = args.json_code or json_store_code(args.json_commit,
                                                     Path(stack.enter_context(tempfile.TemporaryDirectory())))
            print(f"\n{args.json_runs:,} runs: JSON store read by the code of {args.json_code or args.json_commit} "
                  "against the SQLite store with this code")
            if code is None:
                print("  (no JSON-store code: as measured in the issue, not here: 20,000 runs, report 25.5 s, "
                      "2.1 GB)")
            else:
                old_root, new_root = work / f"json_{args.json_runs}", work / f"sqlite_{args.json_runs}"
                shutil.rmtree(old_root, ignore_errors=True)
                shutil.rmtree(new_root, ignore_errors=True)
                build_json_store(old_root, template, args.json_runs)
                build_database(new_root, template, args.json_runs)
                old_baseline = measure("baseline", old_root, code)
                comparison: dict[str, Any] = {}
                for mode in ("load", "report"):
                    old, new = measure(mode, old_root, code), measure(mode, new_root)
                    comparison[mode] = {"json": old, "sqlite": new}
                    show(f"{mode}: JSON store", old, old_baseline)
                    show(f"{mode}: SQLite store", new, baseline)
                    print(f"  {mode}: JSON / SQLite = {old['wall_s'] / new['wall_s']:.1f}x time, "
                          f"{old['max_rss_bytes'] / new['max_rss_bytes']:.1f}x peak memory")
                results["json_comparison"] = {"runs": args.json_runs, "commit": args.json_commit, **comparison}
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
