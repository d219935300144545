"""The paper's validation table: simulated values against their analytic or external reference, with intervals.

Runs the validation models of the test suite (the same scenarios, replications, formulas and measurements:
imported from ``tests/test_validation_queueing.py``, ``tests/test_joins.py`` and
``tests/test_network_simgrid_reference.py``, not copied) and writes one row per checked quantity to
``results/reference/validation/validation.csv`` (committed; ``experiments/figures/table_validation.py`` formats
it). The intervals here are plain 95 % t-intervals over replications (over jobs for the fork-join rows, whose
jobs are independent); the tests check the same models with control variates and 99.9 % intervals.

Rows: M/M/1, M/M/4 (Erlang C), M/D/1 and M/G/1 with lognormal service (Pollaczek-Khinchine), a tandem of two
M/M/1 queues (Jackson), Little's law on the M/M/4 queue, fork-join of four exponential branches joined by all
(mean of the maximum) and by any (mean of the minimum), max-min fair rates of two textbook examples (Bertsekas
and Gallager), and the completion times of SimGrid 3.32 on four platforms (max-min and rtt-weighted sharing).

    python experiments/validation/theory_table.py          # about 2 minutes on one core
    python experiments/validation/theory_table.py --out /tmp/validation.csv --scale 0.05
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
TESTS = REPOSITORY / "tests"
for folder in (REPOSITORY, TESTS):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import test_joins  # noqa: E402
import test_network_simgrid_reference as simgrid  # noqa: E402
import test_validation_queueing as queueing  # noqa: E402

from simulator import parse_scenario, run  # noqa: E402
from simulator.config.network_spec import SHARING_MODELS  # noqa: E402
from simulator.network import max_min_rates  # noqa: E402

REFERENCE = REPOSITORY / "results" / "reference" / "validation" / "validation.csv"
CONFIDENCE = 0.95
FORK_JOIN = {"branches": 4, "rate_per_s": 2.0, "jobs": 4000}
"""Fork-join of tests/test_joins.py: n exponential branches (rate mu) on dedicated nodes, no queueing."""

Row = dict[str, Any]


def interval_row(model: str, quantity: str, reference: str, theory: float, values: Sequence[float],
                 jobs: int) -> Row:
    """A row of a stochastic check: the mean of ``values`` (one per replication) and its 95 % t-interval."""
    result = queueing.estimate(values, confidence=CONFIDENCE)
    return {"model": model, "quantity": quantity, "reference": reference, "theory": theory,
            "simulated": result.value, "ci_low": result.value - result.half_width,
            "ci_high": result.value + result.half_width, "replications": result.n_replications,
            "jobs_per_replication": jobs, "max_relative_difference": math.nan}


def exact_row(model: str, quantity: str, reference: str, expected: Sequence[float],
              simulated: Sequence[float]) -> Row:
    """A row of a deterministic check: the largest relative difference over the compared values."""
    difference = max(abs(got - want) / abs(want) for got, want in zip(simulated, expected, strict=True))
    return {"model": model, "quantity": quantity, "reference": reference, "theory": math.nan,
            "simulated": math.nan, "ci_low": math.nan, "ci_high": math.nan, "replications": len(expected),
            "jobs_per_replication": 0, "max_relative_difference": difference}


def queueing_rows(scale: float) -> list[Row]:
    """The single queues, the tandem and Little's law, on the test suite's scenarios and budgets."""
    if scale != 1.0:
        queueing.BUDGETS.update({name: (max(200, int(jobs * scale)), max(3, int(reps * scale)))
                                 for name, (jobs, reps) in queueing.BUDGETS.items()})
    rows = []
    for name, label, reference in (("mm1", "M/M/1, $\\rho = 0.8$", "Erlang C ($c = 1$)"),
                                   ("mmc", "M/M/4, $\\rho = 0.8$", "Erlang C"),
                                   ("md1", "M/D/1, $\\rho = 0.8$", "Pollaczek--Khinchine"),
                                   ("mg1_lognormal", "M/G/1 lognormal, cv 2, $\\rho = 0.5$",
                                    "Pollaczek--Khinchine")):
        rate, mean_s, cv, slots = queueing.single_queue_parameters(queueing.scenario(name))
        theory = (queueing.mmc_response_s(rate, 1 / mean_s, slots) if reference.startswith("Erlang")
                  else queueing.pollaczek_khinchine_response_s(rate, mean_s, (1 + cv**2) * mean_s**2))
        samples = queueing.replications(name)
        rows.append(interval_row(label, "mean response time (s)", reference, theory,
                                 queueing.column(samples, "response_s"), queueing.BUDGETS[name][0]))
        if name == "mmc":
            rows.append(interval_row(label, "time-average jobs in system $L$", "Little: $\\lambda W$",
                                     rate * theory, queueing.column(samples, "number_in_system"),
                                     queueing.BUDGETS[name][0]))
    spec = queueing.scenario("tandem")
    (arrival,) = spec.arrivals
    rate = arrival.params["rate_per_s"]
    theory = sum(1 / (1 / spec.models[stage.model].devices["server"].mean_s - rate)
                 for stage in spec.applications["job"].stages)
    rows.append(interval_row("tandem of two M/M/1", "mean response time (s)", "Jackson product form", theory,
                             queueing.column(queueing.replications("tandem"), "response_s"),
                             queueing.BUDGETS["tandem"][0]))
    return rows


def fork_join_rows(scale: float) -> list[Row]:
    """Join all and join any of n exponential branches: the mean of the maximum and of the minimum (Renyi)."""
    n, mu = FORK_JOIN["branches"], FORK_JOIN["rate_per_s"]
    jobs = max(200, int(FORK_JOIN["jobs"] * scale))
    rows = []
    for join, k, quantity in (("all", n, "mean of the maximum (s)"), ("any", 1, "mean of the minimum (s)")):
        times = {f"p{i}": 1 / mu for i in range(n)} | {"j": 1.0}
        raw = test_joins.scenario_dict(times, {"j": [f"p{i}" for i in range(n)]}, {"j": join}, jobs=jobs,
                                       gap_s=1000.0, distribution="exponential")
        raw["models"]["m_j"]["distribution"] = "deterministic"
        result = run(parse_scenario(raw), "round_robin")
        parallel = result.jobs["response_s"].to_numpy() - times["j"]
        theory = sum(1 / (i * mu) for i in range(n - k + 1, n + 1))
        rows.append(interval_row(f"fork-join, {n} exp.\\ branches, join {join}", quantity,
                                 "order statistics", theory, list(parallel), 1))
        rows[-1]["replications"], rows[-1]["jobs_per_replication"] = 1, jobs
    return rows


def max_min_rows() -> list[Row]:
    """Max-min fair rates against two examples of Bertsekas and Gallager, Data Networks, section 6.5.2."""
    megabyte = 1e6
    line = max_min_rates([[0, 1, 2], [0], [1, 2], [1], [2]], [1 * megabyte, 3 * megabyte, 2 * megabyte])
    n_links, capacity = 4, 2.0
    linear = max_min_rates([list(range(n_links))] + [[link] for link in range(n_links)], [capacity] * n_links)
    textbook_line = [0.5 * megabyte, 0.5 * megabyte, 0.75 * megabyte, 1.75 * megabyte, 0.75 * megabyte]
    return [exact_row("max-min sharing, line of 3 links", "rates of 5 flows", "Bertsekas--Gallager",
                      textbook_line, line),
            exact_row("max-min sharing, linear network", "rates of 5 flows", "Bertsekas--Gallager: $C/2$",
                      [capacity / 2] * (n_links + 1), linear)]


def simgrid_rows() -> list[Row]:
    """Completion times of every flow of the four reference platforms against SimGrid 3.32."""
    rows = []
    for sharing, reference in (("max-min", "SimGrid 3.32, L07"), ("rtt-weighted", "SimGrid 3.32, CM02")):
        if sharing not in SHARING_MODELS:
            continue
        expected: list[float] = []
        simulated: list[float] = []
        for case in simgrid.CASES:
            expected += case["completion_s"][sharing]
            simulated += simgrid.run_case(case, sharing)[1]
        rows.append(exact_row(f"network, {len(simgrid.CASES)} platforms, {sharing}",
                              f"completion times of {len(expected)} flows", reference, expected, simulated))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REFERENCE, help="CSV to write (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the test suite's jobs and replications (a smoke run: 0.05)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    rows = queueing_rows(args.scale) + fork_join_rows(args.scale) + max_min_rows() + simgrid_rows()
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["reference"]))
    inside = table.dropna(subset=["theory"])
    covered = np.sum((inside["ci_low"] <= inside["theory"]) & (inside["theory"] <= inside["ci_high"]))
    print(f"wrote {args.out}: {covered} of {len(inside)} intervals contain the theory; largest deterministic "
          f"difference {table['max_relative_difference'].max():.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
