"""Command line: ``python -m simulator [-v|-q] run|validate|schema|policies|demo|map|sweep|report|figures|train``.

User mistakes (a malformed scenario, an unknown policy, a bad override) print one clear line per problem on
stderr and exit with status 2, without a traceback. The package's log messages (``logging`` under the
``simulator`` logger: progress lines, details) go to stderr: information by default, debugging details with
``-v``, only warnings with ``-q``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simulator.config import MAX_SEED, Scenario, load_scenario
from simulator.errors import UnknownPolicyError, UserInputError
from simulator.policies import POLICIES, POLICY_REGISTRY, policy_class, policy_names
from simulator.user_files import writable_directory, write_atomically

# Modules adding sub-commands: each has ``register_commands(subparsers) -> {name: handler(args) -> exit code}``.
EXTENSION_MODULES: tuple[str, ...] = ("simulator.runner.cli", "simulator.calibration.cli", "simulator.train_cli")

MAX_DEMO_REPLICATIONS = 1000

SUMMARY_ORDER = [
    "jobs_completed", "jobs_unfinished", "tasks_completed", "late_inputs", "response_time_mean_s",
    "response_time_p50_s", "response_time_p95_s", "response_time_p99_s", "makespan_s", "throughput_per_s",
    "utilization_mean", "load_variance", "load_cv", "jain_fairness", "slo_attainment", "energy_j", "bytes_transferred",
    "broker_wait_mean_s", "broker_utilization_mean", "wall_s",
]
DYNAMICS_ORDER = [
    "jobs_failed", "jobs_abandoned", "completion_rate", "stability", "retries", "migrations", "steals",
    "replicas_cancelled", "wasted_work_s", "node_failures", "availability_mean", "mttr_mean_s", "link_failures",
    "failed_transfers",
]
"""The dynamic world's metrics (docs/dynamics.md), printed after the others when something happened in it."""
_DYNAMICS_EVENTS = ("jobs_failed", "jobs_abandoned", "migrations", "replicas_cancelled", "node_failures",
                    "link_failures")


class _Parser(argparse.ArgumentParser):
    """argparse exits with status 2 on usage errors already; keep its message short."""


class _StderrHandler(logging.Handler):
    """Writes each record to the current ``sys.stderr`` (test harnesses and notebooks replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging's rule: a failing handler reports itself and never raises
            self.handleError(record)


class _Formatter(logging.Formatter):
    """Information as it is; other levels prefixed (``warning: ...``; ``debug: simulator.x: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno == logging.INFO:
            return text
        where = f"{record.name}: " if record.levelno == logging.DEBUG else ""
        return f"{record.levelname.lower()}: {where}{text}"


def configure_logging(level: int) -> None:
    """Send the ``simulator`` loggers' records of ``level`` and above to stderr (once, however often called)."""
    logger = logging.getLogger("simulator")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(level)


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], as the matching field of a scenario or experiment file."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {value}")
        return value

    return parse


def _add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="scenario TOML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field by dotted path, e.g. --set arrivals.users.rate_per_s=2.5")


