"""The calibration commands and profile files never end in a traceback, never destroy data and never accept
nonsense: ``calibrate`` without torch, ``derive-profile`` arguments, results and outputs, and profiles with
impossible latencies or unreadable files. Every check works on copies in ``tmp_path``; the shipped profile is
never written."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from simulator.calibration import ProfileError, read_profile, write_profile
from simulator.calibration.profile import ProfileRow, shipped_profiles
from simulator.cli import main
from simulator.config import load_scenario
from simulator.errors import ScenarioError

pytestmark = pytest.mark.unit

HEADER = "model,device_kind,dtype,batch_size,mean_s,weights_bytes,load_time_s,samples_s\n"
MEASURED = (
    "net,cpu,float32,1,0.010,1000,0.5,0.008 0.010 0.012\n"
    "net,cpu,float32,2,0.014,1000,0.5,0.012 0.014 0.016\n"
    "net,gpu,float32,1,0.002,1000,0.1,0.002\n"
)


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A copy of the shipped CPU profile (41 measured cpu rows, 41 derived edge-cpu rows)."""
    copy = tmp_path / "cpu-2core.csv"
    shutil.copyfile(shipped_profiles()["cpu-2core"], copy)
    return copy


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- calibrate --------------------------------------------------------------------------------------------------


def test_calibrate_without_torch_prints_the_install_hint_alone_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without torch (hidden here even where it is installed), ``calibrate`` prints one ``error:`` line with the
    install hint and exits 2, before measuring anything: no ImportError traceback."""
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails, find_spec says "not installed"
    code, _, err = run_cli(capsys, "calibrate", "--models", "resnet50", "--out", str(tmp_path / "p.csv"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: calibration needs torch and transformers")
    assert "pip install '.[calibrate]'" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "p.csv").exists()


def test_calibrate_refuses_a_directory_as_out_before_measuring(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` naming a directory is a usage error (exit 2) found before torch is even looked for."""
    code, _, err = run_cli(capsys, "calibrate", "--models", "resnet50", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err and "Traceback" not in err


# -- derive-profile: arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", ["inf", "nan", "0", "-2", "1e400"])
def test_derive_refuses_a_factor_that_is_not_finite_and_positive(
        shipped_copy: Path, capsys: pytest.CaptureFixture[str], factor: str) -> None:
    """``--factor inf`` (or NaN, 0, negative) is refused with exit 2 and the profile is left byte for byte as it
    was (the old code wrote inf latencies in place, leaving a profile nothing could read)."""
    before = shipped_copy.read_bytes()
    code, _, err = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "slow",
                           "--factor", factor, "--rule", "test")
    assert code == 2
    assert "--factor must be a finite number > 0" in err
    assert shipped_copy.read_bytes() == before
    read_profile(shipped_copy)  # still readable


def test_derive_refuses_a_non_finite_load_factor(shipped_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--load-factor`` is checked as ``--factor`` is."""
    code, _, err = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "slow",
                           "--factor", "2", "--load-factor", "inf", "--rule", "test")
    assert code == 2 and "--load-factor must be a finite number > 0" in err


def test_derive_onto_the_measured_kind_in_place_is_refused(
        shipped_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--kind cpu --from-kind cpu`` written in place would silently replace the 41 measured cpu rows with
    derived ones: refused (exit 2), file unchanged."""
    before = shipped_copy.read_bytes()
    code, _, err = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "cpu",
                           "--factor", "2", "--rule", "test")
    assert code == 2 and "--kind must differ from --from-kind" in err
    assert shipped_copy.read_bytes() == before
    profile = read_profile(shipped_copy)
    assert sum(1 for row in profile.rows if row.device_kind == "cpu" and not row.derived_from) == 41


def test_derived_rows_never_replace_measured_rows_of_another_kind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deriving ``gpu`` from ``cpu`` where ``gpu`` was measured is refused, naming the measured rows."""
    path = tmp_path / "p.csv"
    path.write_text(HEADER + MEASURED)
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "derive-profile", str(path), "--from-kind", "cpu", "--kind", "gpu",
                           "--factor", "0.2", "--rule", "test")
    assert code == 2 and "refusing to replace 1 measured rows" in err and "net on gpu" in err
    assert path.read_bytes() == before


def test_derived_rows_may_replace_earlier_derived_rows(shipped_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deriving a kind again (a new factor) replaces its derived rows; the measured rows stay."""
    code, out, _ = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "edge-cpu",
                           "--factor", "3", "--rule", "test")
    assert code == 0 and "wrote 41 derived rows" in out
    profile = read_profile(shipped_copy)
    cpu = profile.curve("resnet50", "cpu").mean_s(1)
    assert profile.curve("resnet50", "edge-cpu").mean_s(1) == pytest.approx(3 * cpu, rel=1e-6)
    assert len(profile.rows) == 82


