"""Profiles: reading and validating the CSV, batch curves (interpolation, bootstrap), derived device kinds, and
the profile-backed service-time model. Small hand-made profiles; no torch needed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulator.calibration import (
    ProfileCostModel,
    ProfileError,
    ProfileRow,
    derive_rows,
    load_profile,
    read_profile,
    resolve_profile,
    shipped_profiles,
    write_profile,
)

pytestmark = pytest.mark.unit

HEADER = "model,device_kind,dtype,batch_size,mean_s,weights_bytes,load_time_s,samples_s\n"


def write_csv(tmp_path: Path, body: str, header: str = HEADER, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + body)
    return path


@pytest.fixture
def profile_path(tmp_path: Path) -> Path:
    return write_csv(tmp_path, (
        "net,cpu,float32,1,0.010,1000,0.5,0.008 0.010 0.012\n"
        "net,cpu,float32,2,0.014,1000,0.5,0.012 0.014 0.016\n"
        "net,cpu,float32,4,0.020,1000,0.5,0.018 0.020 0.022\n"
        "net,gpu,float16,1,0.002,500,0.1,\n"
        "other,cpu,float32,1,0.100,,,\n"
    ))


def test_reads_rows_and_curves(profile_path: Path) -> None:
    profile = read_profile(profile_path)
    assert profile.models == ("net", "other")
    assert profile.device_kinds("net") == ("cpu",)
    assert profile.device_kinds("net", "float16") == ("gpu",)
    curve = profile.curve("net", "cpu")
    assert curve.batch_sizes == (1, 2, 4)
    assert curve.max_batch_size == 4
    assert curve.weights_bytes == 1000 and curve.load_time_s == 0.5
    assert math.isnan(profile.curve("other", "cpu").weights_bytes)


def test_mean_is_interpolated_linearly_between_measured_batch_sizes(profile_path: Path) -> None:
    curve = read_profile(profile_path).curve("net", "cpu")
    assert curve.mean_s(1) == pytest.approx(0.010)
    assert curve.mean_s(2) == pytest.approx(0.014)
    assert curve.mean_s(3) == pytest.approx(0.017)  # halfway between 0.014 and 0.020
    assert curve.mean_s(4) == pytest.approx(0.020)


def test_batch_size_outside_the_measured_range_is_a_clear_error(profile_path: Path) -> None:
    curve = read_profile(profile_path).curve("net", "cpu")
    with pytest.raises(ProfileError, match=r"p\.csv.*'net'.*'cpu'.*1, 2, 4.*batch size 5.*no extrapolation"):
        curve.mean_s(5)
    with pytest.raises(ProfileError):
        curve.draw(np.random.default_rng(0), 0, 3)


def test_draws_bootstrap_the_measured_samples(profile_path: Path) -> None:
    curve = read_profile(profile_path).curve("net", "cpu")
    draws = curve.draw(np.random.default_rng(1), 1, 3000)
    assert set(np.round(draws, 6)) == {0.008, 0.010, 0.012}
    assert draws.mean() == pytest.approx(0.010, rel=0.02)


def test_draws_between_batch_sizes_interpolate_quantiles(profile_path: Path) -> None:
    curve = read_profile(profile_path).curve("net", "cpu")
    draws = curve.draw(np.random.default_rng(2), 3, 3000)
    # the same quantile of batch 2 (0.012, 0.014, 0.016) and batch 4 (0.018, 0.020, 0.022), halfway
    assert set(np.round(draws, 6)) == {0.015, 0.017, 0.019}
    assert draws.mean() == pytest.approx(curve.mean_s(3), rel=0.02)


def test_a_row_without_samples_is_deterministic(profile_path: Path) -> None:
    curve = read_profile(profile_path).curve("net", "gpu", "float16")
    assert set(curve.draw(np.random.default_rng(0), 1, 10)) == {0.002}


def test_missing_model_or_kind_names_the_file_and_what_is_available(profile_path: Path) -> None:
    profile = read_profile(profile_path)
    with pytest.raises(ProfileError, match=r"p\.csv.*no model 'resnet'.*models in it: net, other"):
        profile.curve("resnet", "cpu")
    with pytest.raises(ProfileError, match=r"no rows for model 'net' on device kind 'tpu' in float32.*"
                                           r"cpu \(float32\), gpu \(float16\)"):
        profile.curve("net", "tpu")


@pytest.mark.parametrize(("body", "message"), [
    ("net,cpu,float32,2,0.01,,,\n", "no row for batch size 1"),
    ("net,cpu,float32,1,0.01,,,\nnet,cpu,float32,1,0.02,,,\n", "two rows for batch size 1"),
    ("net,cpu,float64,1,0.01,,,\n", "line 2: dtype must be one of float32, float16, bfloat16"),
    ("net,cpu,float32,0,0.01,,,\n", "line 2: batch_size must be a positive integer"),
    ("net,cpu,float32,1,-1,,,\n", "line 2: mean_s must be a finite number > 0"),
    ("net,cpu,float32,1,0.01,abc,,\n", "line 2: weights_bytes must be a number"),
    ("net,cpu,float32,1,0.01,,,0.1 x\n", "line 2: samples_s must be numbers"),
    (",cpu,float32,1,0.01,,,\n", "line 2: model is required"),
    ("", "profile has no rows"),
])
def test_invalid_profiles_are_reported_with_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as error:
        read_profile(write_csv(tmp_path, body))
    assert all(str(tmp_path / "p.csv") in problem for problem in error.value.problems)


def test_missing_and_unknown_columns(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="needs the columns mean_s"):
        read_profile(write_csv(tmp_path, "net,cpu,1\n", header="model,device_kind,batch_size\n"))
    with pytest.raises(ProfileError, match="unknown profile columns colour"):
        read_profile(write_csv(tmp_path, "net,cpu,1,0.1,red\n", header="model,device_kind,batch_size,mean_s,colour\n"))
    with pytest.raises(ProfileError, match="no such profile file"):
        read_profile(tmp_path / "absent.csv")


def test_write_then_read_round_trips_and_append_replaces_same_keys(tmp_path: Path) -> None:
    rows = [ProfileRow("net", "cpu", 1, 0.01, samples_s=(0.009, 0.011), n_reps=2, p99_s=0.011, device_name="x"),
            ProfileRow("net", "cpu", 2, 0.015)]
    path = write_profile(tmp_path / "out" / "p.csv", rows)
    back = read_profile(path)
    assert [r.key for r in back.rows] == [r.key for r in rows]
    assert back.rows[0].samples_s == (0.009, 0.011)
    assert back.rows[0].device_name == "x" and back.rows[0].p99_s == 0.011
    assert math.isnan(back.rows[1].p99_s)
    write_profile(path, [ProfileRow("net", "cpu", 2, 0.02), ProfileRow("net", "cpu", 4, 0.03)], append=True)
    merged = read_profile(path)
    assert [(r.batch_size, r.mean_s) for r in merged.rows] == [(1, 0.01), (2, 0.02), (4, 0.03)]


def test_load_profile_is_cached_until_the_file_changes(profile_path: Path) -> None:
    first = load_profile(profile_path)
    assert load_profile(profile_path) is first
    profile_path.write_text(HEADER + "net,cpu,float32,1,0.5,,,\n")
    import os

    os.utime(profile_path, ns=(1, 1))
    assert load_profile(profile_path).curve("net", "cpu").mean_s(1) == 0.5


def test_derived_rows_scale_latencies_and_say_how(profile_path: Path) -> None:
    rows = read_profile(profile_path).rows
    derived = derive_rows(rows, "cpu", "edge", 3.0, "assumed 3x slower")
    assert {(r.model, r.batch_size) for r in derived} == {("net", 1), ("net", 2), ("net", 4), ("other", 1)}
    first = next(r for r in derived if r.model == "net" and r.batch_size == 1)
    assert first.device_kind == "edge" and first.derived_from == "cpu" and first.rule == "assumed 3x slower"
    assert first.mean_s == pytest.approx(0.03)
    assert first.samples_s == pytest.approx((0.024, 0.030, 0.036))
    assert first.load_time_s == pytest.approx(1.5) and first.weights_bytes == 1000
    assert derive_rows(derived, "edge", "edge2", 2.0, "x") == []  # derived rows are not derived again


def test_resolve_profile_by_name_or_path(tmp_path: Path) -> None:
    assert resolve_profile("p.csv", tmp_path) == (tmp_path / "p.csv").resolve()
    with pytest.raises(ProfileError, match="unknown profile 'nope'; shipped profiles: .*cpu-2core"):
        resolve_profile("nope")
    assert resolve_profile("cpu-2core") == shipped_profiles()["cpu-2core"]


def test_shipped_cpu_profile_is_valid_and_complete() -> None:
    profile = read_profile(shipped_profiles()["cpu-2core"])
    for model in ("resnet50", "mobilenet-v2", "vit-b16", "yolos-tiny", "bert-base", "whisper-tiny",
                  "gpt2-prefill-128", "gpt2-decode-128"):
        curve = profile.curve(model, "cpu")
        assert curve.max_batch_size >= 2
        assert all(len(samples) >= 8 for samples in curve.sorted_samples)
        assert curve.weights_bytes > 0 and curve.load_time_s > 0
    measured = [row for row in profile.rows if not row.derived_from]
    assert all(row.torch_version and row.device_name and row.date and row.threads == "1" for row in measured)
    derived = [row for row in profile.rows if row.derived_from]
    assert derived and all(row.rule for row in derived)


# -- the service-time model ------------------------------------------------------------------------------


def test_profile_cost_model_means_and_errors(profile_path: Path) -> None:
    costs = ProfileCostModel(profile_path, names={"classifier": "net"})
    assert costs.mean_s("classifier", "cpu") == pytest.approx(0.010)
    assert costs.mean_s("classifier", "tpu") == math.inf
    assert costs.batch_mean_s("classifier", "cpu", 3) == pytest.approx(0.017)
    assert costs.max_batch_size("classifier", "cpu") == 4
    assert costs.footprint("classifier", "cpu") == (1000, 0.5)
    assert costs.footprint("other", "cpu") == (0.0, 0.0)
    with pytest.raises(ProfileError, match="no rows for model 'net' on device kind 'tpu'"):
        costs.sampler("classifier", "tpu", seed=1)


def test_profile_cost_model_samplers_are_reproducible_per_seed(profile_path: Path) -> None:
    costs = ProfileCostModel(profile_path)
    first = costs.sampler("net", "cpu", seed=5)
    again = costs.sampler("net", "cpu", seed=5)
    other = costs.sampler("net", "cpu", seed=6)
    a = [first() for _ in range(50)]
    assert a == [again() for _ in range(50)]
    assert a != [other() for _ in range(50)]
    assert set(np.round(a, 6)) <= {0.008, 0.010, 0.012}
    batch = costs.batch_sampler("net", "cpu", seed=5)
    assert {round(batch(4), 6) for _ in range(50)} <= {0.018, 0.020, 0.022}
    assert {round(batch(3), 6) for _ in range(50)} <= {0.015, 0.017, 0.019}
