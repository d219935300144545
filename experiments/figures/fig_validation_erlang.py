"""Figure: simulated M/M/1 and M/M/4 mean response time against Erlang C over the utilization.

Reads ``results/validation_mmc`` (``experiments/validation_mmc.toml``); writes ``validation_erlang.pdf``.
Erlang C: W = C(c, a) / (c mu - lambda) + 1 / mu with a = lambda / mu (Kleinrock 1975, section 3.5).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
from _common import parse_arguments, plt, results_dir, save, style

from simulator.runner import load_results, summarize


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (offered load a = lambda / mu < c)."""
    rho = offered_load / servers
    top = offered_load**servers / math.factorial(servers) / (1 - rho)
    return top / (sum(offered_load**k / math.factorial(k) for k in range(servers)) + top)


def mmc_response_s(servers: int, rho: float, mean_service_s: float = 1.0) -> float:
    mu = 1.0 / mean_service_s
    arrival_rate = rho * servers * mu
    return erlang_c(servers, arrival_rate / mu) / (servers * mu - arrival_rate) + 1.0 / mu


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(__doc__.splitlines()[0], argv)
    style()
    results = load_results(results_dir(args, "validation_mmc"))
    summary = summarize(results, ["response_time_mean_s"])
    figure, axis = plt.subplots(figsize=(3.4, 2.5))
    for index, (servers, part) in enumerate(summary.groupby("nodes.server.slots")):
        part = part.sort_values("utilization")
        colour = f"C{index}"
        grid = np.linspace(0.02, max(0.95, part["utilization"].max()), 200)
        axis.plot(grid, [mmc_response_s(int(servers), rho) for rho in grid], color=colour, linewidth=1,
                  label=f"Erlang C, c = {servers}")
        mean = part["response_time_mean_s_mean"].to_numpy()
        low = part["response_time_mean_s_ci_low"].to_numpy()
        high = part["response_time_mean_s_ci_high"].to_numpy()
        errors = np.nan_to_num(np.vstack([mean - low, high - mean]))
        axis.errorbar(part["utilization"], mean, yerr=errors, fmt="o", markersize=3, capsize=2, color=colour,
                      label=f"simulated, c = {servers}")
    axis.set_yscale("log")
    axis.set_xlabel(r"utilization $\rho = \lambda / (c\mu)$")
    axis.set_ylabel("mean response time (s)")
    axis.legend(frameon=False)
    return save(figure, args, "validation_erlang.pdf")


if __name__ == "__main__":
    sys.exit(main())
