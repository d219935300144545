"""Model variants (`simulator.variants`): hand-computed choices under each rule, the accuracy a run reports,
properties that order the rules, every policy on a scenario with variants, a policy that chooses the variant itself,
runs without variants left as they were, and refusals of bad input."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import ScenarioError, parse_scenario, run
from simulator.cli import main
from simulator.policies import POLICIES, Policy, make_policy
from simulator.recorder import Recorder
from simulator.simulation import Simulation
from simulator.stepping import DecisionStepper
from simulator.variants import VariantDispatcher, VariantRecorder
from simulator.workload import new_job, new_task

RULES = ("deadline", "fastest", "most_accurate")


def one_stage(deadline_s: float | None = 2.0, rule: str = "deadline", jobs: int = 1) -> dict[str, Any]:
    """One node of kind cpu; a stage offering ``small`` (1 s, accuracy 0.3) and ``large`` (3 s, accuracy 0.45),
    deterministic; jobs arriving at 1 s, 2 s, ..."""
    application: dict[str, Any] = {"stages": {"detect": {"variants": [{"model": "small", "accuracy": 0.3},
                                                                      {"model": "large", "accuracy": 0.45}]}}}
    if deadline_s is not None:
        application["deadline_s"] = deadline_s
    return {"simulation": {"max_jobs": jobs, "seed": 3},
            "policy": {"name": "least_loaded", "variant": rule},
            "nodes": {"a": {"kind": "cpu"}},
            "models": {"small": {"distribution": "deterministic", "devices": {"cpu": 1.0}},
                       "large": {"distribution": "deterministic", "devices": {"cpu": 3.0}}},
            "applications": {"app": application},
            "arrivals": {"one": {"application": "app", "process": "deterministic", "rate_per_s": 1.0}}}


def mixed(rule: str = "deadline", jobs: int = 40, rate_per_s: float = 2.0, seed: int = 5) -> dict[str, Any]:
    """Three nodes of two kinds over a star, two stages with variants (one model running only on the gpu kind),
    a stage with one model between them, a deadline, lognormal times: every rule has real choices to make."""
    nodes = {"edge": {"kind": "cpu", "slots": 2}, "server": {"kind": "cpu", "speed": 2.0},
             "gpu": {"kind": "gpu", "slots": 2}}
    links = {f"{name}-hub": {"endpoints": [name, "hub"], "latency_s": 0.01, "bandwidth_bytes_per_s": 1e7}
             for name in nodes}
    models = {"tiny": {"distribution": "lognormal", "cv": 0.3, "devices": {"cpu": 0.2, "gpu": 0.05}},
              "base": {"distribution": "lognormal", "cv": 0.3, "devices": {"cpu": 0.6, "gpu": 0.08}},
              "huge": {"distribution": "lognormal", "cv": 0.3, "devices": {"gpu": 0.3}},
              "fuse": {"distribution": "deterministic", "devices": {"cpu": 0.05, "gpu": 0.02}}}
    stages = {"detect": {"variants": [{"model": "tiny", "accuracy": 0.3}, {"model": "base", "accuracy": 0.4},
                                      {"model": "huge", "accuracy": 0.5}], "output_bytes": 1e5},
              "fuse": {"model": "fuse", "after": ["detect"], "output_bytes": 1e4},
              "label": {"variants": [{"model": "tiny", "accuracy": 0.7}, {"model": "base", "accuracy": 0.9}],
                        "after": ["fuse"]}}
    return {"simulation": {"max_jobs": jobs, "seed": seed},
            "policy": {"name": "least_loaded", "variant": rule},
            "nodes": nodes, "models": models,
            "network": {"switches": ["hub"], "links": links},
            "applications": {"app": {"source": "edge", "deadline_s": 1.0, "input_bytes": 2e5, "stages": stages}},
            "arrivals": {"users": {"application": "app", "source": "edge", "rate_per_s": rate_per_s}}}


# -- hand-computed cases ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "deadline_s", "model", "accuracy", "response_s"), [
    ("fastest", 2.0, "small", 0.3, 1.0),
    ("most_accurate", 2.0, "large", 0.45, 3.0),
    ("deadline", 2.0, "small", 0.3, 1.0),    # large: expected completion 1 + 3 = 4 s > 1 + 2 = 3 s, so small
    ("deadline", 3.0, "large", 0.45, 3.0),   # large finishes at 4 s = 1 + 3 s: in time (the bound included)
    ("deadline", 2.9, "small", 0.3, 1.0),
    ("deadline", None, "large", 0.45, 3.0),  # no deadline: the most accurate
])
def test_one_job_gets_the_variant_its_rule_gives_with_exact_latency_and_accuracy(rule, deadline_s, model, accuracy,
                                                                                  response_s):
    """One job arriving at 1 s on an idle node: the chosen variant, its service time and the accuracy reported in
    the task table, the job table and the summary are exactly the stated ones."""
    result = run(parse_scenario(one_stage(deadline_s, rule)))
    task = result.tasks.iloc[0]
    assert (task["model"], task["accuracy"]) == (model, accuracy)
    assert (task["start_s"], task["finish_s"]) == (1.0, 1.0 + response_s)
    assert result.jobs["response_s"].tolist() == [response_s]
    assert result.jobs["accuracy"].tolist() == [accuracy]
    assert result.summary["accuracy_mean"] == accuracy


def test_the_deadline_rule_counts_the_queue_ahead_of_the_task():
    """Two jobs 1 s apart under deadline 3.5 s: the first gets large (1 + 3 = 4 <= 4.5 s); the second, arriving at
    2 s, would start at 4 s behind it, so large would end at 7 s > 5.5 s and small (5 s) is chosen."""
    result = run(parse_scenario(one_stage(3.5, "deadline", jobs=2)))
    assert result.tasks.sort_values("job_id")["model"].tolist() == ["large", "small"]
    assert result.tasks.sort_values("job_id")["finish_s"].tolist() == [4.0, 5.0]
    assert result.jobs["accuracy"].tolist() == [0.45, 0.3]
    assert result.summary["accuracy_mean"] == pytest.approx(0.375)


def test_a_jobs_accuracy_is_the_product_of_its_stages_variants():
    """Two stages with variants in a chain, the most accurate that runs on each task's node chosen: huge (0.5) on
    the gpu, base (0.4) on a cpu, then base (0.9), so 0.5 x 0.9 or 0.4 x 0.9; the stage with one model adds
    nothing, and its task row names its model with no accuracy."""
    result = run(parse_scenario(mixed("most_accurate", jobs=8)))
    detect = result.tasks[result.tasks["stage"] == "detect"].set_index("job_id").sort_index()
    expected = np.where(detect["node"] == "gpu", 0.5 * 0.9, 0.4 * 0.9)
    assert set(detect["node"]) >= {"gpu", "edge"}
    assert result.jobs["accuracy"].to_numpy() == pytest.approx(expected, rel=1e-15)
    fuse = result.tasks[result.tasks["stage"] == "fuse"]
    assert (fuse["model"] == "fuse").all() and fuse["accuracy"].isna().all()


def test_an_unfinished_job_reports_no_accuracy():
    raw = one_stage(None, "most_accurate", jobs=2)
    raw["simulation"]["horizon_s"] = 3.0  # job 0 runs 1..4 s: unfinished at 3 s; job 1 never placed before 3 s
    result = run(parse_scenario(raw))
    assert result.jobs["state"].tolist() == ["unfinished", "unfinished"]
    assert result.jobs["accuracy"].isna().all()
    assert math.isnan(result.summary["accuracy_mean"])
    assert result.summary["undefined_metrics"]["accuracy_mean"] == (
        "no job that arrived after simulation.warmup_s and ran a stage with model variants finished")


# -- properties -------------------------------------------------------------------------------------------------

def _choices_hold(result, rule: str) -> None:
    """Each placed task's variant is the one its rule allows on its node."""
    scenario = result.scenario
    stages = {stage.name: stage for stage in scenario.applications["app"].stages}
    kinds = {node.name: node.kind for node in scenario.nodes}
    placed = result.tasks[result.tasks["node_index"] >= 0]
    for _, task in placed.iterrows():
        stage = stages[task["stage"]]
        if not stage.variants:
            continue
        runnable = [variant for variant in stage.variants
                    if kinds[task["node"]] in scenario.models[variant.model].devices]
        chosen = next(variant for variant in runnable if variant.model == task["model"])
        assert task["accuracy"] == chosen.accuracy
        if rule == "most_accurate":
            assert chosen.accuracy == max(variant.accuracy for variant in runnable)
        if rule == "fastest":
            kind = kinds[task["node"]]
            fastest_s = min(scenario.models[variant.model].devices[kind].mean_s for variant in runnable)
            assert scenario.models[chosen.model].devices[kind].mean_s == fastest_s


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), rate=st.floats(0.5, 6.0), policy=st.sampled_from(["least_loaded", "random",
                                                                                     "min_completion_time"]))
