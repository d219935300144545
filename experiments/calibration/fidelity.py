"""Fidelity of calibrated costs: a real serving experiment against the simulation of the same setup.

For each model and each target utilization rho, requests arrive as a Poisson process of rate
rho / (profile mean at batch size 1) at a worker process that runs the real model (PyTorch, random weights, one
thread, pinned to a core), FIFO, one request (or, with --max-batch-size, one dynamic batch) at a time; a client
process sends each request at its arrival time over a pipe and the worker records when it started and finished
it. The latency of a request is its finish time minus the time the client sent it (the same monotonic clock).
Then the simulator runs the same setup (one node of one slot with the model's calibrated profile, batching as
the worker did) on the very same send times (a trace), with --replications independent service-time streams
pooled. The script prints, per model and load, the mean, p95 and p99 latency measured and simulated and their
relative errors.

To tell the two sources of error apart, each setup is also simulated with an *oracle* profile: the service
times the worker itself measured during that serving run (per batch size), in place of the calibrated ones.
The oracle's error is the simulator's own (queueing, batching, the inter-process overhead it does not model);
the difference between the calibrated and the oracle error is calibration error (the device ran the model at
another speed while serving than while being calibrated). The script writes:

* ``results/calibration/fidelity.csv``      the table (one row per model and load)
* ``results/calibration/requests.csv``      every measured request (model, load, send, start, finish)
* ``results/calibration/fidelity.png/pdf``  latency against load, measured (points) and simulated (lines)
* ``paper/figures/calibration_table.tex``   the table for the paper (``paper/calibration.tex`` inputs it)
* ``paper/figures/calibration_fidelity.pdf`` the figure for the paper

Run from the repository root (needs ``pip install '.[calibrate]'``; takes about models x loads x duration)::

    .venv/bin/python experiments/calibration/fidelity.py                   # shipped profile, 2 models, 4 loads
    .venv/bin/python experiments/calibration/fidelity.py --calibrate       # measure a fresh profile first
    .venv/bin/python experiments/calibration/fidelity.py --models mobilenet-v2 --loads 0.5 --duration-s 20
    .venv/bin/python experiments/calibration/fidelity.py --diagnose     # where the error of the last run comes from
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from simulator.calibration.profile import ProfileRow, load_profile, resolve_profile, write_profile  # noqa: E402
from simulator.calibration.timing import TimingPlan, WallTimer, latency_stats, measure  # noqa: E402
from simulator.config import parse_scenario  # noqa: E402
from simulator.simulation import run  # noqa: E402

OUT_DIR = REPO_ROOT / "results" / "calibration"
PAPER_DIR = REPO_ROOT / "paper"
DEVICE_KIND = "cpu"
WARMUP_S = 2.0
"""Requests sent in the first seconds of each load level are left out of the statistics (measured and
simulated alike)."""


# ------------------------------------------------------------------------------------------------------------
# The real server: one worker process per model


def worker_main(model_name: str, core: int | None, max_batch_size: int, max_batch_wait_s: float,
                connection: Connection) -> None:
    """Build the model, warm it up, then serve: receive (request id, send time) messages, run the model on a
    FIFO basis (a batch of the queued requests, up to ``max_batch_size``, once the oldest has waited
    ``max_batch_wait_s``), record (id, start, finish, batch size). ``None`` asks for the records; ``"stop"``
    ends the worker."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    import torch

    from simulator.calibration.zoo import recipe

    torch.set_num_threads(1)
    torch.manual_seed(0)  # the weights the harness measured
    model_recipe = recipe(model_name)
    module = model_recipe.build().eval()
    device, dtype = torch.device("cpu"), torch.float32
    with torch.inference_mode():
        inputs = {b: model_recipe.make_inputs(module, b, device, dtype) for b in range(1, max_batch_size + 1)}
        for b in inputs:
            for _ in range(3):
                model_recipe.run(module, inputs[b])
    connection.send("ready")
    records: list[tuple[int, float, float, int]] = []
    clock = time.perf_counter
    control: list[Any] = []  # a control message that arrived while a batch was being collected
    while True:
        message = control.pop() if control else connection.recv()
        if message is None:
            connection.send(records)
            records = []
            continue
        if message == "stop":
            return
        if message[0] == "calibrate":  # ("calibrate", batch sizes, seconds per size): the harness's timing, here
            _, sizes, seconds = message
            plan = TimingPlan(warmup_reps=5, min_reps=20, max_reps=1000, max_time_s=seconds)
            samples = {}
            for size in sizes:
                def call(size: int = size) -> Any:
                    with torch.inference_mode():
                        return model_recipe.run(module, inputs[size])

                samples[size] = measure(call, WallTimer(), plan).samples_s
            connection.send(samples)
            continue
        batch = [message]
        deadline = message[1] + max_batch_wait_s
        while len(batch) < max_batch_size and not control:
            if connection.poll(max(0.0, deadline - clock())):
                following = connection.recv()
                if following is None or following == "stop":
                    control.append(following)
                else:
                    batch.append(following)
            else:
                break
        started = clock()
        with torch.inference_mode():
            model_recipe.run(module, inputs[len(batch)])
        finished = clock()
        records.extend((request_id, started, finished, len(batch)) for request_id, _ in batch)


