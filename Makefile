# Two commands for a newcomer: `make book` and `make test`. Each creates .venv
# from the pinned requirements when it is missing (or out of date) first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS ?= $(wildcard book/*.ipynb)
JOBS ?= 2

.PHONY: help venv book test test-fast lint execute clean

help:
	@echo "make book     build the HTML book into _build/html (from stored outputs)"
	@echo "make test     lint, unit tests and strict nbval on every notebook"
	@echo "make execute  re-run notebooks in place to refresh their outputs (NOTEBOOKS=...)"
	@echo "make lint     ruff"
	@echo "make clean    remove _build"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -n $(JOBS) --dist loadfile \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout 120 \
		tests $(wildcard book/*.ipynb)

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)

clean:
	rm -rf _build
