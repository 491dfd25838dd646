# The single way in, locally and in CI.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test lint format bench venv prerequisites clean

## run: start the local cloud and every function, serve until Ctrl-C
run: prerequisites venv
	@$(PY) -m infra.local.run

## test: the whole suite (unit, integration, end-to-end) against emulators it starts itself
test: prerequisites venv
	@$(PY) -m pytest

## lint: ruff (lint and format) and mypy
lint: venv
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy .

format: venv
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

venv: $(INSTALLED)

# Reinstalls only when a requirements file changed: a second run reuses the environment.
$(INSTALLED): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Java and the Pub/Sub emulator cannot come from pip: say so at once, in one line.
prerequisites:
	@$(PYTHON) -m infra.local.prerequisites

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache .mypy_cache .hypothesis
