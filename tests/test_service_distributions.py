"""Hand-given service-time families of the cost table: pareto and weibull by mean and shape, samples by their
list; how they are drawn (the families that existed before draw exactly as before), read from a file, refused."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import MINIMAL
from test_config import schema_errors

from simulator.cli import main
from simulator.config import ServiceSpec, parse_scenario
from simulator.config.json_schema import scenario_json_schema
from simulator.costs import service_duration, service_sampler
from simulator.errors import ScenarioError

pytestmark = pytest.mark.unit

DEVICE = "[models.m.devices.cpu]\nmean_s = 0.5"


def with_cost(cost: str, model: str = "") -> str:
    """MINIMAL with model m's cost on cpu replaced by ``cost`` (and the model-wide fields ``model``)."""
    header = f"[models.m]\n{model}\n" if model else ""
    return MINIMAL.replace(DEVICE, f"{header}[models.m.devices.cpu]\n{cost}")


def cpu_cost(text: str) -> ServiceSpec:
    return parse_scenario(tomllib.loads(text), source="s.toml").models["m"].devices["cpu"]


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(tomllib.loads(text), source="s.toml")
    return caught.value.problems


@pytest.mark.parametrize(("spec", "expected"), [
    (ServiceSpec(mean_s=2.0, distribution="exponential"), lambda rng: rng.exponential(2.0, 4)),
    (ServiceSpec(mean_s=2.0, distribution="gamma", cv=0.5), lambda rng: rng.gamma(4.0, 0.5, 4)),
    (ServiceSpec(mean_s=2.0, distribution="lognormal", cv=0.5),
     lambda rng: rng.lognormal(math.log(2.0) - math.log1p(0.25) / 2, math.sqrt(math.log1p(0.25)), 4)),
    (ServiceSpec(mean_s=3.0, distribution="pareto", shape=1.5), lambda rng: 1.0 * (1.0 + rng.pareto(1.5, 4))),
    (ServiceSpec(mean_s=2.0, distribution="weibull", shape=1.0), lambda rng: 2.0 * rng.weibull(1.0, 4)),
    (ServiceSpec(mean_s=2.0, distribution="samples", samples_s=(1.0, 3.0)),
     lambda rng: rng.choice(np.array([1.0, 3.0]), 4)),
])
def test_each_family_draws_its_numpy_form(spec: ServiceSpec, expected) -> None:
    """The families that existed draw with the same numpy calls as before (runs unchanged bit for bit); pareto
    is the classical Pareto, scale x (1 + Lomax) with scale = mean (shape - 1) / shape; weibull's scale is
    mean / Gamma(1 + 1/shape) (1 x mean at shape 1)."""
    draw = service_sampler(spec, np.random.default_rng(5))
    drawn = [draw() for _ in range(4)]
    assert drawn == pytest.approx(expected(np.random.default_rng(5))[:4], rel=1e-12)


def test_parameters_of_pareto_and_weibull_follow_from_mean_and_shape() -> None:
    pareto = service_duration(ServiceSpec(mean_s=300.0, distribution="pareto", shape=1.5))
    assert pareto.scale_s == pytest.approx(100.0)
    weibull = service_duration(ServiceSpec(mean_s=1.0, distribution="weibull", shape=0.5))
    assert weibull.scale_s == pytest.approx(0.5)


def test_a_file_gives_pareto_weibull_and_samples_with_their_cv() -> None:
    pareto = cpu_cost(with_cost("mean_s = 300.0", 'distribution = "pareto"\nshape = 1.5'))
    assert (pareto.distribution, pareto.mean_s, pareto.shape, pareto.cv) == ("pareto", 300.0, 1.5, math.inf)
    assert cpu_cost(with_cost('mean_s = 1.0\ndistribution = "pareto"\nshape = 3.0')).cv == pytest.approx(3**-0.5)
    weibull = cpu_cost(with_cost('mean_s = 1.0\ndistribution = "weibull"\nshape = 0.5'))
    assert weibull.cv == pytest.approx(math.sqrt(5.0))
    overridden = cpu_cost(with_cost('mean_s = 1.0\nshape = 2.0', 'distribution = "weibull"\nshape = 0.5'))
    assert overridden.shape == 2.0
    samples = cpu_cost(with_cost('distribution = "samples"\nsamples_s = [1.0, 2.0, 6.0]'))
    assert (samples.mean_s, samples.samples_s) == (3.0, (1.0, 2.0, 6.0))
    assert samples.cv == pytest.approx(np.std([1.0, 2.0, 6.0]) / 3.0)