def _add_verbosity_options(parser: argparse.ArgumentParser, default: object) -> None:
    """``-v``/``-q`` set ``log_level``; on a sub-command the default is SUPPRESS, keeping the top level's."""
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", dest="log_level", action="store_const", const=logging.DEBUG,
                           default=default, help="also show debugging details on stderr")
    verbosity.add_argument("-q", "--quiet", dest="log_level", action="store_const", const=logging.WARNING,
                           default=default, help="show only warnings and errors on stderr (no progress)")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m simulator", description=__doc__)
    _add_verbosity_options(parser, logging.INFO)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="run one scenario and print its summary")
    _add_scenario_arguments(run_parser)
    run_parser.add_argument("--policy", help="policy name (see `policies`), module:Class or path/to/file.py:Class "
                            "(relative to the working directory); default: the scenario's")
    run_parser.add_argument("--seed", type=int_in_range(0, MAX_SEED),
                            help="run seed; default: simulation.seed of the scenario")
    run_parser.add_argument("--out", type=Path, help="directory for the task/job/node/transfer tables")
    run_parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="table format for --out")
    run_parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    validate_parser = commands.add_parser("validate", help="check a scenario file and explain every problem")
    _add_scenario_arguments(validate_parser)

    schema_parser = commands.add_parser("schema", help="write the JSON Schema of scenario files (for editors)")
    schema_parser.add_argument("--out", type=Path, help="file to write (default: standard output)")

    policies_parser = commands.add_parser("policies", help="list the registered policies and their parameters")
    policies_parser.add_argument("--json", action="store_true")

    from simulator.runner.demo import DEFAULT_POLICIES, DEMO_SCENARIO

    demo_parser = commands.add_parser(
        "demo", help="compare policies on a scenario: table and figures",
        description="A built-in experiment: every policy on one scenario, through the same sweep, report and "
                    "figures as `sweep`, `report` and `figures` (the same command again reuses finished runs).")
    demo_parser.add_argument("scenario", type=Path, nargs="?", default=Path(DEMO_SCENARIO),
                             help=f"scenario file or shipped scenario name (default: {DEMO_SCENARIO})")
    demo_parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                             help="override a scenario field by dotted path")
    demo_parser.add_argument("--policies", default=",".join(DEFAULT_POLICIES), help="comma-separated policy names")
    demo_parser.add_argument("--replications", type=int_in_range(1, MAX_DEMO_REPLICATIONS), default=3)
    demo_parser.add_argument("--out", type=Path, default=Path("results/demo"),
                             help="result directory: store, summary and runs tables, figures/")

    map_parser = commands.add_parser("map", help="solve a static mapping problem (ETC matrix)")
    from simulator.map_cli import add_map_arguments

    add_map_arguments(map_parser)
    for module_name in EXTENSION_MODULES:
        handlers = importlib.import_module(module_name).register_commands(commands)
        COMMANDS.update(handlers)
    for command_parser in commands.choices.values():  # -v/-q also after the sub-command's name
        _add_verbosity_options(command_parser, argparse.SUPPRESS)
    return parser


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as aligned lines; the dynamic world's metrics only when a failure, a timeout or a move
    happened (a static run would print only zeros and ones)."""
    keys = [k for k in SUMMARY_ORDER if k in summary]
    if any(summary.get(key) for key in _DYNAMICS_EVENTS):
        keys += [k for k in DYNAMICS_ORDER if k in summary]
    width = max(len(k) for k in keys)
    lines = [f"{key.ljust(width)}  {summary[key]:.6g}" if isinstance(summary[key], float)
             else f"{key.ljust(width)}  {summary[key]}" for key in keys]
    lines.append("utilization by node:")
    lines.extend(f"  {node}: {value:.3f}" for node, value in summary["utilization_by_node"].items())
    return "\n".join(lines)


def _command_run(args: argparse.Namespace) -> int:
    from simulator.simulation import run

    policy = None
    if args.policy is not None:  # a file named here is relative to the working directory, not to the scenario
        try:
            policy = policy_class(args.policy).name
        except UnknownPolicyError as error:
            raise UnknownPolicyError([f"--policy: {problem}" for problem in error.problems]) from None
    scenario = load_scenario(args.scenario, args.overrides, policy=policy)
    if args.out:
        writable_directory(args.out)
    try:
        result = run(scenario, seed=args.seed)
    except Exception as error:  # the user's own policy failing is their mistake to fix: say where, no traceback
        failure = POLICY_REGISTRY.failure(error)
        if failure is None:
            raise
        raise failure from None
    for warning in result.summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out:
        result.write(args.out, args.format)
    if args.json:
        summary = {"scenario": scenario.name, "policy": result.policy, "policy_params": result.policy_params,
                   "seed": result.seed, **result.summary}
        print(json.dumps(_json_value(summary)))
    else:
        print(f"scenario {scenario.name} | policy {result.policy} {result.policy_params or ''} | seed {result.seed}")
        print(format_summary(result.summary))
        if args.out:
            print(f"tables written to {args.out}/")
    return 0


def _command_validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario, args.overrides)
    for warning in scenario.warnings:  # `run` adds the stability check, which needs scipy's LP solver
        print(f"warning: {warning}", file=sys.stderr)
    n_stages = sum(len(app.stages) for app in scenario.applications.values())
    print(f"{args.scenario}: OK ({len(scenario.nodes)} nodes, {len(scenario.network.links)} links, "
          f"{len(scenario.applications)} applications with {n_stages} stages, {len(scenario.arrivals)} arrival "
          f"streams, policy {scenario.policy.name} in {scenario.policy.mode} mode"
          f"{', task sizes known (clairvoyant)' if scenario.policy.clairvoyant else ''}{_messages_outline(scenario)}"
          f"{_joins_outline(scenario)}{_streaming_outline(scenario)}"
          f"{_dynamics_outline(scenario)})")
    return 0


def _messages_outline(scenario: Scenario) -> str:
    """The per-message protocol and compression, for `validate`'s summary line (empty when neither is set)."""
    protocol = scenario.network.protocol
    compression = scenario.network.compression
    parts = []
    if protocol is not None:
        named = f" {protocol.name}" if protocol.name else ""
        parts.append(f"protocol{named} ({protocol.header_bytes:g} header bytes, {protocol.latency_s:g} s per message)")
    if compression is not None:
        parts.append(f"compression to {compression.ratio:g} of the payload ({compression.sender_s_per_mb:g} s/MB "
                     f"to compress, {compression.receiver_s_per_mb:g} s/MB to decompress)")
    return "".join(f", {part}" for part in parts)


def _joins_outline(scenario: Scenario) -> str:
    """The stages that wait for only some of their predecessors, for `validate`'s summary line."""
    joins = [f"{app.name}.{stage.name} ({stage.join} of {len(stage.after)})"
             for app in scenario.applications.values() for stage in app.stages if stage.join != "all"]
    return f"; asynchronous joins: {', '.join(joins)}" if joins else ""


