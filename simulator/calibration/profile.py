"""Calibrated profiles: the CSV format, loading and validation, and a model's latency curve over batch sizes.

A profile is a tidy CSV with one row per (model, device kind, dtype, batch size). The columns:

=========================  ==========================================================================================
``model``                  the model's name (``resnet50``, ``gpt2-decode-128``, ...)
``device_kind``            the device kind a scenario's nodes name (``kind = "cpu"``)
``dtype``                  ``float32``, ``float16`` or ``bfloat16``
``batch_size``             items per call
``n_reps``                 timed repetitions
``mean_s`` .. ``max_s``    ``mean_s``, ``std_s``, ``min_s``, ``p50_s``, ``p90_s``, ``p95_s``, ``p99_s``, ``max_s``
``peak_memory_bytes``      peak device memory of one call (weights included)
``weights_bytes``          parameters and buffers: what must be resident to serve the model
``input_bytes``            bytes of the input tensors of the whole batch
``output_bytes``           bytes of the tensors returned for the whole batch
``load_time_s``            time to load the weights onto the device (from the page cache)
``h2d_bytes_per_s``        host-to-device copy bandwidth (empty on a CPU)
``device``                 ``cpu`` or ``cuda``: what torch ran on
``device_name``, ``driver``, ``threads``, ``torch_version``, ``transformers_version``, ``date``: provenance
``timing``                 how each call was timed: back to back, or after a pause and/or with flushed caches
``derived_from``, ``rule`` empty for a measured row; for a derived device kind, the kind it was derived from and how
``samples_s``              the raw per-repetition latencies, space-separated (the simulator bootstraps from them)
=========================  ==========================================================================================

Only ``model``, ``device_kind``, ``batch_size`` and ``mean_s`` are required; ``dtype`` defaults to
``float32``. A row without ``samples_s`` has a deterministic latency (its mean). Between measured batch sizes a
latency distribution is interpolated linearly, quantile by quantile (so the mean is interpolated linearly
too); beyond the largest measured batch size there is no extrapolation.

Sane ranges, so that a simulation's sums and ratios stay finite: latencies (``mean_s`` and the samples) in
[1e-9, 1e6] seconds, every other time in [0, 1e6] seconds, byte counts and bandwidths in [0, 1e15]. A row
outside them is refused, naming the file, the line and the row's model, device kind and batch size.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from simulator.errors import UserInputError
from simulator.user_files import read_user_text, write_atomically

__all__ = [
    "COLUMNS",
    "DTYPES",
    "BatchCurve",
    "Profile",
    "ProfileError",
    "ProfileRow",
    "derive_rows",
    "load_profile",
    "parse_profile",
    "read_profile",
    "resolve_profile",
    "shipped_profiles",
    "write_profile",
]

DTYPES = ("float32", "float16", "bfloat16")
STAT_COLUMNS = ("mean_s", "std_s", "min_s", "p50_s", "p90_s", "p95_s", "p99_s", "max_s")
NUMBER_COLUMNS = ("peak_memory_bytes", "weights_bytes", "input_bytes", "output_bytes", "load_time_s",
                  "h2d_bytes_per_s")
TEXT_COLUMNS = ("device", "device_name", "driver", "threads", "torch_version", "transformers_version", "date",
                "timing", "derived_from", "rule")
COLUMNS = ("model", "device_kind", "dtype", "batch_size", "n_reps", *STAT_COLUMNS, *NUMBER_COLUMNS,
           *TEXT_COLUMNS, "samples_s")
REQUIRED_COLUMNS = ("model", "device_kind", "batch_size", "mean_s")
LATENCY_RANGE_S = (1e-9, 1e6)
"""Sane range of a latency (``mean_s`` and every sample), seconds."""
TIME_MAX_S = 1e6
"""Largest time of any other time column (statistics, ``load_time_s``), seconds."""
BYTES_MAX = 1e15
"""Largest byte count or bandwidth (bytes, bytes/s)."""


class ProfileError(UserInputError):
    """A profile that cannot be read, or a question it cannot answer; the message names the file."""


@dataclass(frozen=True)
class ProfileRow:
    """One measured (or derived) point: a model on a device kind in a dtype at one batch size.

    Times are seconds, memory and tensor sizes bytes, bandwidth bytes/s; NaN where unknown.
    """

    model: str
    device_kind: str
    batch_size: int
    mean_s: float
    dtype: str = "float32"
    samples_s: tuple[float, ...] = ()
    n_reps: int = 0
    std_s: float = math.nan
    min_s: float = math.nan
    p50_s: float = math.nan
    p90_s: float = math.nan
    p95_s: float = math.nan
    p99_s: float = math.nan
    max_s: float = math.nan
    peak_memory_bytes: float = math.nan
    weights_bytes: float = math.nan
    input_bytes: float = math.nan
    output_bytes: float = math.nan
    load_time_s: float = math.nan
    h2d_bytes_per_s: float = math.nan
    device: str = ""
    device_name: str = ""
    driver: str = ""
    threads: str = ""
    torch_version: str = ""
    transformers_version: str = ""
    date: str = ""
    timing: str = ""
    derived_from: str = ""
    rule: str = ""

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.model, self.device_kind, self.dtype, self.batch_size)

    def as_csv(self) -> dict[str, str]:
        """The row as CSV fields (numbers with enough digits to round-trip a microsecond)."""
        out: dict[str, str] = {}
        for column in COLUMNS:
            value = getattr(self, column)
            if column == "samples_s":
                out[column] = " ".join(f"{v:.6g}" for v in value)
            elif isinstance(value, float):
                out[column] = "" if math.isnan(value) else f"{value:.9g}"
            else:
                out[column] = str(value)
        return out


def _describe_choices(values: Iterable[object]) -> str:
    listed = sorted({str(v) for v in values})
    return ", ".join(listed) if listed else "(none)"


@dataclass(frozen=True)
class BatchCurve:
    """A model's latency on one device kind in one dtype, as a function of the batch size.

    ``batch_sizes`` are the measured sizes (ascending, starting at 1); ``sorted_samples[i]`` the sorted
    latencies at ``batch_sizes[i]`` (one value, the mean, where no samples were stored).
    """

    source: str
    model: str
    device_kind: str
    dtype: str
    batch_sizes: tuple[int, ...]
    means_s: tuple[float, ...]
    sorted_samples: tuple[np.ndarray, ...] = field(repr=False)
    weights_bytes: float = math.nan
    load_time_s: float = math.nan

    @property
    def max_batch_size(self) -> int:
        return self.batch_sizes[-1]

    def _bracket(self, batch_size: int) -> tuple[int, int, float]:
        """Indices of the measured sizes around ``batch_size`` and the weight of the upper one."""
        if batch_size < 1 or batch_size > self.max_batch_size:
            raise ProfileError([
                f"{self.source}: model {self.model!r} on device kind {self.device_kind!r} ({self.dtype}) is measured "
                f"at batch sizes {', '.join(map(str, self.batch_sizes))}; batch size {batch_size} is outside "
                f"1..{self.max_batch_size} (no extrapolation)"])
        upper = int(np.searchsorted(self.batch_sizes, batch_size))
        if self.batch_sizes[upper] == batch_size:
            return upper, upper, 0.0
        lower = upper - 1
        low, high = self.batch_sizes[lower], self.batch_sizes[upper]
        return lower, upper, (batch_size - low) / (high - low)

    def mean_s(self, batch_size: int = 1) -> float:
        """Mean latency (seconds) of one call with ``batch_size`` items, interpolated linearly."""
        lower, upper, weight = self._bracket(batch_size)
        return (1 - weight) * self.means_s[lower] + weight * self.means_s[upper]

    def draw(self, rng: np.random.Generator, batch_size: int, n: int) -> np.ndarray:
        """``n`` latencies at ``batch_size``: a bootstrap from the measured samples, or between two measured
        sizes the same quantile of both, interpolated linearly."""
        lower, upper, weight = self._bracket(batch_size)
        u = rng.random(n)
        low = _quantiles(self.sorted_samples[lower], u)
        if weight == 0.0:
            return low
        return (1 - weight) * low + weight * _quantiles(self.sorted_samples[upper], u)


def _quantiles(sorted_values: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The empirical quantile function at ``u`` in [0, 1): each sample with probability 1/n (a bootstrap)."""
    index = (u * len(sorted_values)).astype(np.intp)
    return sorted_values[np.minimum(index, len(sorted_values) - 1)]


