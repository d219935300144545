"""Executors give the same results, bit for bit: serial, local processes and a Dask LocalCluster."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from runner_support import EXPERIMENT, write_experiment

from simulator.runner import run_sweep
from simulator.runner.executors import ProcessExecutor, SerialExecutor, make_executor
from simulator.runner.results import PROVENANCE_COLUMNS
from simulator.runner.store import ResultStore
from simulator.runner.worker import RESULT_FIELDS

pytestmark = pytest.mark.unit

SMALL = EXPERIMENT.replace("replications = 2", "replications = 1")  # 8 runs


def result_fields(directory):
    """The part of every stored record that depends on the run's inputs only, by key."""
    with ResultStore.open(directory) as store:
        return {key: {field: record[field] for field in RESULT_FIELDS}
                for key in store.run_keys() if (record := store.read_run(key)) is not None}


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("serial")
    path = write_experiment(directory, SMALL)
    outcome = run_sweep(path, executor="serial", out=directory / "results", progress=False)
    assert outcome.n_executed == 8 and (outcome.runs["status"] == "ok").all()
    return path, directory / "results", outcome.runs


def assert_same_results(serial, other_dir, other_runs):
    _, serial_dir, serial_runs = serial
    assert result_fields(other_dir) == result_fields(serial_dir)  # SQLite REAL is the same 64-bit float
    pd.testing.assert_frame_equal(serial_runs.drop(columns=PROVENANCE_COLUMNS),
                                  other_runs.drop(columns=PROVENANCE_COLUMNS), check_exact=True)


def test_process_pool_equals_serial_bit_for_bit(serial_sweep, tmp_path):
    out = tmp_path / "processes"
    outcome = run_sweep(serial_sweep[0], executor=ProcessExecutor(workers=2), out=out, progress=False)
    assert outcome.n_executed == 8
    with ResultStore.open(out) as store:
        assert os.getpid() not in {store.read_run(key)["pid"] for key in store.run_keys()}
    assert_same_results(serial_sweep, out, outcome.runs)


def test_dask_local_cluster_equals_serial(serial_sweep, tmp_path):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "dask"
    outcome = run_sweep(serial_sweep[0], executor="dask", workers=2, out=out, progress=False)
    assert outcome.n_executed == 8
    assert_same_results(serial_sweep, out, outcome.runs)


def test_executors_yield_every_item_once():
    items = list(range(7))
    assert sorted(SerialExecutor().map_unordered(abs, items)) == [(i, i) for i in items]
    assert sorted(ProcessExecutor(workers=2, start_method="fork").map_unordered(abs, items)) == \
        [(i, i) for i in items]


def test_make_executor_rejects_bad_options():
    from simulator.runner import ExecutorError

    with pytest.raises(ExecutorError, match="unknown executor 'threads'"):
        make_executor("threads")
    with pytest.raises(ExecutorError, match="--workers must be a positive integer"):
        make_executor("processes", workers=0)
