"""Quantities derived from a scenario: the compute capacity and the arrival streams (for experiment files and
the stability warning of a run).

``capacity_per_s`` lets an experiment set an arrival rate as a fraction of what the nodes can serve
(``rate_per_s = load * capacity_per_s``). It is the fluid bound of the compute: the largest total job
arrival rate at which every node's expected work per second stays within its slots, when each stage's work
may be split in any proportion over the nodes it is eligible for, and jobs come in the scenario's mix of
applications. It is a linear program (``scipy.optimize.linprog``)::

    maximize lambda  subject to   sum_n y[a,s,n] = w_a * lambda          for every application a and stage s
                                  sum_{a,s} k_s * t[a,s,n] * y[a,s,n] <= slots_n   for every node n,
                                  sum_{a,s} m_s * t[a,s,n] * y[a,s,n] <= memory_n  (finite memory),  y >= 0

where ``t[a,s,n]`` is the mean service time of stage s on node n (model mean on its device kind x work /
speed; for a stage with model variants, its fastest variant's there: the bound when every task runs the fastest
one), ``k_s`` and ``m_s`` the slots and working memory a task of the stage holds, and ``w_a`` the share of
application a in the long-run arrival rate. Network transfers are ignored. For an M/M/c queue it is c x mu, so
``load`` is the utilization rho.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from simulator.config import ArrivalSpec, Scenario, eligible_nodes, runs_on

__all__ = ["application_mix", "capacity_per_s", "mean_rate_per_s", "stream_counts"]


def mean_rate_per_s(arrival: ArrivalSpec) -> float:
    """The long-run arrival rate of one stream (jobs/s), from its process parameters."""
    params = arrival.params
    if arrival.process in ("poisson", "deterministic", "diurnal"):
        return float(params["rate_per_s"])
    if arrival.process == "on_off":
        on, off = float(params["mean_on_s"]), float(params["mean_off_s"])
        return float(params["rate_per_s"]) * on / (on + off)
    if arrival.process == "mmpp":
        rates, sojourns = params["rates_per_s"], params["mean_sojourn_s"]
        return float(np.dot(rates, sojourns) / np.sum(sojourns))
    times = arrival.trace_times_s
    if len(times) > 1 and times[-1] > times[0]:
        return (len(times) - 1) / (times[-1] - times[0])
    return float(len(times))


def application_mix(scenario: Scenario) -> dict[str, float]:
    """Share of each application in the total long-run arrival rate (equal shares when no stream has a rate)."""
    rates: dict[str, float] = {}
    for arrival in scenario.arrivals:
        rate = mean_rate_per_s(arrival)
        if arrival.process == "trace" and arrival.trace_applications:
            counts = Counter(arrival.trace_applications)
            for name, count in counts.items():
                rates[name] = rates.get(name, 0.0) + rate * count / len(arrival.trace_applications)
        else:
            rates[arrival.application] = rates.get(arrival.application, 0.0) + rate
    total = sum(rates.values())
    if not total > 0:
        return {name: 1.0 / len(scenario.applications) for name in scenario.applications}
    return {name: rate / total for name, rate in rates.items() if rate > 0}


def capacity_per_s(scenario: Scenario) -> float:
    """The fluid compute capacity of the scenario in jobs/s (see the module docstring); inf if unbounded."""
    from scipy.optimize import linprog

    mix = application_mix(scenario)
    variables: list[tuple[int, int, float, int, float]] = []  # (stage row, node, service time, slots, memory)
    rows = 0
    row_weights: list[float] = []
    for name, weight in mix.items():
        application = scenario.applications[name]
        for stage in application.stages:
            models = [scenario.models[name] for name in stage.models]
            for node_index in eligible_nodes(stage, scenario):
                node = scenario.nodes[node_index]
                mean_s = min(model.devices[node.kind].mean_s for model in models if runs_on(model, node))
                variables.append((rows, node_index, mean_s * stage.work / node.speed, stage.slots, stage.memory_bytes))
            rows += 1
            row_weights.append(weight)
    if not variables:
        return math.inf
    from scipy.sparse import csr_array

    n = len(variables) + 1  # the last variable is lambda
    columns = np.arange(len(variables))
    variable_rows = np.array([row for row, _, _, _, _ in variables])
    equality = csr_array((np.concatenate([np.ones(len(variables)), -np.asarray(row_weights)]),
                          (np.concatenate([variable_rows, np.arange(rows)]),
                           np.concatenate([columns, np.full(rows, n - 1)]))), shape=(rows, n))
    # one row per node for its slots, then one per node of finite memory that some stage's working memory uses
    memory_row: dict[int, int] = {}
    for _, node_index, _, _, memory_bytes in variables:
        if memory_bytes > 0 and math.isfinite(scenario.nodes[node_index].memory_bytes):
            memory_row.setdefault(node_index, len(scenario.nodes) + len(memory_row))
    entries = [(node, column, time_s * slots) for column, (_, node, time_s, slots, _) in enumerate(variables)]
    entries += [(memory_row[node], column, time_s * memory_bytes)
                for column, (_, node, time_s, _, memory_bytes) in enumerate(variables)
                if memory_bytes > 0 and node in memory_row]
    upper = csr_array((np.array([value for _, _, value in entries]),
                       (np.array([row for row, _, _ in entries]), np.array([column for _, column, _ in entries]))),
                      shape=(len(scenario.nodes) + len(memory_row), n))
    bounds = np.array([float(node.slots) for node in scenario.nodes]
                      + [scenario.nodes[node].memory_bytes for node in memory_row])
    objective = np.zeros(n)
    objective[-1] = -1.0
    solution = linprog(objective, A_ub=upper, b_ub=bounds, A_eq=equality, b_eq=np.zeros(rows),
                       bounds=[(0, None)] * n, method="highs")
    if solution.status == 3:  # unbounded: some stage costs nothing anywhere
        return math.inf
    if solution.status != 0:  # pragma: no cover (the program is always feasible at lambda = 0)
        raise RuntimeError(f"capacity LP failed: {solution.message}")
    return float(solution.x[-1])


def stream_counts(scenario: Scenario) -> dict[str, int]:
    """Number of arrival streams each ``[arrivals.NAME]`` table expands to (one per member of a source group,
    and one per application of a trace that names several)."""
    return dict(Counter(arrival.table for arrival in scenario.arrivals))
