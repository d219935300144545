"""The result store: one SQLite database per experiment, ``results/NAME/store.sqlite``.

It can be opened without allocsim (``sqlite3 store.sqlite``, DuckDB's ``ATTACH 'store.sqlite' (TYPE
sqlite)``, ``pandas.read_sql``). Tables (units in column names; ``*_json`` columns hold canonical JSON)::

    store_info(name PRIMARY KEY, value)   schema_version, store_format (of run keys and records, see
                                          `STORE_FORMAT`), package, package_version, experiment, created_at
    configs(config_hash PRIMARY KEY, config_json)
        each distinct resolved scenario configuration once: sha256 of its canonical JSON, which is the run's
        resolved configuration without ``simulation.seed`` (the run's ``seed`` column holds it)
    runs(run_id INTEGER PRIMARY KEY, key UNIQUE, status 'ok'|'failed', config_hash, experiment, point,
         policy, policy_name, policy_params_json, factors_json, derived_json, replication, seed,
         runtime_s, sim_wall_s, package_version, python_version, platform, host, pid, started_at (UTC ISO),
         error_type, error_message, error_traceback, store_format)
        one row per finished run; ``key`` is the sha256 run key (`simulator.runner.grid.run_key`)
    metrics(run_id PRIMARY KEY, <one column per scalar summary metric: response_time_mean_s, ...>)
        a column is added when a run reports a new metric; NULL where a run did not report it or it is NaN
    node_utilization(run_id, node, utilization)          busy fraction of each node, in the node order of the run
    response_quantiles(run_id PRIMARY KEY, response_s_p000, response_s_p001, ..., response_s_p100)
        job response time (s) at each probability 0.00, 0.01, ..., 1.00 of `QUANTILES`: one row per run (one
        row of 101 values reads about ten times faster than 101 rows of one value)
    manifest(name PRIMARY KEY, value_json)   the latest sweep: experiment, factors (name, levels), derived,
                                             policies, replications, seed, ...
    grid(position INTEGER PRIMARY KEY, key, point, policy, replication, seed)   the latest sweep's runs, in order
    grid_points(point PRIMARY KEY, factors_json, derived_json)   factor levels and derived values of each point
    grid_policies(policy PRIMARY KEY, policy_name, policy_params_json)   what each policy label instantiates

For example, the mean response time per policy over the latest sweep::

    SELECT g.policy, avg(m.response_time_mean_s) FROM grid g JOIN runs r USING (key)
        JOIN metrics m USING (run_id) WHERE r.status = 'ok' GROUP BY g.policy;

Durability: the database runs in WAL mode with ``synchronous = FULL`` and each finished run is one
transaction, written by the sweep's main process only. A sweep killed at any instant (kill -9, power loss)
leaves every committed run whole and nothing of the one being written (SQLite rolls it back on the next
open); ``key`` is unique, so resuming cannot duplicate a run. A directory holding the older JSON store
(``store.json``, ``runs/*.json``) is refused with the command that converts it (`migrate_json_store`).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulator.runner.errors import StoreError
from simulator.runner.grid import STORE_FORMAT, canonical_json
from simulator.runner.worker import QUANTILES

__all__ = ["DATABASE_FILE", "SCHEMA_VERSION", "ResultStore", "migrate_json_store"]

DATABASE_FILE = "store.sqlite"
SCHEMA_VERSION = 1
"""Version of the tables above; a database with another one is refused."""

JSON_STORE_FILES = ("store.json", "manifest.json", "runs")
"""The older JSON store's files (before `SCHEMA_VERSION` 1), converted by `migrate_json_store`."""
JSON_BACKUP_DIR = "json_store_backup"
"""Where `migrate_json_store` moves the JSON files it converted."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_info (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS configs (config_hash TEXT PRIMARY KEY, config_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    config_hash TEXT NOT NULL REFERENCES configs (config_hash), experiment TEXT, point INTEGER,
    policy TEXT, policy_name TEXT, policy_params_json TEXT, factors_json TEXT, derived_json TEXT,
    replication INTEGER, seed INTEGER, runtime_s REAL, sim_wall_s REAL, package_version TEXT,
    python_version TEXT, platform TEXT, host TEXT, pid INTEGER, started_at TEXT,
    error_type TEXT, error_message TEXT, error_traceback TEXT, store_format INTEGER);
CREATE TABLE IF NOT EXISTS metrics (run_id INTEGER PRIMARY KEY REFERENCES runs (run_id));
CREATE TABLE IF NOT EXISTS node_utilization (
    run_id INTEGER NOT NULL REFERENCES runs (run_id), node TEXT NOT NULL, utilization REAL);
CREATE INDEX IF NOT EXISTS node_utilization_by_run ON node_utilization (run_id);
CREATE TABLE IF NOT EXISTS response_quantiles (
    run_id INTEGER PRIMARY KEY REFERENCES runs (run_id), {quantile_columns});
CREATE TABLE IF NOT EXISTS manifest (name TEXT PRIMARY KEY, value_json TEXT);
CREATE TABLE IF NOT EXISTS grid (
    position INTEGER PRIMARY KEY, key TEXT NOT NULL, point INTEGER NOT NULL, policy TEXT NOT NULL,
    replication INTEGER NOT NULL, seed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grid_points (point INTEGER PRIMARY KEY, factors_json TEXT, derived_json TEXT);
CREATE TABLE IF NOT EXISTS grid_policies (policy TEXT PRIMARY KEY, policy_name TEXT, policy_params_json TEXT);
"""

