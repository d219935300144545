# The README's two commands: `make demo` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
# The torch the rl extra installs, pinned and installed first (a CPU build where pip finds one; TORCH=torch takes
# the newest).
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test,rl]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m simulator demo scenarios/demo_edge_cloud.toml --out results/demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The paper: `make figures` runs (or resumes) the sweeps of experiments/*.toml and every script in
# experiments/figures/, writing paper/figures/; QUICK=1 runs the reduced version (results/quick/, figures in
# results/quick/figures/) that the test suite also runs. `make paper` does `make figures` and then builds
# paper/build/paper.pdf; `make pdf` builds the PDF from the figures already in paper/figures/ (committed).
.PHONY: figures paper pdf
QUICK ?=

figures: $(STAMP)
	$(BIN)/python experiments/make_figures.py $(if $(QUICK),--quick)

paper: figures
	$(MAKE) pdf

pdf:
	@command -v latexmk >/dev/null 2>&1 || { \
	  echo "latexmk is not installed, so the PDF cannot be built. Install a TeX distribution with latexmk:"; \
	  echo "  Debian/Ubuntu: sudo apt-get install latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended"; \
	  echo "  macOS: brew install --cask mactex-no-gui     other systems: TeX Live, https://tug.org/texlive/"; \
	  echo "then run 'make pdf' (the figures are already in paper/figures/)."; exit 1; }
	cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error -outdir=build paper.tex
	@echo "wrote paper/build/paper.pdf"
