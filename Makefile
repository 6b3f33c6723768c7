# Two commands on a fresh machine:
#   make demo   set up .venv and run the analysis on the bundled MINUSCA demo data
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vacuum demo --out out/demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check geo api maps cli tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_analyze.py --runs 3

clean:
	rm -rf out .pytest_cache .hypothesis
