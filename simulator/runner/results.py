"""Reading a result store into tidy tables: one row per run of the latest sweep, with every factor, derived
parameter, policy parameter and seed, plus long tables of per-node utilization and response-time quantiles.

Each table is one query on the store's database (`simulator.runner.store`), fetched into columns, not built
from per-run dictionaries; the two long tables are read on first use, since a report needs only the runs.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.runner.errors import StoreError
from simulator.runner.store import QUANTILE_COLUMNS, ResultStore, quote
from simulator.runner.worker import QUANTILES

__all__ = ["PROVENANCE_COLUMNS", "Results", "load_results", "read_runs"]

PROVENANCE_COLUMNS = ["runtime_s", "sim_wall_s", "package_version", "host", "started_at", "error"]
"""Columns that describe how a run was executed, not what it computed; they differ between executors."""


@dataclass(repr=False)
class Results:
    """The latest sweep of a result store.

    Attributes:
        root: The result directory.
        manifest: The sweep's description as the store recorded it (experiment, factors with levels, derived,
            policies, replications, seed, ...).
        runs: One row per run of the grid (``status``: ok, failed, or missing when it never finished).
        node_utilization: One row per (run, node): the grid columns plus ``node`` and ``utilization``
            (read from the store on first use; text columns categorical).
        response_quantiles: One row per (run, probability): ``probability`` and ``response_s`` (read from the
            store on first use; text columns categorical).
    """

    root: Path
    manifest: dict[str, Any]
    runs: pd.DataFrame

    @property
    def name(self) -> str:
        return str(self.manifest.get("experiment", self.root.name))

    @property
    def factors(self) -> list[str]:
        """Factor names in file order (dotted scenario paths and free names)."""
        return [factor["name"] for factor in self.manifest.get("factors", [])]

    @property
    def derived(self) -> list[str]:
        return list(self.manifest.get("derived", []))

    @property
    def policies(self) -> list[str]:
        """Policy labels in the order of the experiment file."""
        return list(self.manifest.get("policies", []))

    @property
    def metrics(self) -> list[str]:
        """Numeric summary metrics present in the runs."""
        return list(self.manifest.get("metrics", [])) or [
            c for c in self.runs.columns if c not in self.id_columns and c not in PROVENANCE_COLUMNS
            and pd.api.types.is_numeric_dtype(self.runs[c])
        ]

    @property
    def id_columns(self) -> list[str]:
        """Columns identifying a run: grid position, factors, derived parameters, policy, replication, seed."""
        params = [c for c in self.runs.columns if c.startswith("policy.")]
        return ["experiment", "key", "status", "point", *self.factors, *self.derived, "policy", "policy_name",
                *params, "replication", "seed"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "failed"]

    @property
    def missing(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "missing"]

    @functools.cached_property
    def node_utilization(self) -> pd.DataFrame:
        with self._store() as store:
            position, node, utilization = store.columns(
                "SELECT g.position, u.node, u.utilization FROM grid g JOIN runs r ON r.key = g.key "
                "JOIN node_utilization u ON u.run_id = r.run_id ORDER BY g.position, u.rowid",
                [np.int64, object, np.float64])
        return self._per_run_table(position, {"node": node, "utilization": utilization})

    @functools.cached_property
    def response_quantiles(self) -> pd.DataFrame:
        with self._store() as store:
            rows = store.matrix(f"SELECT g.position, {', '.join('q.' + c for c in QUANTILE_COLUMNS)} FROM grid g "
                                "JOIN runs r ON r.key = g.key JOIN response_quantiles q ON q.run_id = r.run_id "
                                "ORDER BY g.position")
        probabilities = np.round(np.asarray(QUANTILES, dtype=np.float64), 6)
        return self._per_run_table(np.repeat(rows[:, 0].astype(np.int64), len(probabilities)), {
            "probability": np.tile(probabilities, len(rows)), "response_s": rows[:, 1:].ravel()})

    @contextlib.contextmanager
    def _store(self) -> Iterator[ResultStore]:
        """The store, checked to hold the grid these results were read with."""
        with ResultStore.open(self.root) as store:
            (keys,) = store.columns("SELECT key FROM grid ORDER BY position", [object])
            if not np.array_equal(keys, self.runs["key"].to_numpy(dtype=object)):
                raise StoreError([f"{store.path}: another sweep has changed the grid since these results were read; "
                                  "call load_results again"])
            yield store

    def _per_run_table(self, position: np.ndarray, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """A long table: the grid columns of each run (without experiment, status, point) repeated for each of
        its rows, then ``values``. Text columns are categorical: 10 million rows of a 100,000-run store then
        take about a quarter of the memory (and time) that repeated strings would."""
        grid = self.runs[[c for c in self.id_columns if c not in ("experiment", "status", "point")]]
        grid = grid.astype({c: "category" for c in grid.columns if not pd.api.types.is_numeric_dtype(grid[c])})
        table = grid.take(position).reset_index(drop=True)
        for name, value in values.items():
            table[name] = pd.Categorical(value) if value.dtype == object else value
        return table

    def _counts(self) -> str:
        status = self.runs["status"]
        return (f"{len(self.runs)} runs ({int((status == 'ok').sum())} ok, {int((status == 'failed').sum())} failed, "
                f"{int((status == 'missing').sum())} missing)")

    def __repr__(self) -> str:
        return (f"Results({self.name!r} in {self.root}: {self._counts()}; factors: {', '.join(self.factors) or '-'}; "
                f"policies: {', '.join(self.policies) or '-'})")

    def _repr_html_(self) -> str:
        """A notebook's view: name, counts, factors, policies and the first runs."""
        items = [("factors", ", ".join(self.factors) or "-"), ("policies", ", ".join(self.policies) or "-")]
        return (f"<p><b>{html.escape(self.name)}</b> in <code>{html.escape(str(self.root))}</code>: "
                f"{html.escape(self._counts())}</p><ul>"
                + "".join(f"<li>{name}: {html.escape(value)}</li>" for name, value in items)
                + "</ul>" + self.runs.head().to_html())


