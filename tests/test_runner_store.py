"""The result store and sweeps: one transaction per run in an SQLite database that opens without allocsim,
configurations stored once, resuming, reuse after edits, failed runs recorded, incompatible stores refused,
older JSON stores migrated."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pandas as pd
import pytest
from runner_support import EXPERIMENT, write_experiment, write_json_store

from simulator.cli import main
from simulator.runner import STORE_FORMAT, ResultStore, StoreError, load_results, run_key, run_sweep, sweep
from simulator.runner import worker as worker_module
from simulator.runner.results import PROVENANCE_COLUMNS

pytestmark = pytest.mark.unit


def query(root, sql):
    """Rows of ``sql`` on a store's database, through the standard library only (as a researcher would)."""
    with contextlib.closing(sqlite3.connect(root / "store.sqlite")) as database:
        return database.execute(sql).fetchall()


def test_sweep_returns_tidy_rows_and_a_database_readable_without_allocsim(tmp_path):
    path = write_experiment(tmp_path)
    out = tmp_path / "results" / "tiny"
    runs = sweep(path, out=out)
    assert len(runs) == 16 and (runs["status"] == "ok").all()
    for column in ("nodes.server.slots", "load", "arrivals.users.rate_per_s", "policy", "policy_name",
                   "policy.tie_break", "replication", "seed", "response_time_mean_s", "runtime_s", "key"):
        assert column in runs.columns
    assert runs.attrs["results_dir"] == str(out)
    assert sorted(row[0] for row in query(out, "SELECT key FROM runs")) == sorted(runs["key"])
    # a configuration is stored once: the 2 replications of a (factors, policy) cell share it
    assert query(out, "SELECT count(*), count(DISTINCT config_hash) FROM runs") == [(16, 8)]
    assert query(out, "SELECT count(*) FROM configs") == [(8,)]
    assert query(out, "SELECT count(*) FROM response_quantiles WHERE response_s_p000 <= response_s_p050 "
                      "AND response_s_p050 <= response_s_p100") == [(16,)]
    assert query(out, "SELECT value FROM store_info WHERE name = 'store_format'") == [(str(STORE_FORMAT),)]
    per_policy = dict(query(out, "SELECT g.policy, avg(m.response_time_mean_s) FROM grid g JOIN runs r USING (key) "
                                 "JOIN metrics m USING (run_id) GROUP BY g.policy"))
    assert per_policy == pytest.approx(runs.groupby("policy")["response_time_mean_s"].mean().to_dict())
    key = runs["key"].iloc[0]
    with ResultStore.open(out) as store:
        record = store.read_run(key)
    assert record is not None and record["status"] == "ok" and record["error"] is None
    for field in ("config", "seed", "package_version", "runtime_s", "started_at", "host", "summary",
                  "utilization_by_node", "response_quantiles_s"):
        assert field in record
    assert len(record["response_quantiles_s"]) == 101
    # the long tables: every node and every probability of every run, with the run's grid columns
    results = load_results(out)
    quantiles = results.response_quantiles
    assert len(quantiles) == 16 * 101 and quantiles.groupby("key")["probability"].agg(["min", "max"]).eq(
        [0.0, 1.0]).all().all()
    assert quantiles[quantiles["key"] == key]["response_s"].tolist() == record["response_quantiles_s"]
    nodes = results.node_utilization
    assert len(nodes) == 16 * 2 and {"key", "load", "policy", "seed", "node", "utilization"} <= set(nodes.columns)
    assert dict(zip(nodes.loc[nodes["key"] == key, "node"], nodes.loc[nodes["key"] == key, "utilization"],
                    strict=True)) == record["utilization_by_node"]
    # the stored configuration, with its seed put back, is the one the key was computed from
    assert run_key(record["config"], record["policy_name"], record["policy_params"], record["seed"]) == key


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
    assert query(out, "SELECT count(*) FROM runs") == [(24,)]
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
    assert repr(results) == (f"Results('tiny' in {out}: 16 runs (12 ok, 4 failed, 0 missing); factors: "
                             "nodes.server.slots, load; policies: random, least_loaded)")
    assert "12 ok, 4 failed" in results._repr_html_() and "<table" in results._repr_html_()
    with ResultStore.open(out) as store:
        record = store.read_run(results.failed["key"].iloc[0])
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
    # a retried run replaces the failed one in every table
    assert query(out, "SELECT count(*), count(DISTINCT run_id) FROM node_utilization") == [(16 * 2, 16)]
    assert query(out, "SELECT count(*) FROM response_quantiles") == [(16,)]
    assert query(out, "SELECT count(*) FROM runs WHERE status = 'failed'") == [(0,)]