@dataclass(frozen=True)
class Profile:
    """The rows of one profile file, validated, with their batch curves."""

    path: str
    rows: tuple[ProfileRow, ...]

    @functools.cached_property
    def _curves(self) -> dict[tuple[str, str, str], BatchCurve]:
        groups: dict[tuple[str, str, str], list[ProfileRow]] = {}
        for row in self.rows:
            groups.setdefault((row.model, row.device_kind, row.dtype), []).append(row)
        curves = {}
        for (model, kind, dtype), rows in groups.items():
            rows.sort(key=lambda r: r.batch_size)
            curves[(model, kind, dtype)] = BatchCurve(
                source=self.path, model=model, device_kind=kind, dtype=dtype,
                batch_sizes=tuple(r.batch_size for r in rows),
                means_s=tuple(r.mean_s for r in rows),
                sorted_samples=tuple(np.sort(np.asarray(r.samples_s or (r.mean_s,), dtype=float)) for r in rows),
                weights_bytes=rows[0].weights_bytes,
                load_time_s=rows[0].load_time_s,
            )
        return curves

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(row.model for row in self.rows))

    def device_kinds(self, model: str, dtype: str = "float32") -> tuple[str, ...]:
        """The device kinds ``model`` has rows for in ``dtype``."""
        return tuple(dict.fromkeys(r.device_kind for r in self.rows if r.model == model and r.dtype == dtype))

    def curve(self, model: str, device_kind: str, dtype: str = "float32") -> BatchCurve:
        """The batch curve of ``model`` on ``device_kind`` in ``dtype``; a clear error if the profile has none."""
        found = self._curves.get((model, device_kind, dtype))
        if found is not None:
            return found
        if model not in self.models:
            problem = f"has no model {model!r}; models in it: {_describe_choices(self.models)}"
        else:
            available = sorted({(r.device_kind, r.dtype) for r in self.rows if r.model == model})
            listed = ", ".join(f"{kind} ({dtype_})" for kind, dtype_ in available)
            problem = (f"has no rows for model {model!r} on device kind {device_kind!r} in {dtype}; "
                       f"it has: {listed}")
        raise ProfileError([f"{self.path}: profile {problem}"])

    def rows_of(self, model: str, device_kind: str, dtype: str = "float32") -> list[ProfileRow]:
        return sorted((r for r in self.rows if (r.model, r.device_kind, r.dtype) == (model, device_kind, dtype)),
                      key=lambda r: r.batch_size)