def serve(model: str, rate_per_s: float, duration_s: float, seed: int, worker: Connection) -> pd.DataFrame:
    """Send Poisson arrivals of ``rate_per_s`` for ``duration_s`` to a ready worker; returns one row per request:
    send_s, start_s, finish_s (seconds from the first send) and batch_size."""
    rng = np.random.default_rng(seed)
    offsets = np.cumsum(rng.exponential(1.0 / rate_per_s, int(rate_per_s * duration_s * 1.5) + 10))
    offsets = offsets[offsets < duration_s]
    clock = time.perf_counter
    origin = clock() + 0.05
    sent = np.empty(len(offsets))
    for index, offset in enumerate(offsets):
        delay = origin + offset - clock()
        if delay > 0:
            time.sleep(delay)
        sent[index] = clock()
        worker.send((index, sent[index]))
    worker.send(None)
    records = worker.recv()
    frame = pd.DataFrame(records, columns=["request", "start", "finish", "batch_size"]).sort_values("request")
    if len(frame) != len(sent):
        raise RuntimeError(f"{model}: sent {len(sent)} requests, {len(frame)} came back")
    return pd.DataFrame({
        "request": frame["request"].to_numpy(),
        "planned_s": offsets,
        "send_s": sent - origin,
        "start_s": frame["start"].to_numpy() - origin,
        "finish_s": frame["finish"].to_numpy() - origin,
        "batch_size": frame["batch_size"].to_numpy(),
    })


# ------------------------------------------------------------------------------------------------------------
# The simulation of the same setup


def oracle_profile(model: str, served: pd.DataFrame, path: Path) -> Path:
    """A profile whose samples are the service times the worker measured while serving (per batch size; sizes
    that did not occur are filled by the nearest smaller one, scaled linearly)."""
    from simulator.calibration.profile import ProfileRow, write_profile

    batches = served.drop_duplicates(["start_s"])
    service = batches["finish_s"] - batches["start_s"]
    rows = []
    largest = int(batches["batch_size"].max())
    for size in range(1, largest + 1):
        samples = service[batches["batch_size"] == size].to_numpy()
        if len(samples) == 0:
            continue
        rows.append(ProfileRow(model, DEVICE_KIND, size, float(samples.mean()), samples_s=tuple(samples)))
    if rows[0].batch_size != 1:
        first = rows[0]
        rows.insert(0, ProfileRow(model, DEVICE_KIND, 1, first.mean_s / first.batch_size,
                                  samples_s=tuple(v / first.batch_size for v in first.samples_s)))
    return write_profile(path, rows)


