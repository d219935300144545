"""Fuzz test of every input path: mutated shipped scenarios, experiment files and trace CSVs through the CLI.

Besides the shipped scenarios, ``tests/fuzz_corpus/`` holds a scenario that uses every field the shipped ones
leave out (rtt-weighted sharing, batch_scaling, a multi-application trace, MMPP, on/off, diurnal arrivals ...),
so that new fields are mutated too: add a field there when you add one to the schema (``joins.toml``: the
asynchronous joins, and ``streaming.toml``: chunked outputs, streaming stages and brokers, which a dynamic scenario
such as ``features.toml`` refuses).

Each case asserts the project's promise about bad input: the command ends (no hang: a per-case timeout), with
exit status 0 or 2, never a traceback; a scenario that `validate` accepts also `run`s; and a run's summary
explains every metric that is not a finite number. The default size is small for CI; set
``ALLOCSIM_FUZZ_CASES`` (cases per family) and ``ALLOCSIM_FUZZ_SEED`` to run thousands.
"""

from __future__ import annotations

import json
import os
import random
import tomllib
from pathlib import Path

import pytest
from fuzz_support import Mutant, Outcome, mutate, mutate_trace, run_cli

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
SCENARIOS = sorted(p for p in (ROOT / "scenarios").rglob("*.toml") if "data" not in p.relative_to(ROOT).parts)
SCENARIOS += sorted(CORPUS.glob("*.toml"))
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.toml"))
CASES = int(os.environ.get("ALLOCSIM_FUZZ_CASES", "40"))
SEED = int(os.environ.get("ALLOCSIM_FUZZ_SEED", "20261129"))
TIMEOUT_S = float(os.environ.get("ALLOCSIM_FUZZ_TIMEOUT_S", "60"))
RUN_LIMITS = ["--set", "simulation.max_jobs=150"]
"""A mutated scenario that validates is run this short: the fuzz test looks for crashes, not for results."""


def _problems(label: str, outcome: Outcome) -> list[str]:
    if outcome.timed_out:
        return [f"{label}: no answer within {TIMEOUT_S:g} s (a hang)"]
    problems = []
    if outcome.exit_status not in (0, 2):
        problems.append(f"{label}: exit status {outcome.exit_status}")
    if "Traceback" in outcome.stderr:
        problems.append(f"{label}: traceback:\n{outcome.stderr[-3000:]}")
    if outcome.exit_status == 2 and not outcome.stderr.strip():
        problems.append(f"{label}: exit status 2 without a message")
    return problems


def _unexplained_metrics(stdout: str) -> list[str]:
    """Metrics printed as null (inf or NaN) in the JSON summary that neither names nor explains."""
    summary = json.loads(stdout.strip().splitlines()[-1])
    explained = summary.get("undefined_metrics") or {}
    return [key for key, value in summary.items() if value is None and key not in explained]


def _check_scenario(mutant: Mutant, directory: Path, label: str, data_files: dict[str, bytes]) -> list[str]:
    path = directory / "mutant.toml"
    path.write_bytes(mutant.data)
    for name, data in data_files.items():  # the trace files the scenario names, beside it
        (directory / name).write_bytes(data)
    validated = run_cli(["validate", str(path)], TIMEOUT_S)
    problems = _problems(f"{label} validate", validated)
    if validated.exit_status != 0 or problems:
        return problems
    ran = run_cli(["run", str(path), "--json", *RUN_LIMITS], TIMEOUT_S)
    problems = _problems(f"{label} run", ran)
    if not problems and ran.exit_status != 0:
        problems.append(f"{label}: validate said OK but run failed:\n{ran.stderr[-2000:]}")
    if not problems:
        unexplained = _unexplained_metrics(ran.stdout)
        if unexplained:
            problems.append(f"{label}: metrics {unexplained} are undefined without a reason")
    return problems


def _cases(files: list[Path], count: int, seed: int) -> list[tuple[Path, Mutant]]:
    rng = random.Random(seed)
    documents = {path: tomllib.loads(path.read_text(encoding="utf-8")) for path in files}
    return [(files[index % len(files)], mutate(documents[files[index % len(files)]], rng)) for index in range(count)]


def _scenario_cases(count: int, seed: int) -> list[tuple[Path, Mutant, dict[str, bytes]]]:
    """Mutated scenarios with their trace files; in a third of the cases of a scenario that has trace files,
    the scenario is kept and one trace file is mutated instead."""
    rng = random.Random(seed + 2)
    cases = []
    for source, mutant in _cases(SCENARIOS, count, seed):
        traces = {path.name: path.read_bytes() for path in sorted(source.parent.glob("*.csv"))}
        if traces and rng.random() < 1 / 3:
            name = rng.choice(sorted(traces))
            trace = mutate_trace(traces[name].decode("utf-8"), rng)
            traces[name] = trace.data
            mutant = Mutant(source.read_bytes(), f"{name}: {trace.description}")
        cases.append((source, mutant, traces))
    return cases


@pytest.mark.slow
def test_mutated_scenarios_never_crash_or_hang(tmp_path):
    """Every mutated shipped scenario: validate and run end with status 0 or 2, no traceback, no hang;
    validate OK implies run OK; every undefined metric is explained."""
    problems: list[str] = []
    for index, (source, mutant, traces) in enumerate(_scenario_cases(CASES, SEED)):
        label = f"case {index} ({source.relative_to(ROOT)}: {mutant.description})"
        problems.extend(_check_scenario(mutant, tmp_path, label, traces))
    print(f"fuzz: {CASES} mutated scenarios (seed {SEED})")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_mutated_experiments_never_crash_or_hang(tmp_path):
    """Every mutated experiment file: `sweep --dry-run` ends with status 0 or 2, no traceback, no hang."""
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    directory = tmp_path / "experiments"
    directory.mkdir()
    problems: list[str] = []
    for index, (source, mutant) in enumerate(_cases(EXPERIMENTS, max(CASES // 2, 1), SEED + 1)):
        path = directory / "mutant.toml"
        path.write_bytes(mutant.data)
        outcome = run_cli(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "results")], TIMEOUT_S)
        problems.extend(_problems(f"case {index} ({source.name}: {mutant.description}) sweep --dry-run", outcome))
    print(f"fuzz: {max(CASES // 2, 1)} mutated experiments (seed {SEED + 1})")
    assert not problems, "\n".join(problems)


def test_the_runner_catches_a_traceback_and_a_hang():
    """The harness itself: an exception escaping main is a traceback with status 1, a sleep is a hang."""
    def crash(argv):
        raise ValueError("boom")

    def hang(argv):
        import time

        time.sleep(60)
        return 0

    crashed = run_cli([], 10, main=crash)
    assert crashed.exit_status == 1 and "Traceback" in crashed.stderr and not crashed.timed_out
    hung = run_cli([], 0.5, main=hang)
    assert hung.timed_out and hung.exit_status is None


def test_the_corpus_scenario_is_valid_and_runs(tmp_path):
    """The unmutated corpus scenario runs cleanly, so that its mutants test the mutation, not a broken base."""
    for path in sorted(CORPUS.glob("*.toml")):
        outcome = run_cli(["run", str(path), "--json"], TIMEOUT_S)
        assert outcome.exit_status == 0 and not _problems(str(path), outcome), outcome.stderr
        assert json.loads(outcome.stdout)["jobs_completed"] > 0