def test_each_rule_chooses_within_its_bound_on_every_node(seed, rate, policy):
    """Whatever the load and policy: `most_accurate` gives each task the most accurate variant that runs on its
    node, `fastest` the one of least expected time there, and every job's accuracy lies between the products of
    the worst and the best variants."""
    for rule in RULES:
        result = run(parse_scenario(mixed(rule, jobs=25, rate_per_s=rate, seed=seed % 1000)), policy)
        _choices_hold(result, rule)
        accuracy = result.jobs["accuracy"].dropna()
        assert ((accuracy >= 0.3 * 0.7 - 1e-12) & (accuracy <= 0.5 * 0.9 + 1e-12)).all()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), jobs=st.integers(1, 30), rate=st.floats(0.2, 3.0),
       deadline_s=st.floats(0.5, 20.0))
def test_on_one_node_the_rules_order_accuracy_per_job(seed, jobs, rate, deadline_s):
    """One node and every job finishing: the same jobs are measured under each rule, and per task `deadline`
    picks a variant at least as accurate as `fastest` (if any variant is in time, the fastest is) and at most
    as accurate as `most_accurate`; so the mean accuracy is ordered the same way."""
    means = {}
    for rule in RULES:
        raw = one_stage(deadline_s, rule, jobs=jobs)
        raw["simulation"]["seed"] = seed
        raw["arrivals"]["one"] = {"application": "app", "process": "poisson", "rate_per_s": rate}
        result = run(parse_scenario(raw))
        assert (result.jobs["state"] == "finished").all()
        means[rule] = result.summary["accuracy_mean"]
    assert means["fastest"] == pytest.approx(0.3) and means["most_accurate"] == pytest.approx(0.45)
    assert means["fastest"] - 1e-12 <= means["deadline"] <= means["most_accurate"] + 1e-12


