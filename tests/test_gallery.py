"""The README's gallery: every picture it shows is committed, and each is a case-study figure that
experiments/figures/fig_cases.py draws (so `make figures` keeps it current)."""

from __future__ import annotations

import importlib.util
import re

from conftest import ROOT

FIGURES = ROOT / "experiments" / "figures"


def test_every_gallery_picture_is_committed_and_drawn_by_the_case_figure_script(monkeypatch):
    monkeypatch.syspath_prepend(str(FIGURES))  # the figure scripts import _common from their folder
    spec = importlib.util.spec_from_file_location("gallery_fig_cases", FIGURES / "fig_cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    drawn = {f"paper/figures/{experiment}.png" for experiment, _ in module.CASES}
    readme = (ROOT / "README.md").read_text()
    gallery = readme.split("\n## Gallery\n", 1)[1].split("\n## ", 1)[0]
    pictures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", gallery)
    assert len(drawn) == 4 and sorted(pictures) == sorted(drawn)
    for picture in pictures:
        path = ROOT / picture
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
        assert 1_000 < path.stat().st_size < 200_000, picture  # a real picture, small enough for a README