def simulate(model: str, profile_path: Path, send_s: np.ndarray, max_batch_size: int, max_batch_wait_s: float,
             replications: int, seed: int) -> list[np.ndarray]:
    """Latencies (finish - arrival) of the requests sent after the warm-up, one array per replication: the
    simulator on the measured send times, one node of one slot serving ``model`` from its profile."""
    with tempfile.TemporaryDirectory() as directory:
        trace = Path(directory) / "trace.csv"
        pd.DataFrame({"time_s": send_s}).to_csv(trace, index=False)
        raw: dict[str, Any] = {
            "scenario": {"name": f"fidelity-{model}"},
            "simulation": {"warmup_s": WARMUP_S, "seed": seed},
            "nodes": {"server": {"kind": DEVICE_KIND, "slots": 1, "max_batch_size": max_batch_size,
                                 "max_batch_wait_s": max_batch_wait_s}},
            "models": {model: {"profile": str(profile_path)}},
            "applications": {"serve": {"stages": {"infer": {"model": model}}}},
            "arrivals": {"requests": {"application": "serve", "process": "trace", "file": str(trace)}},
        }
        scenario = parse_scenario(raw, source=f"fidelity-{model}", base_dir=directory)
        latencies = []
        for replication in range(replications):
            result = run(scenario, policy="least_loaded", seed=seed * 1000 + replication)
            jobs = result.jobs
            measured = jobs[(jobs["arrival_s"] >= WARMUP_S) & (jobs["state"] == "finished")]
            latencies.append(measured["response_s"].to_numpy())
    return latencies


# ------------------------------------------------------------------------------------------------------------


def statistics(latencies: np.ndarray) -> dict[str, float]:
    return {"mean_s": float(latencies.mean()), "p95_s": float(np.percentile(latencies, 95)),
            "p99_s": float(np.percentile(latencies, 99))}


def calibrate_in_place(model: str, worker: Connection, sizes: Sequence[int], seconds: float,
                       path: Path) -> Path:
    """Time the model in the worker itself (back to back, as the harness does) at each batch size and write the
    samples as a profile."""
    worker.send(("calibrate", list(sizes), seconds))
    samples = worker.recv()
    rows = []
    for size in sizes:
        stats = latency_stats(samples[size])
        rows.append(ProfileRow(model, DEVICE_KIND, size, stats.mean_s, samples_s=stats.samples_s,
                               n_reps=stats.n_reps, std_s=stats.std_s, p50_s=stats.p50_s, p99_s=stats.p99_s))
    return write_profile(path, rows)


def lindley_latencies(send_s: np.ndarray, service_s: np.ndarray) -> np.ndarray:
    """Latencies of a one-server FIFO queue (Lindley's recursion) with these arrivals and service times."""
    finish = np.empty_like(send_s)
    clock = 0.0
    for index, (arrival, service) in enumerate(zip(send_s, service_s, strict=True)):
        clock = max(clock, arrival) + service
        finish[index] = clock
    return finish - send_s


