"""Never a traceback, never a hang, never silent nonsense: bad input to ``sweep``, ``report`` and ``figures``
ends in a clear message naming the file and the field, and exit status 2, within a few seconds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_support import EXPERIMENT, write_experiment

from simulator.cli import main
from simulator.errors import UserInputError
from simulator.runner import demo_experiment, run_sweep
from simulator.runner.expressions import MAX_INT_BITS, ExpressionError, compile_expression
from simulator.runner.grid import replication_seed
from simulator.runner.spec import MAX_LEVELS, MAX_NAME_LENGTH, MAX_REPLICATIONS, MAX_RUNS

pytestmark = pytest.mark.unit

SMALL = EXPERIMENT.replace("replications = 2", "replications = 1")  # 8 runs


@contextlib.contextmanager
def within(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the test suite) when the block takes longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise AssertionError(f"took longer than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def user_error(capsys: pytest.CaptureFixture[str], argv: list[str], seconds: int = 20) -> str:
    """Run the CLI; assert exit status 2 and no traceback; return stderr."""
    with within(seconds):
        status = main(argv)
    error = capsys.readouterr().err
    assert status == 2, error
    assert "Traceback" not in error and error.startswith("error: "), error
    return error


@pytest.fixture(scope="module")
def stored_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep of 8 runs."""
    directory = tmp_path_factory.mktemp("stored")
    path = write_experiment(directory, SMALL)
    run_sweep(path, executor="serial", out=directory / "results", progress=False)
    return directory / "results"


# -- 1. experiment and scenario files are read as user files ----------------------------------------------


