"""Shared by the paper's figure and table scripts: command-line options, where results are, plot style.

Every script reads a sweep's result store (``results/NAME``, or ``results/quick/NAME`` with ``--quick``)
and writes one file into ``--out`` (default ``paper/figures``; ``results/quick/figures`` with ``--quick``, so a
smoke run never overwrites the paper's figures).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:  # allow `python experiments/figures/NAME.py` from a checkout
    sys.path.insert(0, str(REPOSITORY))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PAPER_FIGURES = REPOSITORY / "paper" / "figures"
POLICY_LABELS = {"random": "Random", "round_robin": "Round robin", "least_loaded": "Least loaded",
                 "min_completion_time": "Min. completion time"}


def parse_arguments(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--results", type=Path, default=REPOSITORY / "results", help="results root (default results/)")
    parser.add_argument("--quick", action="store_true", help="read the --quick sweeps (results/quick/NAME)")
    parser.add_argument("--out", type=Path, help="output folder (default paper/figures, or results/quick/figures)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = args.results / "quick" / "figures" if args.quick else PAPER_FIGURES
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def results_dir(args: argparse.Namespace, experiment: str) -> Path:
    return args.results / "quick" / experiment if args.quick else args.results / experiment


def style() -> None:
    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
                         "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.dpi": 150, "savefig.bbox": "tight",
                         "axes.grid": True, "grid.alpha": 0.3, "pdf.fonttype": 42})


def save(figure: Figure, args: argparse.Namespace, name: str) -> int:
    """Lay out and write ``figure`` as ``--out/name``, free it, say where it went; the script's exit status."""
    figure.tight_layout()
    path = args.out / name
    figure.savefig(path)
    plt.close(figure)
    print(f"wrote {path}")
    return 0


def latex_escape(text: str) -> str:
    return (str(text).replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%")
            .replace("&", r"\&").replace("#", r"\#"))


def write_table(args: argparse.Namespace, name: str, lines: list[str], comment: str) -> int:
    """Close a booktabs ``tabular`` begun in ``lines``, add ``comment`` (what it is, which script made it) as a TeX
    comment, and write it as ``--out/name``; the script's exit status."""
    path = args.out / name
    path.write_text("\n".join([*lines, r"\bottomrule", r"\end{tabular}", f"% {comment}"]) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0