# -- every policy, a policy's own choice, the plain path -----------------------------------------------------

USABLE = sorted(name for name, cls in POLICIES.items() if not cls.required_params())


@pytest.mark.parametrize("name", USABLE)
def test_every_policy_runs_on_a_scenario_with_variants(name):
    """Each policy usable by name alone, in each of its modes, under the default rule: every job finishes and
    every placed task of a stage with variants names one of them."""
    for mode in POLICIES[name].modes:
        raw = mixed(jobs=8)
        raw["policy"] = {"name": name, "mode": mode, "batch_interval_s": 0.5}
        result = run(parse_scenario(raw))
        assert (result.jobs["state"] == "finished").all(), (name, mode)
        varied = result.tasks[result.tasks["stage"].isin(["detect", "label"])]
        assert varied["model"].isin(["tiny", "base", "huge"]).all() and varied["accuracy"].notna().all()


class ChoosesLast(Policy):
    """Places on the lowest eligible node and runs the last variant that runs there (a user's own choice)."""

    def assign(self, task):
        return self.view_.eligible_nodes(task)[0]

    def choose_variant(self, task, node):
        runnable = [index for index in range(len(self.view_.variants(task)))
                    if math.isfinite(self.view_.variant_exec_estimate_s(task, index, node))]
        return runnable[-1]


class ChoosesNonsense(ChoosesLast):
    def choose_variant(self, task, node):
        return 7


def test_a_policy_may_choose_the_variant_itself():
    """The hook overrides the rule (here `fastest`): on edge (cpu) the last variant that runs is base."""
    scenario = parse_scenario(mixed("fastest", jobs=6))
    result = Simulation(scenario, ChoosesLast(), seed=1).run()
    detect = result.tasks[result.tasks["stage"] == "detect"]
    assert (detect["node"] == "edge").all() and (detect["model"] == "base").all()
    assert (detect["accuracy"] == 0.4).all()


def test_a_tasks_model_is_its_variants_once_placed():
    stepper = DecisionStepper(parse_scenario(mixed("most_accurate", jobs=1)), seed=1)
    decision = stepper.next_decision()
    task = decision.task
    assert task.model == "tiny"  # the first variant's before it is placed
    assert decision.available_nodes == (0, 1, 2)
    stepper.decide(2)  # the gpu node, where huge is the most accurate
    assert task.model == "huge"


def test_a_variant_the_node_cannot_run_is_a_policy_error():
    with pytest.raises(RuntimeError, match=r"chose variant 7 for stage 'detect'.*the variants that run there are"):
        Simulation(parse_scenario(mixed(jobs=2)), ChoosesNonsense(), seed=1).run()


