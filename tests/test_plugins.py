"""Plug-ins from outside the package: a user's policy or solver, found by entry point, ``module:Class`` or
``path/to/file.py:Class``, works from the CLI, scenario and experiment files and every executor; bad names
and failing user code give one clear line, exit status 2, no traceback.

Reference: STYLE.md's registry rule (scikit-learn's get_params read off the signature, pytest's plugins found
by entry point, ``importlib.metadata.entry_points(group=...)``).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from runner_support import EXPERIMENT, SCENARIO, write_experiment

from simulator.cli import main
from simulator.errors import UnknownPolicyError
from simulator.plugins import ParameterError
from simulator.policies import make_policy, policy_class, policy_names
from simulator.solvers import UnknownSolverError, get_solver, solver_names

pytestmark = pytest.mark.unit

MY_POLICIES = '''
from simulator.plugins import check_number
from simulator.policies import BATCH, IMMEDIATE, Policy


class Stubborn(Policy):
    """Every task to the eligible node at ``position`` (the last one when there are fewer)."""

    modes = (IMMEDIATE, BATCH)

    def __init__(self, *, position=0):
        self.position = position

    def check_params(self):
        check_number(self, "position", minimum=0, integer=True)

    def assign(self, task):
        nodes = self.view_.eligible_nodes(task)
        return nodes[min(self.position, len(nodes) - 1)]


class Broken(Policy):
    """Fails on its first decision."""

    def assign(self, task):
        return 1 / 0


def helper():
    return 0
'''

MY_SOLVERS = '''
import numpy as np

from simulator.solvers import Solver


class LastMachine(Solver):
    """Every task to the last machine."""

    def _solve(self, problem, rng, search):
        return np.full(problem.n_tasks, problem.n_machines - 1, dtype=np.intp), None, {}
'''

ONE_NODE_JAIN = 0.5
"""Jain's fairness index of two nodes' utilizations when all work went to one of them: u^2 / (2 u^2)."""


def scenario_with_policy(name: str, extra: str = "") -> str:
    return SCENARIO + f'\n[policy]\nname = "{name}"\n{extra}'


@pytest.fixture
def user_modules(tmp_path: Path) -> Path:
    """A directory holding the user's modules."""
    (tmp_path / "my_policies.py").write_text(MY_POLICIES)
    (tmp_path / "my_solvers.py").write_text(MY_SOLVERS)
    return tmp_path


