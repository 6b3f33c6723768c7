# Two commands on a fresh machine:
#   make demo   set up .venv, analyse the bundled MINUSCA demo data and serve it: map at http://127.0.0.1:8000/
#   make test   set up .venv and run the whole test suite (installs PostGIS and Chromium for their tests)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-files test lint bench bench-tiles bench-package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vacuum serve --demo --workspace out/workspace

demo-files: $(STAMP)
	$(BIN)/vacuum demo --out out/demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check geo api maps cli tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_analyze.py --runs 3

# tiles against TiTiler (bench/TILES.md): the bench extra (uvloop, httptools), wrk (Debian
# package, scripts/ensure_wrk.sh) and TiTiler in its own venv (--install-titiler)
bench-tiles: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	-scripts/ensure_wrk.sh  # without wrk the bench skips its wrk figures
	$(BIN)/python bench/bench_tiles.py --install-titiler --repeat 3 --out out/bench_tiles.json

bench-package: $(STAMP)
	$(BIN)/python bench/bench_package.py --runs 3

clean:
	rm -rf out .pytest_cache .hypothesis