QUANTILE_COLUMNS = tuple(f"response_s_p{round(100 * p):03d}" for p in QUANTILES)
"""Columns of the response_quantiles table, one per probability of `QUANTILES`."""
_SCHEMA = _SCHEMA.format(quantile_columns=", ".join(f"{name} REAL" for name in QUANTILE_COLUMNS))

_RUN_COLUMNS = ("key", "status", "config_hash", "experiment", "point", "policy", "policy_name",
                "policy_params_json", "factors_json", "derived_json", "replication", "seed", "runtime_s",
                "sim_wall_s", "package_version", "python_version", "platform", "host", "pid", "started_at",
                "error_type", "error_message", "error_traceback", "store_format")
_TABLES = ("store_info", "configs", "runs", "metrics", "node_utilization", "response_quantiles", "manifest",
           "grid", "grid_points", "grid_policies")
_FETCH_ROWS = 200_000
_BUSY_TIMEOUT_S = 60.0


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def quote(name: str) -> str:
    """An SQL identifier for any column name (metric names come from simulation summaries)."""
    return '"' + name.replace('"', '""') + '"'


def config_without_seed(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved configuration as `configs` stores it: without ``simulation.seed``."""
    stripped = dict(config)
    simulation = stripped.get("simulation")
    if isinstance(simulation, Mapping):
        stripped["simulation"] = {k: v for k, v in simulation.items() if k != "seed"}
    return stripped


def _number(value: Any) -> Any:
    """NaN as NULL (SQLite stores no NaN); anything else as it is."""
    return None if isinstance(value, float) and math.isnan(value) else value


class ResultStore:
    """The result database of one experiment (see the module docstring). Use `open` or `create`.

    Also a context manager that closes the connection.
    """

    def __init__(self, root: Path, connection: sqlite3.Connection) -> None:
        self.root = root
        self.path = root / DATABASE_FILE
        self._connection = connection
        self._metric_columns: list[str] | None = None

    # -- opening -------------------------------------------------------------------------------------------

    @classmethod
    def open_if_present(cls, root: str | Path) -> ResultStore | None:
        """The store at ``root``, or None where there is none yet (an older JSON store is refused as by `open`)."""
        if not (Path(root) / DATABASE_FILE).is_file():
            _refuse_json_store(Path(root))
            return None
        return cls.open(root)

    @classmethod
    def open(cls, root: str | Path) -> ResultStore:
        """Open an existing store.

        Raises:
            StoreError: No store there, an older JSON store (to migrate), or a file that is not a result
                database of this version.
        """
        root = Path(root)
        path = root / DATABASE_FILE
        if not path.is_file():
            _refuse_json_store(root)
            raise StoreError([f"{root}: no result store here (no {DATABASE_FILE}); run `python -m simulator sweep "
                              "EXPERIMENT.toml` first"])
        store = cls(root, _connect(path))
        try:
            store._check()
        except StoreError:
            store.close()
            raise
        return store

    def _check(self) -> None:
        """Refuse a database that is not a result store of this version."""
        path = self.path
        with self._guard():
            info = dict(self._connection.execute("SELECT name, value FROM store_info").fetchall())
            tables = {row[0] for row in self._connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if info.get("package") != "allocsim":
            raise StoreError([f"{path}: not a result store written by allocsim (its store_info names no allocsim "
                              "package); move it away (or pass another --out) and sweep again"])
        version = info.get("schema_version")
        if version != str(SCHEMA_VERSION) or info.get("store_format") != str(STORE_FORMAT):
            raise StoreError([f"{path}: result store schema {version} with run format {info.get('store_format')} "
                              f"(allocsim {info.get('package_version', '?')} wrote it) is incompatible with this "
                              f"version, which reads schema {SCHEMA_VERSION} with run format {STORE_FORMAT}; move "
                              "the directory away (or pass another --out) and sweep again"])
        if missing := [table for table in _TABLES if table not in tables]:
            raise StoreError([f"{path}: damaged (table(s) {', '.join(missing)} missing); move it away (or pass "
                              "another --out) and sweep again"])

    @classmethod
    def create(cls, root: str | Path, experiment: str) -> ResultStore:
        """Open the store at ``root``, creating it if the directory has none (an incompatible one is refused)."""
        root = Path(root)
        if not (root / DATABASE_FILE).exists():
            _refuse_json_store(root)
        return cls._initialize(root, root / DATABASE_FILE, experiment)

    @classmethod
    def _initialize(cls, root: Path, path: Path, experiment: str) -> ResultStore:
        """Open the database at ``path``, creating its tables when it has none: also a file left empty by a
        sweep killed while it created them."""
        from simulator import __version__

        root.mkdir(parents=True, exist_ok=True)
        store = cls(root, _connect(path))
        try:
            with store._guard(), store._transaction():
                if store._connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                    for statement in _SCHEMA.split(";"):
                        store._connection.execute(statement)
                    store._connection.executemany("INSERT INTO store_info (name, value) VALUES (?, ?)", [
                        ("schema_version", str(SCHEMA_VERSION)), ("store_format", str(STORE_FORMAT)),
                        ("package", "allocsim"), ("package_version", __version__), ("experiment", experiment),
                        ("created_at", _now())])
            store._check()
        except StoreError:
            store.close()
            raise
        return store

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's errors on a damaged or foreign file as a `StoreError` naming it."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.IntegrityError | sqlite3.InterfaceError | sqlite3.ProgrammingError):
                raise
            raise StoreError([f"{self.path}: unusable as a result store ({error}); if it is damaged or not allocsim's, "
                              "move it away (or pass another --out) and sweep again"]) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._connection.in_transaction:  # SQLite has not rolled it back itself (a full disk)
                self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    # -- runs ----------------------------------------------------------------------------------------------

    def run_keys(self) -> set[str]:
        """Keys of every stored run, finished or failed."""
        with self._guard():
            return {row[0] for row in self._connection.execute("SELECT key FROM runs")}

    def failed_keys(self) -> set[str]:
        with self._guard():
            return {row[0] for row in self._connection.execute("SELECT key FROM runs WHERE status = 'failed'")}

    def write_run(self, record: Mapping[str, Any]) -> None:
        """Store one run record (see `simulator.runner.worker`) in one transaction, replacing a stored run
        of the same key (a failed run retried)."""
        self.write_runs([record])

    def write_runs(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Store many run records in one transaction (migration, benchmarks); returns how many."""
        count = 0
        with self._guard(), self._transaction():
            for record in records:
                self._insert(record)
                count += 1
        return count

    def _insert(self, record: Mapping[str, Any]) -> None:
        connection = self._connection
        key = str(record["key"])
        old = connection.execute("SELECT run_id FROM runs WHERE key = ?", (key,)).fetchone()
        if old is not None:
            for table in ("metrics", "node_utilization", "response_quantiles", "runs"):
                connection.execute(f"DELETE FROM {table} WHERE run_id = ?", old)
        # a record's config is plain JSON data already (resolved by `expand`): no canonicalization pass
        config_json = json.dumps(config_without_seed(record.get("config", {})), sort_keys=True,
                                 separators=(",", ":"), ensure_ascii=True, default=str)
        config_hash = hashlib.sha256(config_json.encode()).hexdigest()
        connection.execute("INSERT OR IGNORE INTO configs (config_hash, config_json) VALUES (?, ?)",
                           (config_hash, config_json))
        error = record.get("error") or {}
        values = {
            "key": key, "status": record["status"], "config_hash": config_hash,
            "experiment": record.get("experiment"), "point": record.get("point"), "policy": record.get("policy"),
            "policy_name": record.get("policy_name"),
            "policy_params_json": canonical_json(record.get("policy_params", {})),
            "factors_json": json.dumps(record.get("factors", {}), default=str),
            "derived_json": json.dumps(record.get("derived", {}), default=str),
            "replication": record.get("replication"), "seed": record.get("seed"),
            "runtime_s": _number(record.get("runtime_s")), "sim_wall_s": _number(record.get("sim_wall_s")),
            "package_version": record.get("package_version"), "python_version": record.get("python_version"),
            "platform": record.get("platform"), "host": record.get("host"), "pid": record.get("pid"),
            "started_at": record.get("started_at"), "error_type": error.get("type"),
            "error_message": error.get("message"), "error_traceback": error.get("traceback"),
            "store_format": record.get("format", STORE_FORMAT),
        }
        run_id = connection.execute(
            f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
            [values[column] for column in _RUN_COLUMNS]).lastrowid
        summary = record.get("summary") or {}
        if summary:
            self._add_metric_columns(summary)
            names = list(summary)
            connection.execute(
                f"INSERT INTO metrics (run_id, {', '.join(map(quote, names))}) VALUES (?{', ?' * len(names)})",
                [run_id, *(_number(summary[name]) for name in names)])
        utilization = record.get("utilization_by_node") or {}
        connection.executemany("INSERT INTO node_utilization (run_id, node, utilization) VALUES (?, ?, ?)",
                               [(run_id, str(node), _number(value)) for node, value in utilization.items()])
        quantiles = record.get("response_quantiles_s") or []
        if quantiles:
            if len(quantiles) != len(QUANTILES):
                raise ValueError(f"run {key}: {len(quantiles)} response-time quantiles; the store keeps one at each "
                                 f"of the {len(QUANTILES)} probabilities of QUANTILES")
            connection.execute(f"INSERT INTO response_quantiles VALUES (?{', ?' * len(QUANTILES)})",
                               [run_id, *map(_number, quantiles)])

    def metric_columns(self) -> list[str]:
        """The columns of the metrics table, in the order they were added."""
        if self._metric_columns is None:
            with self._guard():
                rows = self._connection.execute("PRAGMA table_info(metrics)").fetchall()
            self._metric_columns = [row[1] for row in rows if row[1] != "run_id"]
        return self._metric_columns

    def _add_metric_columns(self, summary: Mapping[str, Any]) -> None:
        known = set(self.metric_columns())
        if any(name not in known for name in summary):
            self._metric_columns = None  # another writer may have added some: read the table again
            known = set(self.metric_columns())
        for name in summary:
            if name not in known:
                # no declared type: SQLite keeps integers integers and floats floats
                self._connection.execute(f"ALTER TABLE metrics ADD COLUMN {quote(name)}")
                self.metric_columns().append(name)
                known.add(name)

    def read_run(self, key: str) -> dict[str, Any] | None:
        """The record of a run as the worker returned it (NaN metrics included), or None when not stored."""
        with self._guard():
            cursor = self._connection.execute(
                f"SELECT r.run_id, {', '.join('r.' + c for c in _RUN_COLUMNS)}, c.config_json FROM runs r "
                "LEFT JOIN configs c USING (config_hash) WHERE r.key = ?", (key,))
            row = cursor.fetchone()
            if row is None:
                return None
            values = dict(zip(["run_id", *_RUN_COLUMNS, "config_json"], row, strict=True))
            run_id = values["run_id"]
            cursor = self._connection.execute("SELECT * FROM metrics WHERE run_id = ?", (run_id,))
            metrics = cursor.fetchone()
            names = [column[0] for column in cursor.description]
            nodes = self._connection.execute("SELECT node, utilization FROM node_utilization WHERE run_id = ? "
                                             "ORDER BY rowid", (run_id,)).fetchall()
            quantiles = self._connection.execute(f"SELECT {', '.join(QUANTILE_COLUMNS)} FROM response_quantiles "
                                                 "WHERE run_id = ?", (run_id,)).fetchone() or ()
        config = json.loads(values["config_json"]) if values["config_json"] else {}
        if isinstance(config.get("simulation"), dict):
            config["simulation"]["seed"] = values["seed"]
        ok = values["status"] == "ok"
        summary = {name: (math.nan if value is None else value)
                   for name, value in zip(names, metrics or (), strict=False) if name != "run_id"} if ok else {}
        return {
            "format": values["store_format"], "key": values["key"], "experiment": values["experiment"],
            "point": values["point"], "factors": json.loads(values["factors_json"] or "{}"),
            "derived": json.loads(values["derived_json"] or "{}"), "policy": values["policy"],
            "policy_name": values["policy_name"], "policy_params": json.loads(values["policy_params_json"] or "{}"),
            "replication": values["replication"], "seed": values["seed"], "config": config,
            "package_version": values["package_version"], "python_version": values["python_version"],
            "platform": values["platform"], "host": values["host"], "pid": values["pid"],
            "started_at": values["started_at"], "status": values["status"], "summary": summary,
            "utilization_by_node": {node: (math.nan if value is None else value) for node, value in nodes},
            "response_quantiles_s": [math.nan if value is None else value for value in quantiles],
            "sim_wall_s": math.nan if values["sim_wall_s"] is None else values["sim_wall_s"],
            "error": None if values["error_type"] is None else {
                "type": values["error_type"], "message": values["error_message"],
                "traceback": values["error_traceback"]},
            "runtime_s": math.nan if values["runtime_s"] is None else values["runtime_s"],
        }

    # -- the latest sweep ----------------------------------------------------------------------------------

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Record the latest sweep: its description and its grid (``manifest["runs"]``, one entry per run)."""
        points: dict[int, tuple[str, str]] = {}
        policies: dict[str, tuple[str, str]] = {}
        grid = []
        for position, entry in enumerate(manifest["runs"]):
            points.setdefault(entry["point"], (json.dumps(entry["factors"], default=str),
                                               json.dumps(entry["derived"], default=str)))
            policies.setdefault(entry["policy"], (entry["policy_name"], canonical_json(entry["policy_params"])))
            grid.append((position, entry["key"], entry["point"], entry["policy"], entry["replication"],
                         entry["seed"]))
        header = [(name, json.dumps(value, default=str)) for name, value in manifest.items() if name != "runs"]
        with self._guard(), self._transaction():
            for table in ("manifest", "grid", "grid_points", "grid_policies"):
                self._connection.execute(f"DELETE FROM {table}")
            self._connection.executemany("INSERT INTO manifest (name, value_json) VALUES (?, ?)", header)
            self._connection.executemany("INSERT INTO grid VALUES (?, ?, ?, ?, ?, ?)", grid)
            self._connection.executemany("INSERT INTO grid_points VALUES (?, ?, ?)",
                                         [(point, *values) for point, values in points.items()])
            self._connection.executemany("INSERT INTO grid_policies VALUES (?, ?, ?)",
                                         [(policy, *values) for policy, values in policies.items()])

    def read_manifest(self) -> dict[str, Any]:
        """The latest sweep's description (experiment, factors with levels, derived, policies, ...).

        Raises:
            StoreError: No sweep recorded, or a damaged description.
        """
        with self._guard():
            rows = self._connection.execute("SELECT name, value_json FROM manifest").fetchall()
        if not rows:
            raise StoreError([f"{self.path}: no sweep recorded (its manifest table is empty); run the sweep first"])
        try:
            manifest = {str(name): json.loads(value) for name, value in rows}
        except (TypeError, ValueError):
            raise StoreError([f"{self.path}: damaged manifest table (a value is not JSON); run the sweep again to "
                              "rewrite it"]) from None
        factors = manifest.get("factors", [])
        if not isinstance(factors, list) or not all(
                isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("levels"), list)
                for f in factors) or not isinstance(manifest.get("derived", []), list) or not isinstance(
                manifest.get("policies", []), list):
            raise StoreError([f"{self.path}: damaged manifest table (its factors, derived or policies are malformed);"
                              " run the sweep again to rewrite it"])
        return manifest

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a read-only query (for small results)."""
        with self._guard():
            return self._connection.execute(sql, parameters).fetchall()

    def matrix(self, sql: str, parameters: Sequence[Any] = ()) -> np.ndarray:
        """The rows of a query of numbers as a 2-D float64 array (NULL: NaN), fetched in chunks."""
        parts = []
        with self._guard():
            cursor = self._connection.execute(sql, parameters)
            width = len(cursor.description)
            while rows := cursor.fetchmany(_FETCH_ROWS // 16):
                parts.append(np.array(rows, dtype=np.float64))
        return np.concatenate(parts) if parts else np.empty((0, width))

    def columns(self, sql: str, dtypes: Sequence[Any], parameters: Sequence[Any] = ()) -> list[np.ndarray]:
        """The columns of a query as numpy arrays of ``dtypes`` (NULL: NaN in float columns), fetched in
        chunks so that a large table never exists as Python rows all at once."""
        parts: list[list[np.ndarray]] = [[] for _ in dtypes]
        with self._guard():
            cursor = self._connection.execute(sql, parameters)
            while rows := cursor.fetchmany(_FETCH_ROWS):
                for part, dtype, column in zip(parts, dtypes, zip(*rows, strict=True), strict=True):
                    part.append(np.asarray(column, dtype=dtype))
        return [np.concatenate(part) if part else np.empty(0, dtype=dtype)
                for part, dtype in zip(parts, dtypes, strict=True)]


def _connect(path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as error:
        raise StoreError([f"{path}: cannot open as a result store ({error}); if it is damaged or not allocsim's, "
                          "move it away (or pass another --out) and sweep again"]) from None
    return connection


def _refuse_json_store(root: Path) -> None:
    if (root / "store.json").exists() or (root / "runs").is_dir():
        raise StoreError([f"{root}: a result store in the older JSON format (store.json, runs/*.json); convert it "
                          f"with `python -m simulator migrate {root}` (the JSON files are kept in "
                          f"{root / JSON_BACKUP_DIR})"])


def migrate_json_store(root: str | Path) -> tuple[int, int]:
    """Convert an older JSON store (``store.json``, ``manifest.json``, ``runs/*.json``) into the database, then
    move those files into ``root/json_store_backup``. Run keys keep their values (same `STORE_FORMAT`).

    Returns:
        (runs converted, damaged run files skipped: a later sweep runs those again).

    Raises:
        StoreError: No JSON store there, a database already there, or a JSON store of another format.
    """
    root = Path(root)
    if (root / DATABASE_FILE).exists():
        raise StoreError([f"{root}: already holds {DATABASE_FILE}; nothing to migrate"])
    marker = root / "store.json"
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError([f"{root}: no JSON result store here (no store.json)"]) from None
    except (OSError, ValueError) as error:
        raise StoreError([f"{marker}: unreadable ({error}); not a JSON result store written by allocsim"]) from None
    if not isinstance(info, dict) or info.get("format") != STORE_FORMAT:
        found = info.get("format") if isinstance(info, dict) else None
        raise StoreError([f"{marker}: JSON store format {found!r}; this version converts format {STORE_FORMAT} only: "
                          "move the directory away and sweep again"])
    manifest = _read_json_object(root / "manifest.json")
    if manifest is not None and not _valid_json_grid(manifest):
        raise StoreError([f"{root / 'manifest.json'}: damaged (its list of runs is missing or malformed); delete it "
                          "and migrate again (the next sweep records its grid)"])
    runs_dir = root / "runs"
    paths = sorted(runs_dir.glob("[!.]*.json")) if runs_dir.is_dir() else []  # .*.tmp: a killed writer's
    converted = 0
    temporary = root / f".{DATABASE_FILE}.migrating"  # renamed once complete: a killed migration leaves no store
    temporary.unlink(missing_ok=True)
    with ResultStore._initialize(root, temporary, str(info.get("experiment", root.name))) as store:
        for start in range(0, len(paths), _MIGRATION_BATCH):
            records = [record for path in paths[start:start + _MIGRATION_BATCH]
                       if (record := _json_record(path)) is not None]
            converted += store.write_runs(records)
        if manifest is not None:
            store.write_manifest(manifest)
    os.replace(temporary, root / DATABASE_FILE)
    backup = root / JSON_BACKUP_DIR
    backup.mkdir(exist_ok=True)
    for name in JSON_STORE_FILES:
        if (root / name).exists():
            shutil.move(root / name, backup / name)
    return converted, len(paths) - converted


_JSON_GRID_FIELDS: dict[str, type] = {
    "key": str, "point": int, "factors": dict, "derived": dict, "policy": str, "policy_name": str,
    "policy_params": dict, "replication": int, "seed": int,
}


def _valid_json_grid(manifest: Mapping[str, Any]) -> bool:
    runs = manifest.get("runs")
    return isinstance(runs, list) and all(
        isinstance(entry, dict) and all(isinstance(entry.get(name), kind) for name, kind in _JSON_GRID_FIELDS.items())
        for entry in runs)


_MIGRATION_BATCH = 2000


def _json_record(path: Path) -> dict[str, Any] | None:
    """A run record of the JSON store, or None when its file is damaged (the next sweep runs it again).

    Raises:
        StoreError: A record of another format.
    """
    try:
        record = _read_json_object(path)
    except StoreError:
        return None
    if record is None:
        return None
    if record.get("format") != STORE_FORMAT:
        raise StoreError([f"{path}: run record format {record.get('format')!r}, this version converts format "
                          f"{STORE_FORMAT}: the store mixes versions; move it away and sweep again"])
    quantiles = record.get("response_quantiles_s") or []
    valid = (isinstance(record.get("key"), str) and record.get("status") in ("ok", "failed")
             and isinstance(record.get("summary"), dict) and isinstance(record.get("error") or {}, dict)
             and isinstance(record.get("config", {}), dict)
             and isinstance(record.get("utilization_by_node") or {}, dict)
             and isinstance(quantiles, list) and len(quantiles) in (0, len(QUANTILES)))
    return record if valid else None


def _read_json_object(path: Path) -> Any:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise StoreError([f"{path}: unreadable ({error})"]) from None
    if not isinstance(value, dict):
        raise StoreError([f"{path}: a JSON object is expected"])
    return value
