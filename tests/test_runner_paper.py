"""The paper's figure pipeline in QUICK mode (what `make figures QUICK=1` runs): every figure and table script
works on fresh quick sweeps, and every figure, table and citation of paper/paper.tex has a source."""

from __future__ import annotations

import importlib.util
import re

import pytest
from conftest import ROOT

pytestmark = pytest.mark.examples

PAPER = ROOT / "paper" / "paper.tex"


def paper_text() -> str:
    """paper.tex and its sections (paper/sections/*.tex, each \\input by paper.tex)."""
    return PAPER.read_text() + "".join(path.read_text() for path in sorted((ROOT / "paper" / "sections").glob("*.tex")))


def load_make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "experiments" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_figures_are_produced_for_every_figure_and_table_of_the_paper(tmp_path, capsys):
    make_figures = load_make_figures()
    out = tmp_path / "figures"
    assert make_figures.main(["--quick", "--results", str(tmp_path / "results"), "--out", str(out),
                              "--executor", "serial"]) == 0
    produced = {path.name for path in out.iterdir()}
    text = paper_text()
    wanted = set(re.findall(r"\\includegraphics(?:\[[^]]*\])?\{([^}]+)\}", text))
    # generated tables are \input from figures/; other inputs are hand-written sections (calibration.tex,
    # whose figures come from the real serving experiment, experiments/calibration/fidelity.py)
    wanted |= {name.removeprefix("figures/") for name in re.findall(r"\\input\{([^}]+)\}", text)
               if name.startswith("figures/")}
    assert wanted and wanted <= produced, wanted - produced
    assert all((out / name).stat().st_size > 200 for name in produced)
    assert (tmp_path / "results" / "quick" / "load_sweep" / "store.sqlite").exists()
    assert "Braun" in (out / "braun_table.tex").read_text() or "braun" in (out / "braun_table.tex").read_text()
    capsys.readouterr()
    # a second call resumes: nothing is run again, only redrawn
    assert make_figures.main(["--quick", "--results", str(tmp_path / "results"), "--out", str(out),
                              "--executor", "serial"]) == 0
    assert "0 run now" in capsys.readouterr().out


def test_braun_table_uses_the_benchmark_results_when_they_exist(tmp_path):
    braun = tmp_path / "results" / "braun"
    braun.mkdir(parents=True)
    (braun / "summary.csv").write_text(
        "instance,algorithm,best_makespan_s,mean_makespan_s,n_runs,lp_bound_s,best_gap,mean_gap\n"
        "u_c_hihi.0,min_min,110,110,1,100,0.10,0.10\n"
        "u_c_hihi.0,ga,101,102,3,100,0.01,0.02\n")
    make_figures = load_make_figures()
    script = next(path for path in make_figures.figure_scripts() if path.name == "table_braun.py")
    make_figures.run_script(script, ["--results", str(tmp_path / "results"), "--out", str(tmp_path)])
    table = (tmp_path / "braun_table.tex").read_text()
    assert r"\begin{tabular}" in table and "Min-min & GA" in table and r"u\_c\_hihi.0 & 10.0 & 2.0" in table


def test_every_citation_is_in_the_bibliography():
    text = paper_text()
    cited = {key.strip() for group in re.findall(r"\\citep?\{([^}]+)\}", text) for key in group.split(",")}
    defined = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "paper" / "references.bib").read_text()))
    assert cited and cited <= defined, cited - defined
    for required in ("simpy", "ciw", "erlang1917", "kleinrock1975", "pollaczek1930", "khinchine1932", "velho2009",
                     "braun2001", "topcuoglu2002", "deap", "pyswarms", "dask"):
        assert required in cited