def test_a_derived_result_that_would_not_read_back_is_not_written(
        shipped_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A finite but absurd factor (1e300) gives latencies outside the sane range: the result is validated
    before writing, the error names the row, and the file is unchanged."""
    before = shipped_copy.read_bytes()
    code, _, err = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "slow",
                           "--factor", "1e300", "--rule", "test")
    assert code == 2 and "not written" in err and "mean_s must be a finite number > 0" in err
    assert "(row: model " in err
    assert shipped_copy.read_bytes() == before


# -- derive-profile: outputs ------------------------------------------------------------------------------------


def test_derive_out_to_a_directory_is_a_user_error(shipped_copy: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` naming an existing directory: exit 2 with a message, no traceback."""
    code, _, err = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "slow",
                           "--factor", "2", "--rule", "test", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err and "Traceback" not in err


def test_derive_out_below_a_file_is_a_user_error(shipped_copy: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` whose parent is a file (cannot be created): exit 2 naming the option."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "slow",
                           "--factor", "2", "--rule", "test", "--out", str(blocker / "p.csv"))
    assert code == 2 and err.startswith("error: --out ")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("target", ["/proc/allocsim-test.csv", "/proc/self/status"])
def test_derive_out_into_proc_is_a_user_error(shipped_copy: Path, capsys: pytest.CaptureFixture[str],
                                              target: str) -> None:
    """``--out`` into /proc (a virtual file system, or a file there that is no profile): exit 2 with a message."""
    code, _, err = run_cli(capsys, "derive-profile", str(shipped_copy), "--from-kind", "cpu", "--kind", "slow",
                           "--factor", "2", "--rule", "test", "--out", target)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


def test_written_profiles_keep_the_file_mode(tmp_path: Path) -> None:
    """The atomic write (a private temporary file renamed over the target) keeps the target's permissions."""
    path = tmp_path / "p.csv"
    path.write_text(HEADER + MEASURED)
    path.chmod(0o664)
    write_profile(path, [ProfileRow("other", "cpu", 1, 0.5)], append=True)
    assert path.stat().st_mode & 0o777 == 0o664
    assert read_profile(path).models == ("net", "other")


# -- reading profiles -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ("net,cpu,float32,1,inf,,,\n", "mean_s must be a finite number > 0"),
    ("net,cpu,float32,1,nan,,,\n", "mean_s must be a finite number > 0"),
    ("net,cpu,float32,1,-0.1,,,\n", "mean_s must be a finite number > 0"),
    ("net,cpu,float32,1,1e300,,,\n", "mean_s must be a finite number > 0 (in [1e-09, 1e+06] seconds)"),
    ("net,cpu,float32,1,0.1,,,0.1 inf\n", "samples_s must all be finite numbers in [1e-09, 1e+06] seconds"),
    ("net,cpu,float32,1,0.1,,1e300,\n", "load_time_s must be a finite number >= 0"),
    ("net,cpu,float32,1,0.1,1e300,,\n", "weights_bytes must be a finite number >= 0 (in [0, 1e+15] bytes)"),
])
def test_profiles_with_impossible_numbers_are_refused_naming_the_row(tmp_path: Path, body: str,
                                                                     message: str) -> None:
    """inf, NaN, negative or absurdly large latencies, load times and sizes are refused; the message names the
    file, the line and the row (model, device kind, batch size)."""
    path = tmp_path / "p.csv"
    path.write_text(HEADER + body)
    with pytest.raises(ProfileError) as error:
        read_profile(path)
    text = "\n".join(error.value.problems)
    assert message in text
    assert f"{path} line 2" in text and "(row: model net, device kind cpu, batch size 1)" in text


def test_a_scenario_with_a_bad_profile_names_the_scenario_field_and_the_row(tmp_path: Path) -> None:
    """A scenario whose profile has an inf latency fails validation naming models.NAME.profile and the row."""
    (tmp_path / "p.csv").write_text(HEADER + "net,cpu,float32,1,inf,,,\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text("""
[simulation]
max_jobs = 5
[nodes.server]
kind = "cpu"
[models.net]
profile = "p.csv"
[applications.app.stages.only]
model = "net"
[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 1.0
""")
    with pytest.raises(ScenarioError) as error:
        load_scenario(scenario)
    assert any("models.net.profile" in p and "mean_s" in p and "model net" in p for p in error.value.problems)


def test_unreadable_profiles_are_user_errors_naming_the_file(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A profile that is not UTF-8 or is a directory is a user error naming the file (exit 2 from the CLI)."""
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "n\xe9t,cpu,float32,1,0.1,,,\n").encode("latin-1"))
    with pytest.raises(ProfileError, match="not UTF-8 text"):
        read_profile(latin)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    code, _, err = run_cli(capsys, "profiles", str(folder))
    assert code == 2 and str(folder) in err and "directory" in err