# ----------------------------------------------------------------------------------------------------------
# Reading, writing, finding


def _parse_row(fields: Mapping[str, str | None], where: str, problems: list[str]) -> ProfileRow | None:
    """One row, or None with its problems added (each naming ``where`` and the row's model, device kind and batch
    size, as far as the row gives them)."""
    start = len(problems)
    row = _parse_fields(fields, where, problems)
    identity = ", ".join(f"{column.replace('_', ' ')} {(fields.get(column) or '').strip()}"
                         for column in ("model", "device_kind", "batch_size") if (fields.get(column) or "").strip())
    if identity:
        problems[start:] = [f"{problem} (row: {identity})" for problem in problems[start:]]
    return row


def _parse_fields(fields: Mapping[str, str | None], where: str, problems: list[str]) -> ProfileRow | None:
    def text(column: str) -> str:
        return (fields.get(column) or "").strip()

    def number(column: str, positive: bool = False) -> float:
        raw = text(column)
        if not raw:
            return math.nan
        try:
            value = float(raw)
        except ValueError:
            problems.append(f"{where}: {column} must be a number, got {raw!r}")
            return math.nan
        if column.endswith("_s"):
            low, high, unit = (*LATENCY_RANGE_S, "seconds") if positive else (0.0, TIME_MAX_S, "seconds")
        else:
            low, high, unit = 0.0, BYTES_MAX, "bytes/s" if column.endswith("_per_s") else "bytes"
        if not low <= value <= high:  # also refuses NaN
            problems.append(f"{where}: {column} must be a finite number {'> 0' if positive else '>= 0'} (in "
                            f"[{low:g}, {high:g}] {unit}), got {raw!r}")
            return math.nan
        return value

    start = len(problems)
    for column in REQUIRED_COLUMNS:
        if not text(column):
            problems.append(f"{where}: {column} is required")
    dtype = text("dtype") or "float32"
    if dtype not in DTYPES:
        problems.append(f"{where}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    batch_size = 0
    if text("batch_size"):
        try:
            batch_size = int(text("batch_size"))
        except ValueError:
            batch_size = 0
        if batch_size < 1:
            problems.append(f"{where}: batch_size must be a positive integer, got {text('batch_size')!r}")
    mean = number("mean_s", positive=True) if text("mean_s") else math.nan
    samples: tuple[float, ...] = ()
    if text("samples_s"):
        try:
            samples = tuple(float(v) for v in text("samples_s").split())
        except ValueError:
            problems.append(f"{where}: samples_s must be numbers separated by spaces")
        low, high = LATENCY_RANGE_S
        bad = [v for v in samples if not low <= v <= high]
        if bad:
            problems.append(f"{where}: samples_s must all be finite numbers in [{low:g}, {high:g}] seconds, got "
                            f"{bad[0]!r}")
    n_reps = len(samples)
    if text("n_reps"):
        try:
            n_reps = int(float(text("n_reps")))
        except (ValueError, OverflowError):
            problems.append(f"{where}: n_reps must be an integer >= 0, got {text('n_reps')!r}")
        else:
            if n_reps < 0:
                problems.append(f"{where}: n_reps must be an integer >= 0, got {text('n_reps')!r}")
    if len(problems) > start:
        return None
    optional: dict[str, Any] = {column: number(column) for column in STAT_COLUMNS if column != "mean_s"}
    optional.update({column: number(column) for column in NUMBER_COLUMNS})
    optional.update({column: text(column) for column in TEXT_COLUMNS})
    return ProfileRow(model=text("model"), device_kind=text("device_kind"), batch_size=batch_size, mean_s=mean,
                      dtype=dtype, samples_s=samples, n_reps=n_reps, **optional)


def read_profile(path: str | Path) -> Profile:
    """Read and validate a profile CSV (see the module docstring for its columns).

    Raises:
        ProfileError: Listing every problem, each naming the file and line.
    """
    path = Path(path)
    try:
        text = read_user_text(path, "profile file")
    except UserInputError as error:
        raise ProfileError(error.problems) from None
    return parse_profile(text, str(path))


def parse_profile(text: str, source: str) -> Profile:
    """Validate the text of a profile CSV; ``source`` names it in messages (a path).

    Raises:
        ProfileError: Listing every problem, each naming the source and line.
    """
    path = source
    problems: list[str] = []
    rows: list[ProfileRow] = []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = list(reader.fieldnames or [])
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ProfileError([f"{path}: profile needs the columns {', '.join(missing)}; it has: "
                                f"{', '.join(columns) or '(no header)'}"])
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise ProfileError([f"{path}: unknown profile columns {', '.join(unknown)}; allowed: "
                                f"{', '.join(COLUMNS)}"])
        for fields in reader:
            row = _parse_row(fields, f"{path} line {reader.line_num}", problems)
            if row is not None:
                rows.append(row)
    except csv.Error as error:
        raise ProfileError([f"{path}: not a valid CSV profile: {error}"]) from None
    seen: dict[tuple[str, str, str, int], int] = {}
    for index, row in enumerate(rows):
        if row.key in seen:
            problems.append(f"{path}: model {row.model!r} on {row.device_kind!r} ({row.dtype}) has two rows for "
                            f"batch size {row.batch_size}")
        seen[row.key] = index
    for model, kind, dtype in dict.fromkeys((r.model, r.device_kind, r.dtype) for r in rows):
        if (model, kind, dtype, 1) not in seen:
            problems.append(f"{path}: model {model!r} on {kind!r} ({dtype}) has no row for batch size 1 (every "
                            "model needs one: it is the service time of an unbatched stage)")
    if not rows and not problems:
        problems.append(f"{path}: profile has no rows")
    if problems:
        raise ProfileError(problems)
    return Profile(path=path, rows=tuple(rows))


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, modified_ns: int) -> Profile:
    return read_profile(path)