def test_unreadable_experiment_files_are_user_errors(tmp_path, capsys):
    """An experiment file that is not UTF-8, a directory, or a symbolic link loop: a message naming it."""
    binary = tmp_path / "latin1.toml"
    binary.write_bytes('[experiment]\nname = "caf\xe9"\n'.encode("latin-1"))
    assert "latin1.toml: experiment file is not UTF-8" in user_error(capsys, ["sweep", str(binary), "--dry-run"])
    (tmp_path / "folder.toml").mkdir()
    assert "folder.toml" in user_error(capsys, ["sweep", str(tmp_path / "folder.toml"), "--dry-run"])
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    assert "loop.toml: cannot read experiment file: symbolic link loop" in user_error(
        capsys, ["sweep", str(loop), "--dry-run"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_experiment_file_without_read_permission_is_a_user_error(tmp_path, capsys):
    """An experiment file the user may not read: a message naming it."""
    path = write_experiment(tmp_path)
    path.chmod(0)
    assert "tiny.toml: cannot read experiment file" in user_error(capsys, ["sweep", str(path), "--dry-run"])


@pytest.mark.parametrize("scenario_line, make, expected", [
    ('scenario = "scenario.toml"', lambda d: (d / "scenario.toml").write_bytes(b"[simulation]\nname = '\xff'\n"),
     "experiment.scenario scenario file is not UTF-8"),
    ('scenario = "sub"', lambda d: (d / "sub").mkdir(), "experiment.scenario cannot read scenario file: it is a "
     "directory"),
    ('scenario = "loop.toml"', lambda d: (d / "loop.toml").symlink_to(d / "loop.toml"),
     "experiment.scenario"),
    ('scenario = "nul\\u0000.toml"', lambda d: None, "experiment.scenario is not a file name"),
])
def test_unreadable_base_scenario_names_the_experiment_field(tmp_path, capsys, scenario_line, make, expected):
    """A base scenario that is not UTF-8, a directory, a symbolic link loop or not a file name: the message
    names the experiment file, the field experiment.scenario and the scenario file."""
    path = write_experiment(tmp_path, EXPERIMENT.replace('scenario = "scenario.toml"', scenario_line))
    make(tmp_path)
    error = user_error(capsys, ["sweep", str(path), "--dry-run"])
    assert f"{path}: {expected}" in error


def test_file_names_too_long_are_user_errors(tmp_path, capsys):
    """An experiment file or base scenario whose name is too long for the file system: a message naming the
    file (and experiment.scenario), not an OSError traceback."""
    long_name = "y" * 300 + ".toml"
    assert "cannot read experiment file" in user_error(capsys, ["sweep", str(tmp_path / long_name), "--dry-run"])
    path = write_experiment(tmp_path, EXPERIMENT.replace('scenario = "scenario.toml"', f'scenario = "{long_name}"'))
    assert f"{path}: experiment.scenario cannot read scenario file" in user_error(
        capsys, ["sweep", str(path), "--dry-run"])


# -- 2. the expression language is bounded and every evaluation error is a user error ---------------------


@pytest.mark.parametrize("expression", [
    "10**10**10", "2**64 * load", "(-8) ** 0.5 * load", "get(1)", "get()", "streams(1)", "streams()",
    "'a' * 10**9", "[1] * 10**9", "'%999999999d' % 1", "round(load, -10**9)", "int(1e300)", "float('nan')",
    "exp(1000)", "load / 0", "sqrt(-load)", "max()", "get('nodes') + 1", "-'x'", "1e308 * 10 * load",
    "log(load, 1)", "load in 3",
])
def test_bad_derived_expression_is_a_quick_user_error(tmp_path, capsys, expression):
    """Any expression in [derived] ends quickly (even 10**10**10 with --dry-run) in a message naming the file
    and the field, never a hang, a traceback or an inf/NaN value."""
    text = EXPERIMENT.replace('"load * capacity_per_s"', json.dumps(expression))
    path = write_experiment(tmp_path, text)
    error = user_error(capsys, ["sweep", str(path), "--dry-run"], seconds=10)
    assert f'{path}: derived."arrivals.users.rate_per_s"' in error


@pytest.mark.parametrize("expression", ["get(1) > 0", "10 ** 10 ** 10 > load", "policy * 2 > 1", "'x' < load"])
def test_bad_filter_is_a_user_error(tmp_path, capsys, expression):
    """A filter that cannot be evaluated names the file and experiment.filters."""
    text = EXPERIMENT.replace('seed = 7\n', f"seed = 7\nfilters = [{json.dumps(expression)}]\n")
    path = write_experiment(tmp_path, text)
    assert f"{path}: experiment.filters" in user_error(capsys, ["sweep", str(path), "--dry-run"], seconds=10)


def test_expression_limits():
    """Integers are bounded by MAX_INT_BITS, floats must be finite, and deep or long expressions are refused
    at compile time with ExpressionError (never RecursionError)."""

    def evaluate(text: str) -> object:
        return compile_expression(text).evaluate(lambda name: 2, lambda path: 1)

    assert evaluate(f"2 ** {MAX_INT_BITS - 1}") == 2 ** (MAX_INT_BITS - 1)
    assert evaluate("'a' + 'b'") == "ab" and evaluate("int('12') + float('0.5')") == 12.5
    for text in [f"2 ** {MAX_INT_BITS}", "9 ** 9 ** 9", "2.0 ** 5000", "x ** 0.5 * -1 + (-x) ** 0.5", "1e999"]:
        with pytest.raises(ExpressionError):
            evaluate(text)
    for text in ["-" * 900 + "1", "1 + " * 400 + "1", "(" * 300 + "1" + ")" * 300, "1j", "b'x'"]:
        with pytest.raises(ExpressionError):
            compile_expression(text)


# -- 3. experiment names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x" * 300, "a b", "-rf", "tab\there", "a:b?"])
def test_experiment_name_must_be_a_short_plain_directory_name(tmp_path, capsys, name):
    """An experiment name that cannot be a directory name (too long, spaces, odd characters) is refused
    before any run, naming experiment.name, instead of failing with "file name too long"."""
    path = write_experiment(tmp_path, EXPERIMENT.replace('name = "tiny"', f"name = {json.dumps(name)}"))
    error = user_error(capsys, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert f"{path}: experiment.name" in error
    assert not (tmp_path / "out").exists()
    if len(name) > MAX_NAME_LENGTH:
        assert f"the limit is {MAX_NAME_LENGTH}" in error


def test_name_from_the_file_name_says_so(tmp_path, capsys):
    """Without experiment.name, a file name that is not a plain name is refused and the message says where
    the name came from."""
    path = write_experiment(tmp_path, EXPERIMENT.replace('name = "tiny"\n', ""), name="my sweep.toml")
    assert "taken from the file name" in user_error(capsys, ["sweep", str(path), "--dry-run"])


# -- 4. output directories --------------------------------------------------------------------------------


def test_sweep_out_that_cannot_be_a_directory(tmp_path, capsys):
    """sweep --out under a regular file, or an existing file: exit 2 naming --out, nothing run."""
    path = write_experiment(tmp_path, SMALL)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert "--out" in user_error(capsys, ["sweep", str(path), "--out", str(blocker / "x")])
    assert "is an existing file" in user_error(capsys, ["sweep", str(path), "--out", str(blocker)])
    assert blocker.read_text() == "not a directory"


@pytest.mark.parametrize("command", ["report", "figures"])
def test_report_and_figures_out_that_cannot_be_a_directory(stored_sweep, tmp_path, capsys, command):
    """report --out and figures --out under a regular file, or an existing file: exit 2 naming --out."""
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    error = user_error(capsys, [command, str(stored_sweep), "--out", str(blocker / "x")], seconds=60)
    assert f"--out {blocker / 'x'}" in error
    assert "is an existing file" in user_error(capsys, [command, str(stored_sweep), "--out", str(blocker)],
                                              seconds=60)
    assert blocker.read_text() == "keep"


# -- 5. Ctrl-C of a Dask sweep ----------------------------------------------------------------------------


def test_interrupted_dask_sweep_closes_quietly(tmp_path, capfd):
    """Ctrl-C of a Dask sweep: the SIGINT a terminal sends to the whole process group (simulated here by
    sending it to this process and to every worker process) interrupts the sweep, and the cluster closes
    within seconds without any worker printing a traceback."""
    pytest.importorskip("dask.distributed")
    psutil = pytest.importorskip("psutil")
    path = write_experiment(tmp_path, SMALL.replace('"simulation.max_jobs" = 120', '"simulation.max_jobs" = 400'))

    def control_c(record: dict[str, object]) -> None:
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.send_signal(signal.SIGINT)
        time.sleep(1.0)  # a worker that does not ignore SIGINT has printed its traceback by now
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)  # KeyboardInterrupt arrives here

    started = time.monotonic()
    with within(120), pytest.raises(KeyboardInterrupt):
        run_sweep(path, executor="dask", workers=2, out=tmp_path / "out", progress=False, on_record=control_c)
    assert time.monotonic() - started < 90
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "KeyboardInterrupt" not in captured.err, captured.err


# -- 6. sizes and non-finite numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("old, new, field", [
    ("replications = 2", "replications = 1000000000", "experiment.replications"),
    ("load = [0.3, 0.6]", f"load = {list(range(MAX_LEVELS + 1))}", 'factors."load"'),
    ("load = [0.3, 0.6]", f"load = {list(range(MAX_LEVELS))}\nother = {list(range(MAX_LEVELS))}", "factors"),
    ("load = [0.3, 0.6]", "load = [0.3, 0.6]\nunused = [nan, 1.0]", 'factors."unused"'),
    ("load = [0.3, 0.6]", "load = [0.3, inf]", 'factors."load"'),
    ('"simulation.max_jobs" = 120', '"simulation.max_jobs" = 120\n"simulation.warmup_s" = nan',
     'set."simulation.warmup_s"'),
    ('params = { tie_break = "lowest_index" }', 'params = { tie_break = "lowest_index" }\n'
     'grid = { tie_break = ["random", "lowest_index", "random2"] }\n[quick]\nreplications = 100000',
     "quick.replications"),
])
def test_sizes_and_non_finite_numbers_are_refused_quickly(tmp_path, capsys, old, new, field):
    """A typo in a size (replications = 1000000000, too many levels, a grid beyond MAX_RUNS) is refused
    within seconds instead of exhausting memory; NaN and inf are refused where a number must be finite."""
    assert old in EXPERIMENT
    path = write_experiment(tmp_path, EXPERIMENT.replace(old, new, 1))
    error = user_error(capsys, ["sweep", str(path), "--dry-run"], seconds=20)
    assert f"{path}: {field}" in error


