"""Sub-commands ``calibrate``, ``profiles`` and ``derive-profile`` of ``python -m simulator``.

::

    python -m simulator calibrate --device cpu --models resnet50,bert-base --batch-sizes 1,2,4,8 \\
        --threads 1 --out profiles/my-cpu.csv
    python -m simulator calibrate --device cuda --dtype float16 --models all --batch-sizes 1,2,4,8,16,32,64 \\
        --device-kind gpu-h100 --out profiles/h100.csv
    python -m simulator profiles                    # the shipped profiles
    python -m simulator profiles cpu-2core          # one profile: models, device kinds, batch sizes, means
    python -m simulator derive-profile my.csv --from-kind cpu --kind edge-cpu --factor 3 --rule "..."
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.calibration.profile import (
    DTYPES,
    derive_rows,
    read_profile,
    resolve_profile,
    shipped_profiles,
    write_profile,
)
from simulator.errors import UserInputError
from simulator.user_files import writable_directory

__all__ = ["DEFAULT_MODELS", "register_commands"]

DEFAULT_MODELS = ("resnet50", "mobilenet-v2", "vit-b16", "yolos-tiny", "bert-base", "whisper-tiny",
                  "gpt2-prefill-32", "gpt2-prefill-128", "gpt2-prefill-256", "gpt2-decode-128", "gpt2-decode-512")
"""What ``--models all`` measures (every recipe but the smoke-test model)."""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers, got {text!r}")
    return sorted(set(values))


def register_commands(subparsers: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the sub-commands to ``python -m simulator``'s parser; returns their handlers by name."""
    calibrate = subparsers.add_parser(
        "calibrate", help="measure real models (PyTorch) on this machine's CPU or GPU and write a profile",
        description="Measure models built from their transformers configurations (random weights) at several "
                    "batch sizes and write a profile CSV. Needs pip install '.[calibrate]'.")
    calibrate.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    calibrate.add_argument("--models", default="all",
                           help=f"comma-separated model names or 'all' ({', '.join(DEFAULT_MODELS)})")
    calibrate.add_argument("--batch-sizes", type=_int_list, default=[1, 2, 4, 8], help="default 1,2,4,8")
    calibrate.add_argument("--dtype", choices=DTYPES, default="float32")
    calibrate.add_argument("--out", type=Path, help="profile CSV to write (required unless --list)")
    calibrate.add_argument("--append", action="store_true",
                           help="keep the rows already in --out (rows measured again are replaced)")
    calibrate.add_argument("--device-kind", help="device kind written in the profile (what scenario nodes name); "
                           "default: cpu or cuda")
    calibrate.add_argument("--threads", type=int, help="torch.set_num_threads on a CPU (1: repeatable, one "
                           "worker per core)")
    calibrate.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    calibrate.add_argument("--min-reps", type=int, default=10, help="timed calls at least (default 10)")
    calibrate.add_argument("--max-reps", type=int, default=200, help="timed calls at most (default 200)")
    calibrate.add_argument("--max-time-s", type=float, default=10.0,
                           help="stop timing a point after this many seconds once --min-reps are done (default 10)")
    calibrate.add_argument("--pause-s", type=float, default=0.0,
                           help="idle this long before each timed call (default 0: back to back)")
    calibrate.add_argument("--flush-cache-mib", type=float, default=0.0,
                           help="overwrite this many MiB before each timed call, evicting the caches (cold calls, as "
                                "a server sees after idling among other work); e.g. 64 (> the last-level cache)")
    calibrate.add_argument("--list", action="store_true", help="list the models that can be measured and exit")

    profiles = subparsers.add_parser("profiles", help="list the shipped profiles or summarise one")
    profiles.add_argument("profile", nargs="?", help="a shipped profile's name or a CSV path")

    derive = subparsers.add_parser(
        "derive-profile", help="add rows for an unmeasured device kind, scaled from a measured one (marked derived)")
    derive.add_argument("profile", type=Path, help="profile CSV to read")
    derive.add_argument("--from-kind", required=True, help="measured device kind to scale")
    derive.add_argument("--kind", required=True, help="new device kind")
    derive.add_argument("--factor", type=float, required=True, help="latency multiplier (> 0)")
    derive.add_argument("--load-factor", type=float, help="load-time multiplier (default: --factor)")
    derive.add_argument("--rule", required=True, help="why this factor: written into every derived row")
    derive.add_argument("--out", type=Path, help="where to write (default: the input profile, rows appended)")
    return {"calibrate": _command_calibrate, "profiles": _command_profiles, "derive-profile": _command_derive}


