"""The paper's figure pipeline in QUICK mode (what `make figures QUICK=1` runs): every figure and table script
works on fresh quick sweeps, and every figure, table and citation of paper/paper.tex has a source."""

from __future__ import annotations

import importlib.util
import re
import sys

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


def load_script(path):
    """Import a paper script as a module, its folder importable as the script expects (make_figures does so)."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"paper_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_validation_table_agrees_with_theory_and_is_formatted(tmp_path):
    """results/reference/validation/validation.csv (experiments/validation/theory_table.py): every 95 % interval
    contains its closed form (Erlang C, Pollaczek-Khinchine, Jackson, Little, order statistics) and every
    deterministic row (Bertsekas-Gallager max-min rates, SimGrid 3.32 completion times) is within 1e-9; the table
    script writes one LaTeX row per model."""
    import pandas as pd

    table = pd.read_csv(ROOT / "results" / "reference" / "validation" / "validation.csv")
    stochastic = table.dropna(subset=["theory"])
    assert len(stochastic) == 8 and len(table) >= 11
    assert ((stochastic["ci_low"] <= stochastic["theory"]) & (stochastic["theory"] <= stochastic["ci_high"])).all()
    assert (table.dropna(subset=["max_relative_difference"])["max_relative_difference"] <= 1e-9).all()
    script = load_script(ROOT / "experiments" / "figures" / "table_validation.py")
    assert script.main(["--out", str(tmp_path)]) == 0
    text = (tmp_path / "validation_table.tex").read_text()
    assert text.count(r" \\") == len(table) + 1 and "Erlang C" in text and "SimGrid" in text


def test_validation_script_runs_every_model_on_a_small_budget(tmp_path):
    """experiments/validation/theory_table.py with a tenth of the test budgets: one finite row per model."""
    import pandas as pd

    script = load_script(ROOT / "experiments" / "validation" / "theory_table.py")
    saved = dict(script.queueing.BUDGETS)
    try:
        assert script.main(["--out", str(tmp_path / "v.csv"), "--scale", "0.1"]) == 0
    finally:
        script.queueing.BUDGETS.update(saved)
        script.queueing.replications.cache_clear()
    table = pd.read_csv(tmp_path / "v.csv")
    committed = pd.read_csv(ROOT / "results" / "reference" / "validation" / "validation.csv")
    assert list(table["model"]) == list(committed["model"])
    stochastic = table.dropna(subset=["theory"])
    assert stochastic[["simulated", "ci_low", "ci_high"]].notna().all().all()
    assert (abs(stochastic["simulated"] - stochastic["theory"]) / stochastic["theory"] < 0.5).all()


def test_speed_comparison_writes_ratios_that_the_table_formats(tmp_path, capsys, monkeypatch):
    """experiments/speed_comparison.py on a tiny budget writes the ratios of each comparison and the versions;
    table_speed.py turns them into one row per other tool (SimGrid's only where it is installed)."""
    import json

    script = load_script(ROOT / "experiments" / "speed_comparison.py")
    out = tmp_path / "speed.json"
    assert script.main(["--jobs", "5000", "--flows", "200", "--network-jobs", "100", "--repeats", "1",
                        "--out", str(out)]) == 0
    capsys.readouterr()
    results = json.loads(out.read_text())
    assert {"simpy", "ciw", "numpy", "python"} <= set(results["machine"])
    assert set(results["mmc"]["ratios"]) == {"simulator/simpy_process", "simulator/ciw", "simulator/simpy_callbacks",
                                            "simulator/heapq"}
    assert all(ratio["wall_best"] > 0 for ratio in results["mmc"]["ratios"].values())
    assert results["network"]["ratio_over_none"]["max-min"]["cpu_best"] > 0
    table = load_script(ROOT / "experiments" / "figures" / "table_speed.py")
    monkeypatch.setattr(table, "REFERENCE", out)
    assert table.main(["--out", str(tmp_path)]) == 0
    text = (tmp_path / "speed_table.tex").read_text()
    assert "Ciw" in text and "plain SimPy" in text and ("SimGrid" in text) == (results["simgrid"] is not None)