_RUN_COLUMNS = ("status", "runtime_s", "sim_wall_s", "package_version", "host", "started_at", "error_type",
                "error_message")


def _decoded(store: ResultStore, table: str, key: str, columns: Sequence[str]) -> dict[Any, list[dict[str, Any]]]:
    """The JSON objects in ``columns`` of a grid table, by ``key``."""
    try:
        decoded = {row[0]: [json.loads(value) if value is not None else {} for value in row[1:]]
                   for row in store.query(f"SELECT {key}, {', '.join(columns)} FROM {table}")}
    except ValueError:
        decoded = {None: [None]}
    if not all(isinstance(value, dict) for values in decoded.values() for value in values):
        raise StoreError([f"{store.path}: damaged {table} table (a value is not a JSON object); run the sweep again "
                          "to rewrite it"])
    return decoded


def read_runs(store: ResultStore, experiment: str) -> pd.DataFrame:
    """One row per run of the store's latest grid: ``experiment``, ``key``, ``status`` (ok, failed, missing),
    ``point``, every factor and derived value, ``policy``, ``policy_name``, ``policy.<parameter>``,
    ``replication``, ``seed``, the summary metrics, then `PROVENANCE_COLUMNS`."""
    metrics = store.metric_columns()
    selected = ["g.key", "g.point", "g.policy", "g.replication", "g.seed",
                *(f"m.{quote(name)}" for name in metrics), *(f"r.{name}" for name in _RUN_COLUMNS)]
    names = ["key", "point", "policy", "replication", "seed", *metrics, *_RUN_COLUMNS]
    rows = store.query(f"SELECT {', '.join(selected)} FROM grid g LEFT JOIN runs r ON r.key = g.key "
                       "LEFT JOIN metrics m ON m.run_id = r.run_id ORDER BY g.position")
    grid = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    points = _decoded(store, "grid_points", "point", ["factors_json", "derived_json"])
    policies = _decoded(store, "grid_policies", "policy", ["policy_params_json"])
    names_by_policy = dict(store.query("SELECT policy, policy_name FROM grid_policies"))
    if not set(grid["point"].unique()) <= set(points) or not set(grid["policy"].unique()) <= set(policies):
        raise StoreError([f"{store.path}: damaged grid (a run's point or policy is not described); run the sweep "
                          "again to rewrite it"])
    levels = pd.DataFrame.from_records([{**factors, **derived} for factors, derived in points.values()],
                                       index=list(points)).reindex(grid["point"]).reset_index(drop=True)
    params = pd.DataFrame.from_records(
        [{"policy_name": names_by_policy[label], **{f"policy.{k}": v for k, v in values.items()}}
         for label, (values,) in policies.items()], index=list(policies)).reindex(grid["policy"]).reset_index(drop=True)
    error = grid["error_type"].astype(object)
    failed = error.notna()
    error[failed] = (grid.loc[failed, "error_type"].astype(str) + ": "
                     + grid.loc[failed, "error_message"].fillna("").astype(str))
    columns: dict[str, Any] = {
        "experiment": experiment, "key": grid["key"], "status": grid["status"].fillna("missing"),
        "point": grid["point"], **{c: levels[c] for c in levels.columns}, "policy": grid["policy"],
        **{c: params[c] for c in params.columns}, "replication": grid["replication"], "seed": grid["seed"],
        **{name: grid[name] if grid[name].notna().any() else grid[name].astype(float) for name in metrics},
        **{name: grid[name] for name in PROVENANCE_COLUMNS[:-1]}, "error": error.where(failed, None),
    }
    return pd.DataFrame(columns)


def load_results(root: str | Path) -> Results:
    """Read the latest sweep of a result directory (``results/NAME``).

    Raises:
        StoreError: No store, an incompatible one, or no sweep recorded in it.
    """
    with ResultStore.open(root) as store:
        manifest = store.read_manifest()
        runs = read_runs(store, str(manifest.get("experiment", Path(root).name)))
    return Results(Path(root), manifest, runs)