def load_profile(path: str | Path) -> Profile:
    """`read_profile`, cached per file (and re-read when the file changes)."""
    resolved = Path(path)
    try:
        modified = resolved.stat().st_mtime_ns
    except OSError:
        return read_profile(resolved)  # raises the clear error
    return _load_cached(str(resolved), modified)


def shipped_profile_dir() -> Path:
    """The directory of the profiles shipped with the package (``simulator/profiles``)."""
    return Path(str(resources.files("simulator") / "profiles"))


def shipped_profiles() -> dict[str, Path]:
    """The shipped profiles by name (file name without ``.csv``)."""
    directory = shipped_profile_dir()
    return {path.stem: path for path in sorted(directory.glob("*.csv"))} if directory.is_dir() else {}


def resolve_profile(name: str, base_dir: str | Path = ".") -> Path:
    """A profile by name (a shipped one, e.g. ``"cpu-2core"``) or path (ends in ``.csv``, relative to
    ``base_dir``).

    Raises:
        ProfileError: For an unknown name, listing the shipped profiles.
    """
    if name.endswith(".csv") or "/" in name:
        return (Path(base_dir) / name).resolve()
    shipped = shipped_profiles()
    if name in shipped:
        return shipped[name]
    raise ProfileError([f"unknown profile {name!r}; shipped profiles: {_describe_choices(shipped)} (or give a path "
                        "ending in .csv)"])