def _command_calibrate(args: argparse.Namespace) -> int:
    from simulator.calibration.timing import TimingPlan
    from simulator.calibration.zoo import RECIPES

    if args.list:
        for name, recipe in RECIPES.items():
            print(f"{name:<18} {recipe.task:<26} {recipe.description}")
        return 0
    names = list(DEFAULT_MODELS) if args.models == "all" else [n.strip() for n in args.models.split(",") if n.strip()]
    problems = [f"--models: unknown model {name!r}; known: {', '.join(RECIPES)}" for name in names
                if name not in RECIPES]
    if args.out is None:
        problems.append("--out is required: the profile CSV to write")
    try:
        plan = TimingPlan(args.warmup, args.min_reps, args.max_reps, args.max_time_s, args.pause_s)
    except ValueError as error:
        problems.append(str(error))
    if not (math.isfinite(args.flush_cache_mib) and 0 <= args.flush_cache_mib <= 2**20):
        problems.append(f"--flush-cache-mib must be a number in [0, 1048576], got {args.flush_cache_mib}")
    if args.threads is not None and args.threads < 1:
        problems.append(f"--threads must be a positive integer, got {args.threads}")
    if args.out is not None and args.out.is_dir():
        problems.append(f"--out {args.out}: is a directory; give the path of a profile CSV file")
    if problems:
        raise UserInputError(problems)
    if args.append and args.out.exists():
        read_profile(args.out)  # a profile that cannot be appended to fails now, not after the measurements
    writable_directory(args.out.parent, "--out")
    from simulator.calibration.harness import calibrate, missing_requirements

    missing = missing_requirements(args.device)
    if missing:
        raise UserInputError([missing])
    rows = calibrate([RECIPES[name] for name in names], device=args.device, dtype=args.dtype,
                     batch_sizes=args.batch_sizes, plan=plan, device_kind=args.device_kind, threads=args.threads,
                     progress=lambda line: print(line, flush=True),
                     flush_cache_bytes=int(args.flush_cache_mib * 2**20))
    path = write_profile(args.out, rows, append=args.append)
    print(f"wrote {len(rows)} rows to {path}")
    return 0


def _format_bytes(value: float) -> str:
    if math.isnan(value):
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _command_profiles(args: argparse.Namespace) -> int:
    if args.profile is None:
        shipped = shipped_profiles()
        if not shipped:
            print("no profiles are shipped")
        for name, path in shipped.items():
            profile = read_profile(path)
            kinds = sorted({row.device_kind for row in profile.rows})
            print(f"{name:<16} {len(profile.models):>3} models on {', '.join(kinds)}  ({path})")
        return 0
    profile = read_profile(resolve_profile(args.profile))
    first = profile.rows[0]
    print(f"{profile.path}: {len(profile.rows)} rows; measured on {first.device_name or '?'} "
          f"(torch {first.torch_version or '?'}, {first.date or 'undated'})")
    print(f"{'model':<18} {'kind':<10} {'dtype':<8} {'batch':>5} {'reps':>5} {'mean ms':>10} {'p99 ms':>10} "
          f"{'cv':>6} {'weights':>10} {'load s':>7}  derived")
    for row in profile.rows:
        cv = row.std_s / row.mean_s if not math.isnan(row.std_s) else math.nan
        print(f"{row.model:<18} {row.device_kind:<10} {row.dtype:<8} {row.batch_size:>5} {row.n_reps:>5} "
              f"{row.mean_s * 1e3:>10.3f} {row.p99_s * 1e3:>10.3f} {cv:>6.3f} {_format_bytes(row.weights_bytes):>10} "
              f"{row.load_time_s:>7.3f}  {row.rule if row.derived_from else ''}")
    return 0


def _command_derive(args: argparse.Namespace) -> int:
    problems = []
    for option, value in (("--factor", args.factor), ("--load-factor", args.load_factor)):
        if value is not None and not (math.isfinite(value) and value > 0):
            problems.append(f"{option} must be a finite number > 0 (a latency multiplier), got {value}")
    for option, text in (("--from-kind", args.from_kind), ("--kind", args.kind), ("--rule", args.rule)):
        if not text.strip():
            problems.append(f"{option} must not be empty")
    if args.kind == args.from_kind:
        problems.append(f"--kind must differ from --from-kind ({args.from_kind!r}): derived rows would replace the "
                        "measured ones")
    out: Path = args.out or args.profile
    if out.is_dir():
        problems.append(f"--out {out}: is a directory; give the path of a profile CSV file")
    if problems:
        raise UserInputError(problems)
    profile = read_profile(args.profile)
    rows = derive_rows(profile.rows, args.from_kind, args.kind, args.factor, args.rule, args.load_factor)
    if not rows:
        kinds = ", ".join(sorted({row.device_kind for row in profile.rows if not row.derived_from}))
        raise UserInputError([f"{args.profile}: no measured rows of device kind {args.from_kind!r}; measured kinds: "
                              f"{kinds}"])
    write_profile(out, rows, append=out == args.profile or out.exists(), keep_measured=True,
                  option="--out" if args.out else "profile")
    print(f"wrote {len(rows)} derived rows ({args.kind} = {args.from_kind} x {args.factor}) to {out}",
          file=sys.stdout)
    return 0
