# `make test` is the one test command: CI (.ci/run) calls exactly it.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python

.PHONY: test system-deps venv lint typecheck bench demo clean

test: system-deps venv
	$(PY) -m pytest

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
	$(VENV)/bin/ruff check src transports tests benchmarks
	$(VENV)/bin/mypy

bench: system-deps venv
	$(PY) benchmarks/run.py

demo: system-deps venv
	$(PY) scripts/demo.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