@pytest.fixture
def plugin_dir(user_modules: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's modules' directory made the working directory (names are relative to it)."""
    monkeypatch.chdir(user_modules)
    return user_modules


def summary_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_scenario_policy_from_a_file_runs_with_python_m_simulator(plugin_dir: Path) -> None:
    """(1) ``[policy] name = "my_policies.py:Stubborn"`` in a scenario, run by the command line in a fresh process."""
    path = plugin_dir / "scenario.toml"
    path.write_text(scenario_with_policy("my_policies.py:Stubborn", "params = { position = 1 }"))
    completed = subprocess.run([sys.executable, "-m", "simulator", "run", str(path), "--json"], cwd=plugin_dir,
                               capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["policy"] == f"{plugin_dir / 'my_policies.py'}:Stubborn"
    assert summary["policy_params"] == {"position": 1}
    assert summary["utilization_by_node"]["server"] == 0 < summary["utilization_by_node"]["small"]


def test_cli_policy_option_takes_a_file_name(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """(2) ``run --policy my_policies.py:Stubborn``: every task on the first node."""
    (plugin_dir / "scenario.toml").write_text(SCENARIO)
    summary = summary_of(capsys, ["run", "scenario.toml", "--policy", "my_policies.py:Stubborn", "--json"])
    assert summary["utilization_by_node"]["small"] == 0 < summary["utilization_by_node"]["server"]
    assert summary["jain_fairness"] == pytest.approx(ONE_NODE_JAIN)


def test_module_colon_class_names_an_importable_module(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    cls = policy_class("my_policies:Stubborn")
    assert cls.name == "my_policies:Stubborn" and cls.param_names() == ["position"]


def test_a_relative_file_is_found_from_base_dir_and_named_absolutely(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A path relative to the file that names it: the scenario or experiment directory given as base_dir."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "my_policies.py").write_text(MY_POLICIES)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cls = policy_class("plugins/my_policies.py:Stubborn", base_dir=tmp_path)
    assert cls.name == f"{tmp_path / 'plugins' / 'my_policies.py'}:Stubborn"
    assert policy_class(cls.name) is cls  # the absolute name alone finds it again, from any directory
    with pytest.raises(UnknownPolicyError, match="no such file"):
        policy_class("plugins/my_policies.py:Stubborn")  # the working directory has no plugins/


def test_relative_names_in_files_are_read_from_the_file_that_names_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario and an experiment in ``study/`` naming ``plugins/my_policies.py:Stubborn``, run from another
    working directory: the name is read relative to each file, and the processes executor's workers load the
    class by the absolute name the file's reader recorded (the label keeps the name as the user wrote it)."""
    from simulator.runner import run_sweep

    study = tmp_path / "study"
    (study / "plugins").mkdir(parents=True)
    (study / "plugins" / "my_policies.py").write_text(MY_POLICIES)
    (study / "scenario.toml").write_text(scenario_with_policy("plugins/my_policies.py:Stubborn"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    summary = summary_of(capsys, ["run", str(study / "scenario.toml"), "--json"])
    assert summary["policy"] == f"{study / 'plugins' / 'my_policies.py'}:Stubborn"
    assert summary["jain_fairness"] == pytest.approx(ONE_NODE_JAIN)
    experiment = EXPERIMENT.replace("replications = 2", "replications = 1").split("[[policies]]")[0]
    experiment += '[[policies]]\nname = "plugins/my_policies.py:Stubborn"\n'
    path = write_experiment(study, experiment)
    monkeypatch.chdir(ROOT)  # the fork server imports the simulator from the working directory
    outcome = run_sweep(path, executor="processes", workers=2, out=tmp_path / "out", progress=False)
    assert (outcome.runs["status"] == "ok").all(), outcome.runs["error"].tolist()
    assert set(outcome.runs["policy"]) == {"plugins/my_policies.py:Stubborn"}
    assert set(outcome.runs["policy_name"]) == {f"{study / 'plugins' / 'my_policies.py'}:Stubborn"}
    assert (outcome.runs["jain_fairness"] == ONE_NODE_JAIN).all()


def test_user_policies_pickle_and_validate_like_built_ins(plugin_dir: Path) -> None:
    policy = make_policy("my_policies.py:Stubborn", {"position": 2})
    assert pickle.loads(pickle.dumps(policy)).get_params() == {"position": 2}
    with pytest.raises(ParameterError, match="position must be an integer >= 0, got -1"):
        make_policy("my_policies.py:Stubborn", {"position": -1})
    with pytest.raises(ParameterError, match="unknown parameter 'd' .* allowed: position"):
        make_policy("my_policies.py:Stubborn", {"d": 2})


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_experiment_policy_from_a_file_runs_on_every_executor(user_modules: Path, executor: str) -> None:
    """(3) ``[[policies]] name = "/path/my_policies.py:Stubborn"`` (the name `policy_class` gives a file found
    from a relative path): worker processes load it again from the name alone.

    The working directory stays the repository here: the fork server imports the simulator from it (and its
    own sys.path, Python 3.11), which must be this checkout, not another installed copy.
    """
    if executor == "dask":
        pytest.importorskip("dask.distributed")
    from simulator.runner import run_sweep

    experiment = EXPERIMENT.replace("replications = 2", "replications = 1").split("[[policies]]")[0]
    experiment += f'[[policies]]\nname = "{user_modules / "my_policies.py"}:Stubborn"\n'
    path = write_experiment(user_modules, experiment)
    serial = run_sweep(path, executor="serial", out=user_modules / "serial", progress=False)
    outcome = run_sweep(path, executor=executor, workers=2, out=user_modules / executor, progress=False)
    assert outcome.n_executed == 4 and (outcome.runs["status"] == "ok").all(), outcome.runs["error"].tolist()
    assert (outcome.runs["jain_fairness"] == ONE_NODE_JAIN).all()
    columns = ["key", "jobs_completed", "response_time_mean_s", "jain_fairness"]
    assert outcome.runs.sort_values("key")[columns].to_numpy().tolist() == \
        serial.runs.sort_values("key")[columns].to_numpy().tolist()


def test_entry_points_add_policies_and_solvers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """(4) An installed distribution declaring ``allocsim.policies`` and ``allocsim.solvers`` entry points."""
    (tmp_path / "stubborn_plugins.py").write_text(MY_POLICIES + MY_SOLVERS)
    info = tmp_path / "stubborn_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stubborn-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[allocsim.policies]\nstubborn = stubborn_plugins:Stubborn\n\n"
                                           "[allocsim.solvers]\nlast_machine = stubborn_plugins:LastMachine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "stubborn" in policy_names() and "last_machine" in solver_names()
    assert make_policy("stubborn", {"position": 1}).get_params() == {"position": 1}
    assert get_solver("last_machine").name == "last_machine"
    entries = {entry["name"]: entry for entry in summary_of(capsys, ["policies", "--json"])}
    assert entries["stubborn"]["params"] == {"position": 0}
    assert entries["stubborn"]["origin"] == "entry point stubborn_plugins:Stubborn"
    assert entries["last_machine"]["modes"] == ["batch"]  # a solver is also the batch policy mapping with it
    assert make_policy("last_machine").get_params() == {"time_limit_s": None}
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(scenario_with_policy("stubborn"))
    assert summary_of(capsys, ["run", str(scenario), "--json"])["jain_fairness"] == pytest.approx(ONE_NODE_JAIN)


def test_user_solver_from_the_map_command(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """(5) ``map --algorithm my_solvers.py:LastMachine`` maps every task to the last machine."""
    (plugin_dir / "etc.csv").write_text("m0,m1,m2\n1,2,3\n4,5,6\n")
    out = plugin_dir / "assignment.csv"
    report = summary_of(capsys, ["map", "etc.csv", "--algorithm", "my_solvers.py:LastMachine", "--json",
                                 "--out", str(out)])
    assert report["makespan_s"] == 9.0
    assert out.read_text().split() == ["task,machine", "0,2", "1,2"]


def test_user_solver_as_a_batch_policy(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """(5) A solver named as a scenario's policy maps each batch (the last machine is the small node's slot)."""
    (plugin_dir / "scenario.toml").write_text(scenario_with_policy("my_solvers.py:LastMachine", 'mode = "batch"'))
    summary = summary_of(capsys, ["run", "scenario.toml", "--json"])
    assert summary["utilization_by_node"]["server"] == 0 < summary["utilization_by_node"]["small"]
    policy = make_policy("my_solvers.py:LastMachine", {"time_limit_s": 5.0})
    assert policy.get_params() == {"time_limit_s": 5.0} and policy.modes == ("batch",)
    assert pickle.loads(pickle.dumps(policy)).get_params() == {"time_limit_s": 5.0}


BROKEN_MODULE = "import nothing_here_at_all\n"


@pytest.mark.parametrize(("name", "message"), [
    ("telepathy", "unknown policy 'telepathy'; known policies: "),
    ("missing.py:Stubborn", "missing.py: no such file"),
    ("my_policies.py:Nope", "my_policies.py has no class 'Nope'; it defines: Broken, Stubborn"),
    ("my_policies.py:helper", "gives function helper, which is not a subclass of simulator.policies.base.Policy"),
    ("broken.py:Stubborn", "ModuleNotFoundError: No module named 'nothing_here_at_all'"),
    ("no_such_module_here:Stubborn", "no module named 'no_such_module_here'"),
    ("sys:modules", "sys gives dict, which is not a subclass"),  # named by its kind, not its (huge) repr
])
def test_bad_names_in_a_scenario_exit_2_naming_file_and_field(plugin_dir: Path, name: str, message: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (plugin_dir / "broken.py").write_text(BROKEN_MODULE)
    (plugin_dir / "scenario.toml").write_text(scenario_with_policy(name))
    assert main(["validate", "scenario.toml"]) == 2
    error = capsys.readouterr().err
    assert "scenario.toml" in error and "policy.name" in error and message in error
    assert "Traceback" not in error


def test_bad_names_in_an_experiment_exit_2_naming_file_and_field(plugin_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    experiment = EXPERIMENT.split("[[policies]]")[0] + '[[policies]]\nname = "my_policies.py:Nope"\n'
    path = write_experiment(plugin_dir, experiment)
    assert main(["sweep", str(path), "--out", str(plugin_dir / "out"), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert path.name in error and "policies[0].name" in error and "has no class 'Nope'" in error


def test_unknown_solver_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSolverError, match="unknown solver 'anneal'; known solvers: .*min_min"):
        get_solver("anneal")


def test_a_failing_user_policy_is_a_clear_message_from_run(plugin_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (plugin_dir / "scenario.toml").write_text(SCENARIO)
    assert main(["run", "scenario.toml", "--policy", "my_policies.py:Broken"]) == 2
    line = MY_POLICIES.splitlines().index("        return 1 / 0") + 1
    module = plugin_dir / "my_policies.py"
    assert capsys.readouterr().err.strip() == (f"error: policy '{module}:Broken' raised ZeroDivisionError: "
                                               f"division by zero ({module}, line {line}, in assign)")


def test_a_failing_user_policy_is_a_failed_run_in_a_sweep(plugin_dir: Path) -> None:
    from simulator.runner import run_sweep

    experiment = EXPERIMENT.replace("replications = 2", "replications = 1")
    experiment += '\n[[policies]]\nname = "my_policies.py:Broken"\n'
    outcome = run_sweep(write_experiment(plugin_dir, experiment), out=plugin_dir / "out", progress=False)
    failed = outcome.runs[outcome.runs["policy"] == "my_policies.py:Broken"]
    assert len(failed) == 4 and (failed["status"] == "failed").all()
    assert (outcome.runs.loc[outcome.runs["policy"] != "my_policies.py:Broken", "status"] == "ok").all()
    assert all("ZeroDivisionError" in str(error) for error in failed["error"])


def test_numpy_integers_pass_integer_parameters(plugin_dir: Path) -> None:
    """One validation style: the shared check accepts numpy integers where an integer is asked for."""
    assert make_policy("my_policies.py:Stubborn", {"position": np.int64(1)}).get_params() == {"position": 1}


def test_the_readme_plugin_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The README's `my_policies.py` is a working plug-in (STYLE.md: every README snippet runs)."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```python\n# my_policies.py\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my_policies.py").write_text(example)
    (tmp_path / "scenario.toml").write_text(scenario_with_policy("my_policies.py:Stubborn"))
    monkeypatch.chdir(tmp_path)
    assert summary_of(capsys, ["run", "scenario.toml", "--json"])["jain_fairness"] == pytest.approx(ONE_NODE_JAIN)


def test_a_bad_policy_option_names_the_option(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (plugin_dir / "scenario.toml").write_text(SCENARIO)
    assert main(["run", "scenario.toml", "--policy", "missing.py:Stubborn"]) == 2
    assert capsys.readouterr().err.strip() == (f"error: --policy: policy 'missing.py:Stubborn': "
                                               f"{plugin_dir / 'missing.py'}: no such file")