def _streaming_outline(scenario: Scenario) -> str:
    """Chunked outputs, brokers and streaming stages, for `validate`'s summary line (empty when none is set)."""
    stages = []
    for app in scenario.applications.values():
        for stage in app.stages:
            parts = [f"output in {stage.chunks} chunks"] if stage.chunks > 1 else []
            parts += [f"via broker {stage.broker}"] if stage.broker is not None else []
            parts += ["streams its inputs"] if stage.streaming else []
            if parts:
                stages.append(f"{app.name}.{stage.name} ({', '.join(parts)})")
    brokers = [f"{broker.name} ({broker.service_s:g} s + {broker.s_per_mb:g} s/MB per message, {broker.distribution}, "
               f"{broker.slots} slot{'s' if broker.slots > 1 else ''})" for broker in scenario.network.brokers]
    return (f"; streaming: {', '.join(stages)}" if stages else "") + (
        f"; brokers: {', '.join(brokers)}" if brokers else "")


def _dynamics_outline(scenario: Scenario) -> str:
    """What can change during a run, for `validate`'s summary line (empty for a static scenario)."""
    parts = []
    if scenario.failures:
        parts.append(f"{len(scenario.failures)} failure processes, on failure {scenario.recovery.on_failure}")
    if scenario.outages:
        parts.append(f"{len(scenario.outages)} outages")
    if scenario.rebalancing.trigger != "off":
        parts.append(f"{scenario.rebalancing.trigger} rebalancing")
    if scenario.work_stealing.enabled:
        parts.append("work stealing")
    applications = scenario.applications.values()
    if any(math.isfinite(app.timeout_s) for app in applications):
        parts.append("job timeouts")
    if any(stage.replicas > 1 for app in applications for stage in app.stages):
        parts.append("replicated stages")
    return "".join(f"; {part}" for part in parts)


def _command_schema(args: argparse.Namespace) -> int:
    from simulator.config.json_schema import scenario_json_schema_text

    text = scenario_json_schema_text()
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.out, lambda temporary: temporary.write_text(text, encoding="utf-8"))
        print(f"wrote {args.out}")
    return 0


def _command_policies(args: argparse.Namespace) -> int:
    entries: list[dict[str, Any]] = []
    entry_points = POLICY_REGISTRY.entry_points()
    for name in policy_names():
        try:
            cls = policy_class(name)
        except UserInputError as error:  # a broken plug-in must not hide the others
            print(f"warning: {error}", file=sys.stderr)
            continue
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        origin = "built-in" if name in POLICIES else f"entry point {entry_points[name].value}"
        params = {key: "(required)" if value is inspect.Parameter.empty else value
                  for key, value in cls.default_params().items()}
        entries.append({"name": name, "modes": list(cls.modes), "stochastic": cls.stochastic,
                        "params": params, "description": doc, "origin": origin})
    if args.json:
        print(json.dumps(entries, indent=2, default=repr))
        return 0
    for entry in entries:
        listed = ", ".join(f"{k}={v!r}" for k, v in entry["params"].items()) or "(no parameters)"
        print(f"{entry['name']:<24} modes: {'/'.join(entry['modes']):<16} params: {listed}")
        print(f"{'':<24} {entry['description']}")
        if entry["origin"] != "built-in":
            print(f"{'':<24} ({entry['origin']})")
    print("\nYour own policy: name it as module:Class or path/to/file.py:Class (see the README, Plug-ins).")
    return 0


def _command_demo(args: argparse.Namespace) -> int:
    from simulator.runner.demo import TABLE_TITLES, demo_experiment
    from simulator.runner.figures import draw_standard_figures
    from simulator.runner.report import format_report, summarize, write_report
    from simulator.runner.results import load_results
    from simulator.runner.sweeps import run_sweep

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    spec = demo_experiment(args.scenario, args.overrides, policies, args.replications)
    writable_directory(args.out)  # fail on a bad output directory before any run starts
    print(f"Demo: {spec.description}; {len(spec.policies)} policies x {spec.replications} replications")
    outcome = run_sweep(spec, executor="serial", out=args.out, progress=args.log_level <= logging.INFO)
    if outcome.n_reused:
        print(f"(reused {outcome.n_reused} of {outcome.n_unique} runs already stored in {outcome.results_dir})")
    results = load_results(outcome.results_dir)
    summary = summarize(results)
    print(format_report(results, summary, list(TABLE_TITLES), titles=TABLE_TITLES))
    written = write_report(results, summary)
    written += draw_standard_figures(outcome.results_dir)
    print(f"\nwrote into {outcome.results_dir}/: "
          f"{', '.join(str(path.relative_to(outcome.results_dir)) for path in written)}")
    return 1 if outcome.failed else 0


def _command_map(args: argparse.Namespace) -> int:
    from simulator.map_cli import run_map

    return run_map(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _command_run,
    "validate": _command_validate,
    "schema": _command_schema,
    "policies": _command_policies,
    "demo": _command_demo,
    "map": _command_map,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at interpreter exit
        return status
    except UserInputError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`report | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