def test_replications_option_is_bounded(tmp_path, capsys):
    """--replications beyond MAX_REPLICATIONS is refused before the grid is expanded."""
    path = write_experiment(tmp_path)
    with pytest.raises(SystemExit) as exit_:  # refused by the argument parser, as the file's field would be
        main(["sweep", str(path), "--dry-run", "--replications", str(MAX_REPLICATIONS + 1)])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--replications: must be an integer in [1, {MAX_REPLICATIONS}]" in error
    assert MAX_RUNS >= MAX_REPLICATIONS


# -- 7. one seed rule for demo and sweep ------------------------------------------------------------------


def test_demo_and_sweep_use_the_same_seeds(tmp_path):
    """Replication r of the demo (seeded from the scenario's simulation.seed) runs with the same seed as
    replication r of a sweep with that root seed, so both give the same numbers for the same scenario."""
    text = """
[experiment]
name = "same"
scenario = "scenario.toml"
replications = 2
seed = 11

[[policies]]
name = "least_loaded"
"""
    path = write_experiment(tmp_path, text)
    sweep_runs = run_sweep(path, executor="serial", out=tmp_path / "out", progress=False).runs
    demo = demo_experiment(tmp_path / "scenario.toml", ["simulation.seed=11"], ["least_loaded"], replications=2)
    demo_runs = run_sweep(demo, executor="serial", out=tmp_path / "demo", progress=False).runs
    for replication in (0, 1):
        demo_run = demo_runs[demo_runs["replication"] == replication].iloc[0]
        swept = sweep_runs[sweep_runs["replication"] == replication].iloc[0]
        assert demo_run["seed"] == swept["seed"] == replication_seed(11, replication)
        assert demo_run["response_time_mean_s"] == swept["response_time_mean_s"]
        assert demo_run["jobs_completed"] == swept["jobs_completed"]


