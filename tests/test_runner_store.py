"""The result store and sweeps: one atomic file per run, resuming, reuse after edits, failed runs recorded,
incompatible stores refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from runner_support import EXPERIMENT, write_experiment

from simulator.cli import main
from simulator.runner import STORE_FORMAT, ResultStore, StoreError, load_results, run_sweep, sweep
from simulator.runner import worker as worker_module
from simulator.runner.results import PROVENANCE_COLUMNS

pytestmark = pytest.mark.unit


def test_sweep_returns_tidy_rows_and_stores_one_file_per_run(tmp_path):
    path = write_experiment(tmp_path)
    out = tmp_path / "results" / "tiny"
    runs = sweep(path, out=out)
    assert len(runs) == 16 and (runs["status"] == "ok").all()
    for column in ("nodes.server.slots", "load", "arrivals.users.rate_per_s", "policy", "policy_name",
                   "policy.tie_break", "replication", "seed", "response_time_mean_s", "runtime_s", "key"):
        assert column in runs.columns
    assert runs.attrs["results_dir"] == str(out)
    files = sorted((out / "runs").glob("*.json"))
    assert [f.stem for f in files] == sorted(runs["key"])
    record = json.loads(files[0].read_text())
    assert record["format"] == STORE_FORMAT and record["status"] == "ok" and record["error"] is None
    for field in ("config", "seed", "package_version", "runtime_s", "started_at", "host", "summary",
                  "utilization_by_node", "response_quantiles_s"):
        assert field in record
    assert len(record["response_quantiles_s"]) == 101
    assert json.loads((out / "store.json").read_text())["format"] == STORE_FORMAT


def test_second_sweep_runs_nothing_and_an_edit_reuses_unchanged_runs(tmp_path):
    path = write_experiment(tmp_path)
    out = tmp_path / "r"
    first = run_sweep(path, out=out, progress=False)
    assert first.n_executed == 16
    again = run_sweep(path, out=out, progress=False)
    assert again.n_executed == 0 and again.n_reused == 16
    pd.testing.assert_frame_equal(first.runs.drop(columns=PROVENANCE_COLUMNS),
                                  again.runs.drop(columns=PROVENANCE_COLUMNS))
    write_experiment(tmp_path, EXPERIMENT.replace("load = [0.3, 0.6]", "load = [0.3, 0.6, 0.9]"))
    edited = run_sweep(path, out=out, progress=False)
    assert edited.n_runs == 24 and edited.n_reused == 16 and edited.n_executed == 8
    assert len(list((out / "runs").glob("*.json"))) == 24
    assert len(load_results(out).runs) == 24  # the report follows the latest grid


def test_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch, capsys):
    original = worker_module.simulate_config

    def flaky(config, base_dir, policy, params, seed, source="scenario"):
        if policy == "random" and config["nodes"]["server"]["slots"] == 2:
            raise RuntimeError("boom in the policy")
        return original(config, base_dir, policy, params, seed, source)

    monkeypatch.setattr(worker_module, "simulate_config", flaky)
    path = write_experiment(tmp_path)
    out = tmp_path / "r"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "4 run now (4 failed)" not in captured.out and "16 run now (4 failed)" in captured.out
    assert "boom in the policy" in captured.err
    results = load_results(out)
    assert len(results.failed) == 4 and (results.failed["policy"] == "random").all()
    record = json.loads((out / "runs" / f"{results.failed['key'].iloc[0]}.json").read_text())
    assert record["status"] == "failed" and record["error"]["type"] == "RuntimeError"
    assert "Traceback" in record["error"]["traceback"] and record["config"]["nodes"]["server"]["slots"] == 2
    assert main(["report", str(out)]) == 0
    report = capsys.readouterr().out
    assert "4 of 16 runs failed:" in report and "RuntimeError: boom in the policy" in report
    # failed runs count as done, unless asked to retry them (after a fix)
    monkeypatch.setattr(worker_module, "simulate_config", original)
    assert run_sweep(path, out=out, progress=False).n_executed == 0
    retried = run_sweep(path, out=out, progress=False, retry_failed=True)
    assert retried.n_executed == 4 and (retried.runs["status"] == "ok").all()


def test_incompatible_or_foreign_stores_are_refused(tmp_path, capsys):
    path = write_experiment(tmp_path)
    old = tmp_path / "old"
    (old / "runs").mkdir(parents=True)
    with pytest.raises(StoreError, match="no store.json: written by an older, incompatible version"):
        sweep(path, out=old)
    (old / "store.json").write_text(json.dumps({"format": 0, "package_version": "0.0.1"}))
    assert main(["sweep", str(path), "--out", str(old)]) == 2
    assert "result store format 0 (allocsim 0.0.1 wrote it) is incompatible" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no result store here" in capsys.readouterr().err
    out = tmp_path / "r"
    sweep(path, out=out)
    victim = next((out / "runs").glob("*.json"))
    record = json.loads(victim.read_text())
    victim.write_text(json.dumps({**record, "format": STORE_FORMAT + 1}))
    with pytest.raises(StoreError, match="run record format"):
        load_results(out)


def test_atomic_writes_leave_no_partial_files(tmp_path):
    store = ResultStore.create(tmp_path / "s", "x")
    leftover = store.runs_dir / ".abc.json.999999999.tmp"  # a writer killed before its rename
    leftover.write_text("{half")
    assert store.keys() == set()
    assert store.remove_leftovers() == 1 and not leftover.exists()
    store.write_run({"key": "abc", "format": STORE_FORMAT, "status": "ok"})
    assert store.keys() == {"abc"} and [p.name for p in store.runs_dir.iterdir()] == ["abc.json"]
    (store.runs_dir / "bad.json").write_text("{not json")
    assert store.read_run("bad") is None  # damaged: treated as missing, so it is run again