def diagnose(out: Path, suffix: str, shuffles: int = 20, seed: int = 0) -> pd.DataFrame:
    """Where the error of the last (unbatched) run comes from, per model and load, as relative errors of mean, p95
    and p99 against the measurement: *replay* queues the served service times in the order they occurred (its
    error is what the simulator leaves out: the client-to-worker messaging); *shuffled* queues the same service
    times in random order (its error is the share of the measured latencies due to which requests met the slow
    phases of the machine, which no i.i.d. service model reproduces)."""
    requests = pd.read_csv(out / f"requests{suffix}.csv")
    rng = np.random.default_rng(seed)
    rows = []
    for (model, load), served in requests.groupby(["model", "load"], sort=False):
        served = served.sort_values("request")
        send = served["send_s"].to_numpy()
        kept = send >= WARMUP_S
        measured = statistics((served["finish_s"] - served["send_s"]).to_numpy()[kept])
        service = (served["finish_s"] - served["start_s"]).to_numpy()
        replay = statistics(lindley_latencies(send, service)[kept])
        shuffled = [statistics(lindley_latencies(send, rng.permutation(service))[kept]) for _ in range(shuffles)]
        lag1 = float(np.corrcoef(service[:-1], service[1:])[0, 1])
        row: dict[str, Any] = {"model": model, "load": load, "service_cv": float(service.std() / service.mean()),
                               "service_autocorrelation_lag1": lag1}
        for name in ("mean_s", "p95_s", "p99_s"):
            short = name.removesuffix("_s")
            row[f"replay_error_{short}"] = replay[name] / measured[name] - 1
            row[f"shuffled_error_{short}"] = float(np.mean([s[name] for s in shuffled])) / measured[name] - 1
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(out / f"diagnosis{suffix}.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
    return table


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet-v2,gpt2-decode-128", help="comma-separated model names")
    parser.add_argument("--loads", default="0.2,0.5,0.7,0.9", help="target utilizations, comma-separated")
    parser.add_argument("--duration-s", type=float, default=60.0, help="seconds of arrivals per model and load")
    parser.add_argument("--profile", default="cpu-2core", help="profile name or CSV (default: the shipped one)")
    parser.add_argument("--calibrate", action="store_true",
                        help="calibrate in place: time the model in the worker right before each load level and "
                             "simulate with that profile, instead of --profile")
    parser.add_argument("--calibration-s", type=float, default=8.0,
                        help="seconds of back-to-back timing per batch size for --calibrate and the drift check")
    parser.add_argument("--max-batch-size", type=int, default=1, help="dynamic batching in the worker and node")
    parser.add_argument("--max-batch-wait-s", type=float, default=0.0)
    parser.add_argument("--replications", type=int, default=20, help="simulated service-time streams pooled")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--tag", default="", help="suffix of the output files (e.g. 'batching')")
    parser.add_argument("--no-paper", action="store_true", help="do not write the table and figure into paper/")
    parser.add_argument("--redraw", action="store_true",
                        help="only redraw the figure and the paper's table from the last run's fidelity CSV")
    parser.add_argument("--diagnose", action="store_true",
                        help="only analyse the last run's requests (replayed and shuffled service times) and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    args = parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    loads = [float(x) for x in args.loads.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.tag}" if args.tag else ""
    if args.diagnose:
        return diagnose(args.out, suffix)
    if args.redraw:
        table = pd.read_csv(args.out / f"fidelity{suffix}.csv")
        write_outputs(table, args.out, suffix, paper=not args.no_paper)
        print(format_table(table))
        return table
    shipped_path = resolve_profile(args.profile, REPO_ROOT)
    # every batch size the worker can form: between measured sizes, a batch of 3 GPT-2 decode steps took 20 % longer
    # than interpolation between 2 and 4 says (it was slower than a batch of 4)
    sizes = list(range(1, args.max_batch_size + 1))
    profile_dir = args.out / f"profiles{suffix}"
    context = mp.get_context("spawn")
    rows = []
    requests = []
    for model_index, model in enumerate(models):
        parent, child = context.Pipe()
        core = 1 % (os.cpu_count() or 1)
        process = context.Process(target=worker_main, args=(model, core, args.max_batch_size,
                                                            args.max_batch_wait_s, child), daemon=True)
        process.start()
        if parent.recv() != "ready":
            raise RuntimeError(f"worker for {model} did not start")
        try:
            for load_index, load in enumerate(loads):
                profile_path = shipped_path
                if args.calibrate:
                    profile_path = calibrate_in_place(model, parent, sizes, args.calibration_s,
                                                      profile_dir / f"{model}-rho{load:g}.csv")
                curve = load_profile(profile_path).curve(model, DEVICE_KIND)
                rate = load / curve.mean_s(1)
                seed = args.seed * 10_000 + model_index * 100 + load_index
                started = time.perf_counter()
                served = serve(model, rate, args.duration_s, seed, parent)
                served.insert(0, "load", load)
                served.insert(0, "model", model)
                requests.append(served)
                kept = served[served["send_s"] >= WARMUP_S]
                measured = (kept["finish_s"] - kept["send_s"]).to_numpy()
                simulated = simulate(model, profile_path, served["send_s"].to_numpy(), args.max_batch_size,
                                     args.max_batch_wait_s, args.replications, seed)
                pooled = np.concatenate(simulated)
                parent.send(("calibrate", [1], args.calibration_s / 2))  # drift check: the same timing, after
                after_s = float(np.mean(parent.recv()[1]))
                with tempfile.TemporaryDirectory() as directory:
                    oracle_path = oracle_profile(model, served, Path(directory) / "oracle.csv")
                    oracle = np.concatenate(simulate(model, oracle_path, served["send_s"].to_numpy(),
                                                     args.max_batch_size, args.max_batch_wait_s,
                                                     args.replications, seed))
                window = served["finish_s"].max() - served["send_s"].min()
                busy = (served.drop_duplicates(["start_s"])["finish_s"] - served.drop_duplicates(["start_s"])
                        ["start_s"]).sum()
                service = (served["finish_s"] - served["start_s"]).to_numpy()
                row: dict[str, Any] = {
                    "model": model, "load": load, "rate_per_s": rate, "requests": len(kept),
                    "utilization_measured": busy / window,
                    "profile": "in place" if args.calibrate else args.profile,
                    "profile_service_mean_s": curve.mean_s(1),
                    "after_service_mean_s": after_s,
                    "served_service_mean_s": float(service[served["batch_size"] == 1].mean())
                    if (served["batch_size"] == 1).any() else math.nan,
                    "send_lag_mean_s": float((served["send_s"] - served["planned_s"]).mean()),
                    "batch_size_mean": float(served["batch_size"].mean()),
                }
                measured_stats, simulated_stats = statistics(measured), statistics(pooled)
                oracle_stats = statistics(oracle)
                per_replication = [statistics(latencies) for latencies in simulated]
                for name in ("mean_s", "p95_s", "p99_s"):
                    short = name.removesuffix("_s")
                    row[f"measured_{name}"] = measured_stats[name]
                    row[f"simulated_{name}"] = simulated_stats[name]
                    row[f"error_{short}"] = simulated_stats[name] / measured_stats[name] - 1
                    row[f"simulated_{name}_sd"] = float(np.std([s[name] for s in per_replication], ddof=1))
                    row[f"oracle_{name}"] = oracle_stats[name]
                    row[f"oracle_error_{short}"] = oracle_stats[name] / measured_stats[name] - 1
                rows.append(row)
                served_ms, profiled_ms = row["served_service_mean_s"] * 1e3, curve.mean_s(1) * 1e3
                print(f"{model:<16} rho {load:.2f}: {len(kept):>5} requests, utilization "
                      f"{row['utilization_measured']:.2f}, service {served_ms:7.2f} ms served vs {profiled_ms:7.2f} "
                      f"ms profiled, {after_s * 1e3:7.2f} ms after | mean {measured_stats['mean_s'] * 1e3:8.2f} vs "
                      f"{simulated_stats['mean_s'] * 1e3:8.2f} ms ({row['error_mean']:+.1%}), "
                      f"p95 {row['error_p95']:+.1%}, p99 {row['error_p99']:+.1%} | oracle: mean "
                      f"{row['oracle_error_mean']:+.1%}, p95 {row['oracle_error_p95']:+.1%}, p99 "
                      f"{row['oracle_error_p99']:+.1%} [{time.perf_counter() - started:.0f} s]", flush=True)
        finally:
            parent.send("stop")
            process.join(timeout=10)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / f"fidelity{suffix}.csv", index=False)
    pd.concat(requests).to_csv(args.out / f"requests{suffix}.csv", index=False)
    print()
    print(format_table(table))
    write_outputs(table, args.out, suffix, paper=not args.no_paper)
    print(f"\nwrote {args.out / f'fidelity{suffix}.csv'} and the figure")
    return table


def write_outputs(table: pd.DataFrame, out: Path, suffix: str, paper: bool) -> None:
    """The figure (PNG and PDF) next to the results and, with ``paper``, the figure and table for the paper."""
    figure(table, out / f"fidelity{suffix}.png")
    figure(table, out / f"fidelity{suffix}.pdf")
    if paper:
        (PAPER_DIR / "figures").mkdir(parents=True, exist_ok=True)
        figure(table, PAPER_DIR / "figures" / f"calibration_fidelity{suffix}.pdf")
        (PAPER_DIR / "figures" / f"calibration_table{suffix}.tex").write_text(latex_table(table))


def format_table(table: pd.DataFrame) -> str:
    lines = [f"{'model':<16} {'rho':>4} {'util':>5} {'n':>5} | {'mean ms meas/sim':>19} {'err':>7} | "
             f"{'p95 ms meas/sim':>19} {'err':>7} | {'p99 ms meas/sim':>19} {'err':>7}"]
    for row in table.itertuples():
        cells = []
        for name in ("mean", "p95", "p99"):
            measured, simulated = getattr(row, f"measured_{name}_s") * 1e3, getattr(row, f"simulated_{name}_s") * 1e3
            cells.append(f"{measured:9.2f}/{simulated:9.2f} {getattr(row, f'error_{name}'):+7.1%}")
        lines.append(f"{row.model:<16} {row.load:>4.2f} {row.utilization_measured:>5.2f} {row.requests:>5} | "
                     + " | ".join(cells))
    return "\n".join(lines)


def latex_table(table: pd.DataFrame) -> str:
    """The fidelity table as a LaTeX tabular (booktabs), times in milliseconds."""
    lines = [
        "% Generated by experiments/calibration/fidelity.py; do not edit.",
        r"\begin{tabular}{lrrrrrrrrrrr}",
        r"\toprule",
        r"& & & \multicolumn{3}{c}{mean (ms)} & \multicolumn{3}{c}{p95 (ms)} & \multicolumn{3}{c}{p99 (ms)} \\",
        r"\cmidrule(lr){4-6}\cmidrule(lr){7-9}\cmidrule(lr){10-12}",
        r"model & $\rho$ & $n$ & meas. & sim. & err. & meas. & sim. & err. & meas. & sim. & err. \\",
        r"\midrule",
    ]
    for row in table.itertuples():
        lines.append(
            f"{row.model} & {row.load:.1f} & {row.requests} & {row.measured_mean_s * 1e3:.1f} & "
            f"{row.simulated_mean_s * 1e3:.1f} & {row.error_mean * 100:+.1f}\\% & {row.measured_p95_s * 1e3:.1f} & "
            f"{row.simulated_p95_s * 1e3:.1f} & {row.error_p95 * 100:+.1f}\\% & {row.measured_p99_s * 1e3:.1f} & "
            f"{row.simulated_p99_s * 1e3:.1f} & {row.error_p99 * 100:+.1f}\\% \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def figure(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False)
    for axis, model in zip(axes[0], models, strict=True):
        part = table[table["model"] == model]
        for name, color in (("mean", "C0"), ("p95", "C1"), ("p99", "C3")):
            axis.plot(part["load"], part[f"simulated_{name}_s"] * 1e3, "-", color=color, label=f"{name} simulated")
            axis.plot(part["load"], part[f"measured_{name}_s"] * 1e3, "o", color=color, label=f"{name} measured")
        axis.set_title(model)
        axis.set_xlabel("utilization $\\rho$")
        axis.set_ylabel("latency (ms)")
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
