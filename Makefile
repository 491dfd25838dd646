# The single way in, locally and in CI.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test lint format bench bench-peers wrk soak venv checkov-venv prerequisites deploy clean

## run: start the local cloud and every function, serve until Ctrl-C
run: prerequisites venv
	@$(PY) -m infra.local.run

## test: the whole suite (unit, integration, end-to-end) against emulators it starts itself,
## all but the soak tier (pyproject.toml: -m "not soak")
# The two environments are independent: they install side by side. The tests run in
# PYTEST_WORKERS processes (pytest-xdist), a whole file at a time so a file's tests share its
# fixtures; each process starts its own emulators. The tests mostly wait on other processes,
# so more workers than cores pays. PYTEST_WORKERS=0 runs them all in one process, as a plain
# `.venv/bin/python -m pytest tests/some_file.py` does.
PYTEST_WORKERS ?= 4
test: prerequisites
	@$(MAKE) --no-print-directory --silent -j2 venv checkov-venv
	@$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

## lint: ruff (lint and format) and mypy
lint: venv
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy .

format: venv
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

## bench: measure the speed of every path into bench/results.json (asserts nothing)
bench: prerequisites venv wrk
	@$(PY) -m bench

## bench-peers: predict_batch, KServe and MLServer side by side on the same one-instance
## request into bench/peers.json (docs/performance.md; about 5 minutes)
PEER_VENVS := .venv-kserve .venv-mlserver
PEER_INSTALLED := $(PEER_VENVS:%=%/.installed)
bench-peers: prerequisites venv wrk $(PEER_INSTALLED)
	@$(PY) -m bench.peers

# wrk generates the HTTP load: installed from Debian when missing and apt works, else bench
# falls back to its own Python client and records which one it used.
wrk:
	@command -v wrk >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } || \
		echo "wrk could not be installed: bench uses its Python load client instead"

## soak: the soak tier of the tests (tests/soak, left out of make test): the whole local system
## under volume, faults and load; figures into soak/results.json; fails on any missed target
## (docs/soak.md; about 13 minutes)
soak: prerequisites venv
	@$(PY) -m pytest -m soak tests/soak

## deploy: the whole system into a Google Cloud project (docs/deploy.md)
# make deploy PROJECT_ID=my-project REGION=europe-west1 [BUCKET=...] [STATE_BUCKET=...]
#             [INVOKERS="user:ana@example.com group:ml@example.com"]
#             [LAUNCHERS="group:ml@example.com"] [AUTO_APPROVE=1]
deploy:
	@test -n "$(PROJECT_ID)" -a -n "$(REGION)" || \
		{ echo "usage: make deploy PROJECT_ID=my-project REGION=europe-west1" >&2; exit 2; }
	@$(PYTHON) -m infra.deploy --project "$(PROJECT_ID)" --region "$(REGION)" \
		$(if $(BUCKET),--bucket "$(BUCKET)") $(if $(STATE_BUCKET),--state-bucket "$(STATE_BUCKET)") \
		$(foreach member,$(INVOKERS),--invoker "$(member)") \
		$(foreach member,$(LAUNCHERS),--launcher "$(member)") $(if $(AUTO_APPROVE),--auto-approve)

venv: $(INSTALLED)

# uv installs the requirements from PyPI, several times faster than pip and to the same
# versions; it comes pinned, through the venv's own pip, into .venv (none needed beforehand).
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
UV_INSTALLED := $(VENV)/.uv-$(UV_VERSION)

$(UV_INSTALLED):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@touch $@

# checkov lives apart: it pins an HCL parser that clashes with the tests' python-hcl2.
CHECKOV_VENV := .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
checkov-venv: $(CHECKOV_INSTALLED)

# checkov runs once per session: compiling its bytecode up front would cost more than it saves.
$(CHECKOV_INSTALLED): infra/requirements-checkov.txt $(UV_INSTALLED)
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(UV) pip install --quiet --python $(CHECKOV_VENV)/bin/python -r $<
	@touch $@

# Each peer of make bench-peers lives apart (.venv-kserve, .venv-mlserver): their web stacks
# (FastAPI, uvicorn, pandas) have no place in .venv, nor in make test.
$(PEER_INSTALLED): .venv-%/.installed: bench/peers/requirements-%.txt $(UV_INSTALLED)
	@test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	@$(UV) pip install --quiet --python .venv-$*/bin/python -r $<
	@touch $@

# Reinstalls only when a requirements file changed: a second run reuses the environment.
# Bytecode compiled at install, as pip did: every function process of the tests imports
# numpy, scipy and scikit-learn, and PYTHONDONTWRITEBYTECODE may forbid caching it later.
$(INSTALLED): requirements.txt requirements-dev.txt $(UV_INSTALLED)
	@$(UV) pip install --quiet --python $(PY) --compile-bytecode -r requirements-dev.txt
	@touch $@

# Java and the Pub/Sub emulator cannot come from pip: say so at once, in one line.
prerequisites:
	@$(PYTHON) -m infra.local.prerequisites

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(PEER_VENVS) .local .pytest_cache .ruff_cache .mypy_cache .hypothesis
