"""Reading a result store into tidy tables: one row per run of the latest sweep, with every factor, derived
parameter, policy parameter and seed, plus long tables of per-node utilization and response-time quantiles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.runner.store import ResultStore

__all__ = ["Results", "load_results", "tidy_rows"]

PROVENANCE_COLUMNS = ["runtime_s", "sim_wall_s", "package_version", "host", "started_at", "error"]
"""Columns that describe how a run was executed, not what it computed; they differ between executors."""


@dataclass
class Results:
    """The latest sweep of a result store.

    Attributes:
        root: The result directory.
        manifest: The sweep's grid as the store recorded it.
        runs: One row per run of the grid (``status``: ok, failed, or missing when it never finished).
        node_utilization: One row per (run, node): the grid columns plus ``node`` and ``utilization``.
        response_quantiles: One row per (run, probability): ``probability`` and ``response_s``.
    """

    root: Path
    manifest: dict[str, Any]
    runs: pd.DataFrame
    node_utilization: pd.DataFrame
    response_quantiles: pd.DataFrame

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


def _grid_columns(entry: Mapping[str, Any], experiment: str) -> dict[str, Any]:
    return {
        "experiment": experiment, "key": entry["key"], "point": entry["point"], **entry["factors"],
        **entry["derived"], "policy": entry["policy"], "policy_name": entry["policy_name"],
        **{f"policy.{name}": value for name, value in entry["policy_params"].items()},
        "replication": entry["replication"], "seed": entry["seed"],
    }


def tidy_rows(manifest: Mapping[str, Any], records: Mapping[str, Mapping[str, Any] | None]
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tables of a sweep from its manifest and the records by key (None: not stored)."""
    experiment = str(manifest.get("experiment", ""))
    rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    quantile_rows: list[dict[str, Any]] = []
    for entry in manifest["runs"]:
        grid = _grid_columns(entry, experiment)
        record = records.get(entry["key"])
        if record is None:
            rows.append({**grid, "status": "missing"})
            continue
        error = record.get("error")
        rows.append({
            **grid, "status": record["status"], **record.get("summary", {}),
            "runtime_s": record.get("runtime_s"), "sim_wall_s": record.get("sim_wall_s"),
            "package_version": record.get("package_version"), "host": record.get("host"),
            "started_at": record.get("started_at"),
            "error": f"{error.get('type', 'Error')}: {error.get('message', '')}" if error else None,
        })
        short = {k: v for k, v in grid.items() if k not in ("experiment", "point")}
        utilization = record.get("utilization_by_node")
        node_rows.extend({**short, "node": node, "utilization": value}
                         for node, value in (utilization.items() if isinstance(utilization, dict) else ()))
        quantiles = record.get("response_quantiles_s")
        if isinstance(quantiles, list) and quantiles:
            step = 1.0 / (len(quantiles) - 1) if len(quantiles) > 1 else 1.0
            quantile_rows.extend({**short, "probability": round(i * step, 6), "response_s": value}
                                 for i, value in enumerate(quantiles))
    runs = pd.DataFrame(rows)
    if "status" in runs.columns:
        front = ["experiment", "key", "status"]
        runs = runs[front + [c for c in runs.columns if c not in front]]
    return runs, pd.DataFrame(node_rows), pd.DataFrame(quantile_rows)


def load_results(root: str | Path) -> Results:
    """Read the latest sweep of a result directory (``results/NAME``).

    Raises:
        StoreError: No store, an incompatible one, or no sweep recorded in it.
    """
    store = ResultStore.open(root)
    manifest = store.read_manifest()
    keys = {entry["key"] for entry in manifest["runs"]}
    records = {key: store.read_run(key) for key in keys}
    runs, nodes, quantiles = tidy_rows(manifest, records)
    return Results(Path(root), manifest, runs, nodes, quantiles)
