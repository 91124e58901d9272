# Two commands do all the set-up on a fresh machine:
#   make demo   installs the package in .venv and runs the main job
#   make test   installs the package and its test tools in .venv and runs lint and the test suite
# make notebooks executes the teaching notebooks in full into notebooks/executed/ (ignored by git).
PYTHON ?= python3.12
export PYENV_VERSION ?= 3.12.1
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,notebooks]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/bayes-distill demo --out runs/cpu

test: install
	$(BIN)/ruff check bayes_distill tests benchmarks notebooks
	$(BIN)/python -m pytest -q tests

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

notebooks: install
	$(BIN)/python notebooks/execute.py --out notebooks/executed
