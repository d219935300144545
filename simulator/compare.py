"""Run one scenario under several policies and replications: the demo's policy comparison.

Replication ``r`` of every policy uses the seed `simulator.runner.grid.replication_seed` (base seed, r), the
same rule as ``sweep``, so all policies see the same arrivals in the same replication (common random
numbers) and replication r here gives the same numbers as replication r of a sweep with that root seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from simulator.config import Scenario
from simulator.policies import make_policy
from simulator.runner.grid import replication_seed
from simulator.simulation import run

TABLE_COLUMNS = {
    "response_time_mean_s": "resp mean (s)",
    "response_time_p95_s": "resp p95 (s)",
    "throughput_per_s": "thru (1/s)",
    "utilization_mean": "util mean",
    "load_variance": "load var",
    "slo_attainment": "SLO met",
    "energy_j": "energy (J)",
}


def compare_policies(scenario: Scenario, policies: Sequence[str], replications: int = 3,
                     base_seed: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (one row per run with its scalar summary, one row per run and node with its utilization).

    Replication ``r`` runs with seed ``replication_seed(base_seed, r)`` (``base_seed`` defaults to the
    scenario's ``simulation.seed``), as ``sweep`` does.
    """
    seed0 = scenario.simulation.seed if base_seed is None else base_seed
    rows = []
    node_rows: list[dict[str, object]] = []
    for name in policies:
        params = scenario.policy.params if name == scenario.policy.name else {}
        for replication in range(replications):
            seed = replication_seed(seed0, replication)
            result = run(scenario, policy=make_policy(name, dict(params)), seed=seed)
            scalars = {k: v for k, v in result.summary.items() if not isinstance(v, dict | list)}
            rows.append({"policy": name, "replication": replication, "seed": seed, **scalars})
            node_rows.extend(
                {"policy": name, "replication": replication, "node": node, "utilization": utilization}
                for node, utilization in zip(result.nodes["node"], result.nodes["utilization"], strict=True)
            )
    return pd.DataFrame(rows), pd.DataFrame(node_rows)


def mean_with_interval(runs: pd.DataFrame, columns: Sequence[str], confidence: float = 0.95) -> pd.DataFrame:
    """Per policy: the mean of each column and the half-width of its t-based confidence interval."""
    out = []
    for policy, group in runs.groupby("policy", sort=False):
        row: dict[str, object] = {"policy": policy, "replications": len(group)}
        for column in columns:
            values = group[column].dropna().to_numpy(dtype=float)
            row[column] = values.mean() if len(values) else np.nan
            if len(values) > 1:
                half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
            else:
                half = np.nan
            row[f"{column}_ci"] = half
        out.append(row)
    return pd.DataFrame(out)


def format_comparison(summary: pd.DataFrame) -> str:
    """A plain-text table: one line per policy, the mean with its 95% interval for the response times."""
    headers = ["policy", *TABLE_COLUMNS.values()]
    lines = []
    for _, row in summary.iterrows():
        cells = [str(row["policy"])]
        for column in TABLE_COLUMNS:
            value = row[column]
            ci = row.get(f"{column}_ci", np.nan)
            text = "-" if pd.isna(value) else f"{value:.4g}"
            if column.startswith("response") and not pd.isna(ci):
                text += f" ±{ci:.2g}"
            cells.append(text)
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    render = [
        "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells))
        for cells in [headers, *lines]
    ]
    render.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(render)
