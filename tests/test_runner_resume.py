"""Kill a sweep with SIGKILL partway, run it again: no run lost, none duplicated, the same final table as an
uninterrupted sweep. The store is watched and checked through the standard library's sqlite3 only."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT
from runner_support import EXPERIMENT, write_experiment

from simulator.runner import load_results, run_sweep
from simulator.runner.report import summarize
from simulator.runner.results import PROVENANCE_COLUMNS

pytestmark = pytest.mark.examples

SLOWER = EXPERIMENT.replace('"simulation.max_jobs" = 120', '"simulation.max_jobs" = 3000').replace(
    "replications = 2", "replications = 3")  # 24 runs of about 0.1 s


def stored_keys(root):
    """Keys of the runs committed to a store's database, read without allocsim (empty before it exists)."""
    path = root / "store.sqlite"
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as database:
            return [row[0] for row in database.execute("SELECT key FROM runs")]
    except sqlite3.OperationalError:  # the sweep is creating its tables
        return []


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    path = write_experiment(tmp_path, SLOWER)
    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "simulator", "sweep", str(path), "--out", str(killed_dir),
                                "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if len(stored_keys(killed_dir)) >= 4:
                break
            time.sleep(0.01)
        assert process.poll() is None, f"the sweep ended before it could be killed: {process.stderr.read()!r}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    stored_before = set(stored_keys(killed_dir))
    assert 4 <= len(stored_before) < 24
    with contextlib.closing(sqlite3.connect(killed_dir / "store.sqlite")) as database:
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    resumed = run_sweep(path, out=killed_dir, progress=False)
    assert resumed.n_reused == len(stored_before)
    assert resumed.n_executed == 24 - len(stored_before)  # only what was missing
    keys = stored_keys(killed_dir)
    assert len(keys) == 24 and set(keys) >= stored_before  # nothing lost, nothing twice
    with contextlib.closing(sqlite3.connect(killed_dir / "store.sqlite")) as database:
        rows = [database.execute(f"SELECT count(*), count(DISTINCT run_id) FROM {table}").fetchone()
                for table in ("metrics", "node_utilization", "response_quantiles")]
    assert rows == [(24, 24), (48, 24), (24, 24)]  # no half-written run: every one has all its rows

    clean = run_sweep(path, out=tmp_path / "clean", progress=False)
    killed_runs = load_results(killed_dir).runs
    assert killed_runs["key"].is_unique and (killed_runs["status"] == "ok").all()
    pd.testing.assert_frame_equal(killed_runs.drop(columns=PROVENANCE_COLUMNS),
                                  clean.runs.drop(columns=PROVENANCE_COLUMNS), check_exact=True)
    pd.testing.assert_frame_equal(summarize(load_results(killed_dir)), summarize(load_results(tmp_path / "clean")),
                                  check_exact=True)