def test_incompatible_or_foreign_stores_are_refused(tmp_path, capsys):
    path = write_experiment(tmp_path)
    old = tmp_path / "old"
    (old / "runs").mkdir(parents=True)
    with pytest.raises(StoreError, match=f"older JSON format .*python -m simulator migrate {old}"):
        sweep(path, out=old)
    assert main(["sweep", str(path), "--out", str(old), "--dry-run"]) == 2
    assert f"python -m simulator migrate {old}" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "store.sqlite").write_bytes(b"not a database at all" * 100)
    assert main(["sweep", str(path), "--out", str(foreign)]) == 2
    assert f"{foreign / 'store.sqlite'}: cannot open as a result store" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no result store here" in capsys.readouterr().err
    out = tmp_path / "r"
    sweep(path, out=out)
    with contextlib.closing(sqlite3.connect(out / "store.sqlite")) as database, database:
        database.execute("UPDATE store_info SET value = '0' WHERE name = 'schema_version'")
    assert main(["report", str(out)]) == 2
    assert "result store schema 0 with run format 1" in capsys.readouterr().err
    other = tmp_path / "other.sqlite"
    with contextlib.closing(sqlite3.connect(other)) as database, database:
        database.execute("CREATE TABLE store_info (name TEXT, value TEXT)")
    other.replace(foreign / "store.sqlite")
    with pytest.raises(StoreError, match="not a result store written by allocsim"):
        load_results(foreign)


def test_a_store_killed_while_it_was_created_is_created_again(tmp_path):
    """A sweep killed between creating the database file and committing its tables leaves an empty database:
    the next sweep creates the tables in it instead of refusing it."""
    path = write_experiment(tmp_path)
    out = tmp_path / "r"
    out.mkdir()
    with contextlib.closing(sqlite3.connect(out / "store.sqlite")) as database:
        database.execute("PRAGMA journal_mode = WAL")
    assert run_sweep(path, out=out, progress=False).n_executed == 16


def test_a_write_that_fails_midway_leaves_nothing(tmp_path):
    """One transaction per run: a record that fails while its rows are written leaves no row anywhere."""
    with ResultStore.create(tmp_path / "s", "x") as store:
        good = {"key": "a", "format": STORE_FORMAT, "status": "ok", "config": {}, "summary": {"m_s": 1.5},
                "utilization_by_node": {"n": 0.5}, "response_quantiles_s": [float(i) for i in range(101)]}
        store.write_run(good)
        with pytest.raises(sqlite3.Error):  # an object SQLite cannot store, after the run's row is inserted
            store.write_run({**good, "key": "b", "summary": {"m_s": 2.0}, "utilization_by_node": {"n": object()}})
        assert store.run_keys() == {"a"}
        assert store.read_run("a")["response_quantiles_s"] == [float(i) for i in range(101)]
    assert query(tmp_path / "s", "SELECT count(*) FROM metrics") == [(1,)]
    assert query(tmp_path / "s", "SELECT count(*) FROM node_utilization") == [(1,)]


def test_migrate_converts_a_json_store_and_keeps_its_keys(tmp_path, capsys):
    """A JSON store (store.json, manifest.json, runs/*.json) converted by `migrate` reads as the same tables,
    and sweeping again runs nothing: the run keys did not change."""
    path = write_experiment(tmp_path)
    old = tmp_path / "old"
    write_json_store(path, old)
    (old / "runs" / "broken.json").write_text("{half")
    (old / "runs" / "short.json").write_text(json.dumps({"format": STORE_FORMAT, "key": "short", "status": "ok",
                                                          "summary": {}, "response_quantiles_s": [1.0]}))
    assert main(["report", str(old)]) == 2
    assert f"python -m simulator migrate {old}" in capsys.readouterr().err
    assert main(["migrate", str(old)]) == 0
    assert "16 runs converted into store.sqlite, 2 damaged run files skipped" in capsys.readouterr().out
    assert sorted(p.name for p in old.iterdir()) == ["json_store_backup", "store.sqlite"]
    assert sorted(p.name for p in (old / "json_store_backup").iterdir()) == ["manifest.json", "runs", "store.json"]
    clean = run_sweep(path, out=tmp_path / "clean", progress=False)
    migrated = load_results(old)
    pd.testing.assert_frame_equal(migrated.runs.drop(columns=PROVENANCE_COLUMNS),
                                  clean.runs.drop(columns=PROVENANCE_COLUMNS), check_exact=True)
    assert run_sweep(path, out=old, progress=False).n_executed == 0
    assert main(["migrate", str(old)]) == 2
    assert "already holds store.sqlite" in capsys.readouterr().err