@pytest.mark.parametrize(("cost", "model", "expected"), [
    ('mean_s = 1.0\ndistribution = "pareto"\nshape = 1.0', "",
     "s.toml: models.m.devices.cpu.shape must be above 1 for a pareto distribution, got 1.0: at shape <= 1 the "
     "mean service time is infinite (1.5 is a common heavy tail)"),
    ('mean_s = 1.0\ndistribution = "pareto"', "",
     "s.toml: models.m.devices.cpu.shape must be given for a pareto distribution (here or as models.m.shape), "
     "e.g. shape = 1.5"),
    ("mean_s = 1.0\nshape = 2.0", "",
     "s.toml: models.m.devices.cpu.shape is the parameter of the pareto and weibull distributions; this cost's "
     "distribution is 'exponential'"),
    ("mean_s = 1.0", 'distribution = "lognormal"\nshape = 2.0',
     "s.toml: models.m.shape is the parameter of the pareto and weibull distributions; this model's "
     "distribution is 'lognormal'"),
    ('mean_s = 1.0\ndistribution = "weibull"\nshape = 2.0\ncv = 0.5', "",
     "s.toml: models.m.devices.cpu.cv a weibull distribution's cv follows from its shape; remove cv"),
    ("mean_s = 1.0", 'distribution = "pareto"\nshape = 2.0\ncv = 0.5',
     "s.toml: models.m.cv a pareto distribution's cv follows from its shape; remove cv"),
    ('mean_s = 1.0\ndistribution = "samples"\nsamples_s = [1.0]', "",
     "s.toml: models.m.devices.cpu.mean_s a \"samples\" distribution's mean is the mean of its samples_s; remove "
     "mean_s (to reach another mean, scale the samples)"),
    ("memory_bytes = 1.0", 'distribution = "samples"',
     "s.toml: models.m.devices.cpu.samples_s must list service times in seconds for distribution = \"samples\" "
     "(models.m.distribution), e.g. samples_s = [0.04, 0.05, 0.09]"),
    ('mean_s = 1.0\ndistribution = "gamma"\nsamples_s = [1.0]', "",
     "s.toml: models.m.devices.cpu.samples_s is the parameter of distribution = \"samples\"; this cost's "
     "distribution is 'gamma' (models.m.devices.cpu.distribution)"),
    ('distribution = "gamma"\ncv = 0.5', "",
     "s.toml: models.m.devices.cpu.mean_s must be given: the mean service time in seconds (or give "
     "distribution = \"samples\" with samples_s)"),
    ('distribution = "samples"\nsamples_s = [1.0]\ncv = 0.5', "",
     "s.toml: models.m.devices.cpu.cv a samples distribution's cv follows from its samples_s; remove cv"),
])
def test_a_field_the_family_does_not_take_or_needs_is_named(cost: str, model: str, expected: str) -> None:
    assert problems(with_cost(cost, model)) == [expected]


@pytest.mark.parametrize(("cost", "field", "allowed"), [
    ('mean_s = 1.0\ndistribution = "weibull"\nshape = 0.01', "shape", "must be a number in [0.05, 100]"),
    ('mean_s = 1.0\ndistribution = "pareto"\nshape = 101.0', "shape", "must be a number in [0.05, 100]"),
    ('mean_s = 1.0\ndistribution = "pareto"\nshape = inf', "shape", "must be a number in [0.05, 100]"),
    ('distribution = "samples"\nsamples_s = []', "samples_s", "must be a list of 1 to 100000 numbers"),
    ('distribution = "samples"\nsamples_s = [1.0, -2.0]', "samples_s", "[1] must be a number in [1e-09, 1e+06]"),
    ('distribution = "samples"\nsamples_s = [nan]', "samples_s", "[0] must be a number in [1e-09, 1e+06]"),
    ('distribution = "samples"\nsamples_s = 1.0', "samples_s", "must be a list of 1 to 100000 numbers"),
    ('mean_s = 1.0\ndistribution = "zipf"', "distribution", "must be one of"),
])
def test_values_out_of_range_are_refused_with_what_is_allowed(cost: str, field: str, allowed: str) -> None:
    (problem,) = problems(with_cost(cost))
    assert problem.startswith(f"s.toml: models.m.devices.cpu.{field} {allowed}"), problem


def test_the_command_line_refuses_a_pareto_without_a_mean_with_exit_status_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "heavy.toml"
    path.write_text(with_cost('mean_s = 1.0\ndistribution = "pareto"\nshape = 0.9'))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{path}: models.m.devices.cpu.shape must be above 1 for a pareto distribution" in err


def test_the_json_schema_describes_shape_and_samples() -> None:
    schema = scenario_json_schema()
    for cost, valid in [({"mean_s": 1.0, "distribution": "pareto", "shape": 1.5}, True),
                        ({"distribution": "samples", "samples_s": [0.1, 0.2]}, True),
                        ({"mean_s": 1.0, "distribution": "pareto", "shape": 0.0}, False),
                        ({"distribution": "samples", "samples_s": []}, False)]:
        raw = tomllib.loads(MINIMAL)
        raw["models"]["m"]["devices"]["cpu"] = cost
        assert (schema_errors(raw, schema, schema) == []) == valid, cost


def test_a_run_with_samples_draws_only_the_samples() -> None:
    from simulator import run
    text = with_cost('distribution = "samples"\nsamples_s = [0.25, 0.5]').replace("max_jobs = 50", "max_jobs = 200")
    result = run(parse_scenario(tomllib.loads(text), source="s.toml"))
    assert set(result.tasks["service_s"].round(12)) == {0.25, 0.5}
