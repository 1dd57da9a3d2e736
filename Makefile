# aptwatch — every set-up step a fresh machine needs lives here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared/data

.PHONY: run demo test lint eval bench kb clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,redis]'
	touch $@ $(VENV)/.installed

## make run: crawl the sources in config/sources.yaml once, store, and send the alerts
run: $(VENV)/.installed
	$(BIN)/aptwatch run

## make demo: the same pipeline offline, against a bundled sample news site on 127.0.0.1
demo: $(VENV)/.installed
	$(BIN)/aptwatch demo

## make test: lint, type-check and the whole test suite
test: $(VENV)/.installed-test lint
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make eval: accuracy on the labelled data in ../shared (writes nothing)
eval: $(VENV)/.installed
	$(BIN)/aptwatch eval --shared $(SHARED)

## make bench: speed benchmarks (print medians and ratios; the crawl one takes a few minutes)
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_nlp.py
	$(BIN)/python benchmarks/bench_extract.py
	$(BIN)/python benchmarks/bench_crawl.py

## make kb: rebuild nlp/data/groups.json from the MITRE / MISP / Microsoft files in ../shared
kb: $(VENV)/.installed
	$(BIN)/python -m nlp.importer --kb $(SHARED)/kb --out nlp/data/groups.json

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
