# Two commands for a newcomer: `make book` and `make test`. Each creates .venv
# from the pinned requirements when it is missing (or out of date) first.
# `make lab` opens the notebooks in a pinned JupyterLab (requirements-lab.txt).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# A laptop without an NVIDIA GPU can take PyTorch's CPU-only wheels (far smaller
# than the CUDA build PyPI serves on Linux) when it first builds .venv:
#   make venv TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Empty by default (the registry's usual build); CI does not use it.
TORCH_INDEX ?=
TORCH_INDEX_ARG := $(if $(strip $(TORCH_INDEX)),--extra-index-url $(TORCH_INDEX))
ifneq ($(strip $(TORCH_INDEX)),)
ifneq ($(wildcard $(STAMP)),)
$(warning .venv already exists, so TORCH_INDEX changes nothing: rm -rf .venv and run make again to rebuild it)
endif
endif
# JupyterLab for `make lab`, installed into .venv on first use only.
LAB_STAMP := $(VENV)/.lab-installed
LAB_PORT ?= 8888
LAB_ARGS ?=
# On Linux with no display (SSH, a container) no browser is started (a text-mode one
# would take over the terminal): JupyterLab prints the URL with its token instead.
LAB_BROWSER := $(shell if [ "$$(uname -s)" = Linux ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY$$BROWSER" ]; \
	then echo --no-browser; fi)
# JupyterLab refuses to run as root unless told (containers, WSL): say so on the command line.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
NOTEBOOKS ?= $(wildcard book/*.ipynb)
JOBS ?= 2
# The offline site's MathJax, from the npm registry (npm pack), checked by its sha1.
MATHJAX_VERSION := 3.2.2
MATHJAX_SHA1 := c754d7b46a679d7f3fa03543d6b8bf124ddf9f6b
MATHJAX := _assets/offline/mathjax
MATHJAX_STAMP := $(MATHJAX)/.version-$(MATHJAX_VERSION)
# The browser the site tests drive (Debian's package; never a downloaded build).
CHROMIUM := /usr/bin/chromium

.PHONY: bench help venv lab book site-assets chromium bubblewrap test test-site test-fast lint execute clean

help:
	@echo "make lab      open the notebooks in JupyterLab (installs it into .venv the first time)"
	@echo "make venv     create .venv from requirements.txt (TORCH_INDEX=... for CPU-only torch)"
	@echo "make book     build the HTML book into _build/html (from stored outputs)"
	@echo "make test     lint, build the book, unit tests, strict nbval on every notebook, site tests"
	@echo "make test-site  build the book and test it in headless Chromium (tests/site)"
	@echo "make execute  re-run notebooks in place to refresh their outputs (NOTEBOOKS=...)"
	@echo "make bench    speed of convolution variants (and grading) on this machine"
	@echo "make lint     ruff"
	@echo "make clean    remove _build"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt $(TORCH_INDEX_ARG)
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $(STAMP)

# JupyterLab at the repository's top folder, its file browser open on book/
# (exercises/ and solutions/ are one click up). requirements.txt constrains the
# install, so no pinned package moves; `make test` never needs JupyterLab.
lab: $(LAB_STAMP)
	@echo "Starting JupyterLab in $(CURDIR) (Ctrl-C twice stops it)."
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/book \
		--ServerApp.port=$(LAB_PORT) $(LAB_BROWSER) $(LAB_ROOT) $(LAB_ARGS)

$(LAB_STAMP): $(STAMP) requirements-lab.txt
	$(PIP_INSTALL) -r requirements-lab.txt -c requirements.txt $(TORCH_INDEX_ARG)
	touch $@

book: $(STAMP) site-assets
	$(BIN)/jupyter-book build . -W -n --keep-going

# MathJax for the offline site: fetched once, kept in _assets/offline/ (gitignored).
# The combined TeX+MathML->CHTML file, its fonts, the TeX extensions it autoloads
# and the accessibility parts its menu loads, so no page ever needs a CDN.
site-assets: $(MATHJAX_STAMP)

$(MATHJAX_STAMP):
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "fetching mathjax@$(MATHJAX_VERSION) from the npm registry into $(MATHJAX)"; \
	(cd "$$tmp" && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null); \
	echo "$(MATHJAX_SHA1)  $$tmp/mathjax-$(MATHJAX_VERSION).tgz" | sha1sum -c --quiet -; \
	tar -xzf "$$tmp/mathjax-$(MATHJAX_VERSION).tgz" -C "$$tmp"; \
	es5="$$tmp/package/es5"; rm -rf $(MATHJAX); \
	mkdir -p $(MATHJAX)/output/chtml/fonts $(MATHJAX)/input/tex; \
	cp -r "$$es5/output/chtml/fonts/woff-v2" $(MATHJAX)/output/chtml/fonts/; \
	cp -r "$$es5/input/tex/extensions" $(MATHJAX)/input/tex/; \
	cp -r "$$es5/a11y" "$$es5/sre" $(MATHJAX)/; \
	cp "$$tmp/package/LICENSE" $(MATHJAX)/; \
	cp "$$es5/tex-mml-chtml.js" $(MATHJAX)/; \
	touch $@

# Debian's Chromium for the site tests, installed only where it is missing and we
# may (root, or sudo without a password). Otherwise the site tests skip, loudly.
chromium:
	@sh tools/apt_install.sh chromium $(CHROMIUM) "the site tests will be SKIPPED"

lint: $(STAMP)
	$(BIN)/ruff check .

# bubblewrap for the grading sandbox (Debian's package), installed where missing and we may.
# Without it `convlab grade` refuses to run and the grading tests fail, by design.
bubblewrap:
	@sh tools/apt_install.sh bubblewrap bwrap "the grading tests will FAIL"

test: lint book chromium bubblewrap
	$(BIN)/pytest -n $(JOBS) --dist loadfile --durations=10 \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout 120 \
		tests $(wildcard book/*.ipynb) $(wildcard solutions/*.ipynb)

test-site: book chromium
	$(BIN)/pytest tests/site

# Speed figures for this machine (not tests): tables on stdout, JSON and plots in _build/bench.
bench: $(STAMP)
	$(BIN)/python benchmarks/conv_variants.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/course.py

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)

clean:
	rm -rf _build