# -- other runner paths: damaged stores ---------------------------------------------------------------------


def execute(root: Path, statement: str) -> None:
    """Edit a store's database by hand, as a user with the sqlite3 shell could."""
    with contextlib.closing(sqlite3.connect(root / "store.sqlite")) as database, database:
        database.execute(statement)


def truncate(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


@pytest.mark.parametrize("damage", [
    lambda root: (root / "store.sqlite").write_bytes(b"\xff\xfe not a database" * 300),
    lambda root: truncate(root / "store.sqlite", 6000),
    lambda root: execute(root, "UPDATE store_info SET value = 'other' WHERE name = 'package'"),
    lambda root: execute(root, "DROP TABLE grid"),
    lambda root: execute(root, "DELETE FROM manifest"),
    lambda root: execute(root, "UPDATE manifest SET value_json = '{half' WHERE name = 'factors'"),
    lambda root: execute(root, "UPDATE manifest SET value_json = '[1]' WHERE name = 'factors'"),
    lambda root: execute(root, "UPDATE grid_points SET factors_json = '{half'"),
    lambda root: execute(root, "UPDATE grid_policies SET policy_params_json = '[1]'"),
    lambda root: execute(root, "DELETE FROM grid_policies"),
])
@pytest.mark.parametrize("command", ["report", "figures"])
def test_damaged_store_is_a_user_error(stored_sweep, tmp_path, capsys, damage, command):
    """A result directory whose database is damaged, foreign or edited into nonsense: exit 2 naming it."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(stored_sweep, root)
    damage(root)
    error = user_error(capsys, [command, str(root), "--out", str(tmp_path / "o")], seconds=60)
    assert str(root / "store.sqlite") in error


def test_runs_deleted_by_hand_count_as_missing(stored_sweep, tmp_path, capsys):
    """Runs deleted from the database are reported as missing (not a traceback), and the next sweep runs
    exactly those again."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(stored_sweep, root)
    execute(root, "DELETE FROM runs WHERE key IN (SELECT key FROM grid ORDER BY position LIMIT 4)")
    assert main(["report", str(root), "--out", str(tmp_path / "o")]) == 0
    output = capsys.readouterr()
    assert "4 runs are missing" in output.out and "Traceback" not in output.err
    path = stored_sweep.parent / "tiny.toml"
    assert run_sweep(path, executor="serial", out=root, progress=False).n_executed == 4


def test_results_that_are_not_a_store(tmp_path, capsys):
    """report and figures on a file, or a directory without a store: exit 2 naming it."""
    (tmp_path / "plain").write_text("x")
    for command in ("report", "figures"):
        assert "no result store here" in user_error(capsys, [command, str(tmp_path / "plain")])
        assert "no result store here" in user_error(capsys, [command, str(tmp_path)])


def test_user_errors_are_user_input_errors():
    """The runner's errors are UserInputError, so the CLI prints them and exits 2."""
    from simulator.runner.errors import ExecutorError, ExperimentError, StoreError

    assert all(issubclass(cls, UserInputError) for cls in (ExecutorError, ExperimentError, StoreError))