def test_the_view_lists_variants_and_their_estimates():
    simulation = Simulation(parse_scenario(mixed(jobs=1)), make_policy("round_robin"), seed=1)
    view = simulation.dispatcher.view
    application = simulation.applications[0]
    task = new_task(new_job(0, application, 0.0, -1, -1), application.stages[0], 0.0)
    assert [(v.model, v.accuracy) for v in view.variants(task)] == [("tiny", 0.3), ("base", 0.4), ("huge", 0.5)]
    # edge: cpu at speed 1; gpu node: huge runs only there
    assert view.variant_exec_estimate_s(task, 1, 0) == pytest.approx(0.6)
    assert view.variant_exec_estimate_s(task, 2, 0) == math.inf
    assert view.variant_exec_estimate_s(task, 2, 2) == pytest.approx(0.3)


def test_a_run_without_variants_builds_the_plain_dispatcher_and_recorder():
    raw = one_stage()
    raw["applications"]["app"]["stages"]["detect"] = {"model": "small"}
    simulation = Simulation(parse_scenario(raw), make_policy("least_loaded"), seed=1)
    assert not isinstance(simulation.dispatcher, VariantDispatcher) and type(simulation.recorder) is Recorder
    result = simulation.run()
    assert "model" not in result.tasks and "accuracy" not in result.jobs and "accuracy_mean" not in result.summary
    assert isinstance(Simulation(parse_scenario(one_stage()), make_policy("least_loaded"), seed=1).recorder,
                      VariantRecorder)


@pytest.mark.parametrize("policy", ["least_loaded", "min_completion_time", "random"])
def test_fastest_variants_give_the_run_of_the_fastest_model_alone(policy):
    """Where one variant is the fastest on every node, `fastest` runs exactly the scenario whose stage names
    that model alone: the same times in every table (the variant machinery changes no draw)."""
    with_variants = mixed("fastest", jobs=30)
    alone = copy.deepcopy(with_variants)
    for name in ("detect", "label"):
        stage = alone["applications"]["app"]["stages"][name]
        del stage["variants"]
        stage["model"] = "tiny"
    first = run(parse_scenario(with_variants), policy)
    second = run(parse_scenario(alone), policy)
    times = ["job_id", "stage", "node", "dispatch_s", "ready_s", "start_s", "finish_s"]
    assert first.tasks[times].equals(second.tasks[times])
    assert first.jobs["response_s"].equals(second.jobs["response_s"])


def test_a_stepped_run_with_variants_gives_the_plain_runs_tables():
    scenario = parse_scenario(mixed(jobs=10))
    stepper = DecisionStepper(scenario, seed=2)
    stepper.run_policy(make_policy("least_loaded"))
    stepped = stepper.result()
    plain = Simulation(scenario, make_policy("least_loaded"), seed=2).run()
    assert stepped.tasks.equals(plain.tasks)
    assert stepped.jobs.equals(plain.jobs)


