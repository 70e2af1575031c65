# `make test` is the one test command: CI (.ci/run) calls exactly it.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python

.PHONY: test system-deps venv lint typecheck bench bench-deps demo fuzz clean

# The suite with branch coverage of the core, then the gates: ruff and strict mypy.
test: system-deps venv
	$(PY) -m pytest --cov=ocireg --cov-branch --cov-report=term:skip-covered --cov-fail-under=85
	$(MAKE) --no-print-directory lint

# Debian packages the integration tests need (real registry, htpasswd, skopeo).
system-deps:
	bash scripts/install-system-deps

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check src transports tests benchmarks scripts fuzz
	$(VENV)/bin/mypy

# Benchmarks (not part of test): every scenario, or e.g. BENCH_ARGS="--only blob,pull --runs 3".
BENCH_ARGS ?=
bench: system-deps bench-deps
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# What only the benchmarks use: GNU time and curl (Debian), python-dxf and py-spy (the bench extra).
bench-deps: venv $(VENV)/.bench-installed
	bash scripts/install-system-deps bench

$(VENV)/.bench-installed: pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

demo: system-deps venv
	$(PY) scripts/demo.py

# Coverage-guided fuzzing (atheris), every parser for FUZZ_SECONDS each; not part of test.
FUZZ_SECONDS ?= 60
fuzz: venv
	$(PY) -m pip install --quiet -e '.[fuzz]'
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .fuzz
