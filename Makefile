# `make test` is the one test command: CI (.ci/run) calls exactly it.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python

.PHONY: test system-deps venv lint typecheck bench demo fuzz clean

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

bench: system-deps venv
	$(PY) benchmarks/run.py

demo: system-deps venv
	$(PY) scripts/demo.py

# Coverage-guided fuzzing (atheris), every parser for FUZZ_SECONDS each; not part of test.
FUZZ_SECONDS ?= 60
fuzz: venv
	$(PY) -m pip install --quiet -e '.[fuzz]'
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .fuzz