def test_validate_prints_the_variants_and_run_prints_the_accuracy(tmp_path, capsys):
    path = tmp_path / "variants.toml"
    path.write_text(TOML, encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    assert "; model variants by rule deadline: app.detect (small 0.3, large 0.45)" in capsys.readouterr().out
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy_mean" in out


TOML = """
[simulation]
max_jobs = 3
[nodes.a]
kind = "cpu"
[models.small]
distribution = "deterministic"
devices = { cpu = 1.0 }
[models.large]
distribution = "deterministic"
devices = { cpu = 3.0 }
[applications.app]
deadline_s = 2.0
[applications.app.stages.detect]
variants = [{ model = "small", accuracy = 0.3 }, { model = "large", accuracy = 0.45 }]
[arrivals.one]
application = "app"
process = "deterministic"
rate_per_s = 1.0
"""


# -- refusals ---------------------------------------------------------------------------------------------------

def _stage(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["applications"]["app"]["stages"]["detect"]


PATH = "s.toml: applications.app.stages.detect"
REFUSALS = [
    (lambda r: _stage(r)["variants"][0].update(accuracy=1.5),
     f"{PATH}.variants[0].accuracy must be a number in [0, 1], got 1.5"),
    (lambda r: _stage(r)["variants"][0].update(accuracy=-0.1),
     f"{PATH}.variants[0].accuracy must be a number in [0, 1], got -0.1"),
    (lambda r: _stage(r)["variants"][0].update(accuracy=math.nan),
     f"{PATH}.variants[0].accuracy must be a number in [0, 1], got nan"),
    (lambda r: _stage(r)["variants"][0].update(accuracy="high"),
     f"{PATH}.variants[0].accuracy must be a number, got 'high' (str)"),
    (lambda r: _stage(r)["variants"][0].pop("accuracy"), f"{PATH}.variants[0].accuracy is required"),
    (lambda r: _stage(r)["variants"][0].pop("model"), f"{PATH}.variants[0].model is required"),
    (lambda r: _stage(r)["variants"][0].update(speed=2), f"{PATH}.variants[0].speed is not a known field; allowed "
     "here: model, accuracy"),
    (lambda r: _stage(r).update(model="small"), f"{PATH} sets both model and variants"),
    (lambda r: _stage(r).pop("variants"), f"{PATH}.model is required (or variants = "),
    (lambda r: _stage(r).update(variants=[]), f"{PATH}.variants must list 2 to 16 variants (a stage with one model "
     "sets model), got 0"),
    (lambda r: _stage(r)["variants"].pop(), f"{PATH}.variants must list 2 to 16 variants"),
    (lambda r: _stage(r).update(variants=[{"model": "small", "accuracy": 0.1}] * 17),
     f"{PATH}.variants must list 2 to 16 variants (a stage with one model sets model), got 17"),
    (lambda r: _stage(r).update(variants="small"), f"{PATH}.variants must be an array of tables"),
    (lambda r: _stage(r).update(variants=[1, 2]), f"{PATH}.variants[0] must be a table, got 1 (int)"),
    (lambda r: _stage(r)["variants"][1].update(model="small"),
     f"{PATH}.variants[1].model repeats model 'small': the variants of a stage must be distinct models"),
    (lambda r: _stage(r)["variants"][1].update(model="huge"),
     f"{PATH}.variants[1].model unknown model 'huge'; models in [models]: small, large"),
    (lambda r: r["policy"].update(variant="best"),
     "s.toml: policy.variant must be one of 'deadline', 'fastest', 'most_accurate', got 'best'"),
    (lambda r: r["policy"].update(variant=1),
     "s.toml: policy.variant must be one of 'deadline', 'fastest', 'most_accurate', got 1"),
    (lambda r: r["policy"].update(clairvoyant=True),
     "s.toml: policy.clairvoyant is true, but stage 'detect' of application 'app' has model variants"),
    (lambda r: r["nodes"]["a"].update(memory_bytes=1e9) or r["models"]["small"]["devices"].update(
        cpu={"mean_s": 1.0, "memory_bytes": 1e8}),
     f"{PATH}.variants are not supported on model servers, but node group 'a' may run the stage"),
    (lambda r: r["nodes"]["a"].update(kind="gpu"),
     f"{PATH} can run on no node: none of its variants' models ('small', 'large') has a cost on the nodes' kinds "
     "('gpu')"),
]


@pytest.mark.parametrize(("mutate", "message"), REFUSALS)
def test_bad_variants_are_refused_naming_file_and_field(mutate, message):
    raw = one_stage()
    mutate(raw)
    with pytest.raises(ScenarioError) as error:
        parse_scenario(raw, source="s.toml")
    assert any(problem.startswith(message) for problem in error.value.problems), error.value.problems


def test_cli_refuses_bad_variants_with_status_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace("accuracy = 0.45", "accuracy = 45"), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert (f"{path}: applications.app.stages.detect.variants[1].accuracy must be a number in [0, 1], got 45"
            in capsys.readouterr().err)
    assert main(["run", str(path), "--set", "policy.variant=slowest"]) == 2
    assert "policy.variant must be one of 'deadline', 'fastest', 'most_accurate'" in capsys.readouterr().err


@pytest.mark.parametrize(("rule", "accuracy"), [("fastest", 0.3), ("most_accurate", 0.45)])
def test_the_rl_environment_places_nodes_and_the_variant_rule_picks_the_variant(rule, accuracy):
    """An agent chooses nodes only, as every built-in policy does: in an episode of the RL environment the
    scenario's variant rule picks each task's variant, so the run reports that variant's stated accuracy."""
    pytest.importorskip("gymnasium")
    from simulator.rl.env import AllocationEnv

    raw = one_stage(deadline_s=None, rule=rule, jobs=3)
    raw["nodes"]["b"] = {"kind": "cpu"}  # two nodes: a decision for the agent
    env = AllocationEnv(parse_scenario(raw, source="s.toml"), seed=1)
    env.reset(seed=1)
    terminated = truncated = False
    decisions = 0
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step(decisions % 2)  # the two nodes in turn
        decisions += 1
    assert info["summary"]["jobs_completed"] == 3
    assert info["summary"]["accuracy_mean"] == pytest.approx(accuracy)


# -- sweeps and the case study ----------------------------------------------------------------------------------

SWEPT = """
[experiment]
name = "variants"
scenario = "scenario.toml"
replications = 2
seed = 7

[[policies]]
name = "least_loaded"
label = "fastest"
variant = "fastest"

[[policies]]
name = "least_loaded"
label = "most_accurate"
variant = "most_accurate"
"""


def test_a_sweep_over_the_rule_reports_accuracy_and_draws_the_trade_off(tmp_path, capsys):
    """[[policies]] entries set the rule (`variant`); the store gains an accuracy_mean column, the report shows
    it, and `figures` draws accuracy against response time: with one node and no deadline, fastest delivers 0.3
    and most_accurate 0.45 in every run."""
    from matplotlib.figure import Figure
    from runner_support import write_experiment

    from simulator.runner import load_results, run_sweep, summarize
    from simulator.runner.figures import draw_standard_figures, plot_accuracy_vs_latency

    scenario = TOML.replace("deadline_s = 2.0\n", "").replace("max_jobs = 3", "max_jobs = 20")
    experiment = write_experiment(tmp_path, SWEPT, scenario, name="variants.toml")
    run_sweep(experiment, out=tmp_path / "results", progress=False)
    results = load_results(tmp_path / "results")
    summary = summarize(results)
    by_rule = summary.set_index("policy")
    assert by_rule.loc["fastest", "accuracy_mean_mean"] == pytest.approx(0.3)
    assert by_rule.loc["most_accurate", "accuracy_mean_mean"] == pytest.approx(0.45)
    assert by_rule.loc["most_accurate", "response_time_mean_s_mean"] > by_rule.loc["fastest",
                                                                                   "response_time_mean_s_mean"]
    assert main(["report", str(tmp_path / "results")]) == 0
    assert "accuracy_mean" in capsys.readouterr().out
    ax = plot_accuracy_vs_latency(results, summary, ax=Figure().subplots())
    assert len(ax.containers) == 2 and ax.get_ylabel() == "mean accuracy (stated)"  # an error bar per policy
    points = sorted((bars.lines[0].get_xdata()[0], bars.lines[0].get_ydata()[0]) for bars in ax.containers)
    assert [accuracy for _, accuracy in points] == pytest.approx([0.3, 0.45])
    written = draw_standard_figures(tmp_path / "results", out=tmp_path / "figures")
    assert tmp_path / "figures" / "accuracy_vs_latency.png" in written


def test_the_driving_case_chooses_resnet50_only_where_it_meets_the_frame_deadline():
    """The case's claim (scenarios/cases/README.md): under its deadline rule, min_completion_time runs ResNet-50
    for some frames, all on the cloud GPUs (the only nodes where it is expected within 100 ms), MobileNetV2 for
    the others, so the mean accuracy lies strictly between the two stated accuracies; `fastest` never runs it."""
    from simulator import load_scenario

    result = run(load_scenario("cases/autonomous_driving"))
    perception = result.tasks[(result.tasks["stage"] == "perception") & (result.tasks["state"] == "finished")]
    large = perception[perception["model"] == "resnet50"]
    assert 0 < len(large) < len(perception)
    assert large["node"].astype(str).str.startswith("cloud-").all()
    assert 0.720 < result.summary["accuracy_mean"] < 0.761
    fastest = run(load_scenario("cases/autonomous_driving", {"policy.variant": "fastest",
                                                             "simulation.horizon_s": 20.0}))
    assert (fastest.tasks["model"] != "resnet50").all()
    assert fastest.summary["accuracy_mean"] == pytest.approx(0.720)


def test_a_bad_rule_in_an_experiments_policies_is_refused_with_status_2(tmp_path, capsys):
    from runner_support import write_experiment

    experiment = write_experiment(tmp_path, SWEPT.replace('variant = "fastest"', 'variant = "quickest"'), TOML,
                                  name="variants.toml")
    assert main(["sweep", str(experiment), "--dry-run"]) == 2
    assert ("policies[0].variant must be one of 'deadline', 'fastest', 'most_accurate', got 'quickest'"
            in capsys.readouterr().err)
