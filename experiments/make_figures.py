"""Regenerate every figure and table of the paper: run (or resume) the sweeps, then each script in figures/.

    python experiments/make_figures.py            # full sweeps into results/, figures into paper/figures/
    python experiments/make_figures.py --quick    # reduced sweeps (results/quick/), figures into results/quick/figures/

`make figures` runs the first, `make figures QUICK=1` the second (the test suite runs it too, so a broken
figure script fails CI). Sweeps resume: runs already in the result store are not run again, so a second
call only redraws. The Braun et al. table comes from results/braun/ (experiments/braun_benchmark.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from simulator.runner import run_sweep  # noqa: E402

FIGURE_SCRIPTS = REPOSITORY / "experiments" / "figures"


def experiment_files() -> list[Path]:
    """Every experiment of the paper: the sweep files directly under experiments/, in name order."""
    return sorted((REPOSITORY / "experiments").glob("*.toml"))


def figure_scripts() -> list[Path]:
    """The figure and table scripts, in name order (helpers start with an underscore)."""
    return sorted(path for path in FIGURE_SCRIPTS.glob("*.py") if not path.name.startswith("_"))


def run_script(path: Path, argv: list[str]) -> None:
    """Import a figure script as a module and call its ``main(argv)``; a failure raises."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"paper_figure_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main(argv)
    if status:
        raise SystemExit(f"{path.name} exited with status {status}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced replications and jobs (smoke test)")
    parser.add_argument("--results", type=Path, default=REPOSITORY / "results", help="results root")
    parser.add_argument("--out", type=Path, help="figure folder (default paper/figures or results/quick/figures)")
    parser.add_argument("--executor", default=None, choices=("serial", "processes", "dask"),
                        help="sweep executor (default: processes, serial with --quick)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-sweep", action="store_true", help="only draw, from the results already stored")
    args = parser.parse_args(argv)
    executor = args.executor or ("serial" if args.quick else "processes")
    started = time.perf_counter()
    if not args.no_sweep:
        for path in experiment_files():
            name = path.stem
            outcome = run_sweep(path, executor=executor, workers=args.workers,
                                quick=args.quick, results_root=args.results, progress=not args.quick)
            print(f"{name}: {outcome.n_runs} runs, {outcome.n_reused} stored before, {outcome.n_executed} run now, "
                  f"{len(outcome.failed)} failed")
            if outcome.failed:
                print("\n".join(outcome.failed), file=sys.stderr)
                return 1
    script_argv = ["--results", str(args.results)] + (["--quick"] if args.quick else [])
    if args.out is not None:
        script_argv += ["--out", str(args.out)]
    for path in figure_scripts():
        run_script(path, script_argv)
    print(f"figures done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