def write_profile(path: str | Path, rows: Sequence[ProfileRow], append: bool = False,
                  keep_measured: bool = False, option: str = "--out") -> Path:
    """Write ``rows`` as a profile CSV, atomically (a failed write leaves the old file as it was).

    With ``append``, rows already in the file are kept unless a new row has the same (model, device kind, dtype,
    batch size). The result is validated as `read_profile` would read it before anything is written.

    Args:
        path: The file to write.
        rows: The new rows.
        append: Keep the rows already in ``path``.
        keep_measured: Refuse to replace a measured row (one without ``derived_from``) already in ``path``.
        option: The command-line option that named ``path``, for messages.

    Raises:
        ProfileError: When the result would not be a valid profile, a measured row would be replaced, or ``path``
            cannot be written (each naming the file).
    """
    path = Path(path)
    if path.is_dir():
        raise ProfileError([f"{option} {path}: is a directory; give the path of a profile CSV file"])
    merged: dict[tuple[str, str, str, int], ProfileRow] = {}
    if append and path.exists():
        merged.update((row.key, row) for row in read_profile(path).rows)
    if keep_measured:
        replaced = [row for row in rows if row.key in merged and not merged[row.key].derived_from]
        if replaced:
            listed = ", ".join(f"{r.model} on {r.device_kind} ({r.dtype}) batch {r.batch_size}" for r in replaced[:3])
            more = f" and {len(replaced) - 3} more" if len(replaced) > 3 else ""
            raise ProfileError([f"{path}: refusing to replace {len(replaced)} measured rows ({listed}{more}) with "
                                "derived ones; choose a device kind that has no measured rows"])
    merged.update((row.key, row) for row in rows)
    ordered = sorted(merged.values(), key=lambda r: (r.device_kind, r.dtype, r.model, r.batch_size))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(row.as_csv() for row in ordered)
    text = buffer.getvalue()
    try:
        parse_profile(text, f"{path} (to be written)")
    except ProfileError as error:
        raise ProfileError([f"{path}: not written: the result would not be a valid profile", *error.problems]
                           ) from None
    write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8", newline=""), option)
    return path


def derive_rows(rows: Iterable[ProfileRow], from_kind: str, to_kind: str, latency_factor: float,
                rule: str, load_factor: float | None = None) -> list[ProfileRow]:
    """Rows for a device kind nobody measured, from a measured one: every latency (samples and statistics)
    times ``latency_factor``, the load time times ``load_factor`` (default the same), memory and tensor sizes
    unchanged; ``derived_from`` and ``rule`` say how."""
    if not (math.isfinite(latency_factor) and latency_factor > 0):
        raise ValueError(f"latency_factor must be a finite number > 0, got {latency_factor!r}")
    if load_factor is not None and not (math.isfinite(load_factor) and load_factor > 0):
        raise ValueError(f"load_factor must be a finite number > 0, got {load_factor!r}")
    if from_kind == to_kind:
        raise ValueError(f"the derived device kind must differ from the measured one ({from_kind!r})")
    load = latency_factor if load_factor is None else load_factor
    derived = []
    for row in rows:
        if row.device_kind != from_kind or row.derived_from:
            continue
        scaled: dict[str, Any] = {column: getattr(row, column) * latency_factor for column in STAT_COLUMNS}
        derived.append(replace(
            row, device_kind=to_kind, samples_s=tuple(v * latency_factor for v in row.samples_s),
            load_time_s=row.load_time_s * load, h2d_bytes_per_s=math.nan, derived_from=from_kind, rule=rule,
            **scaled,
        ))
    return derived
