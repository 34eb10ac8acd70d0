# edgeship: `make test` and `make demo` work on a fresh machine; both are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgeship-installed

.PHONY: help install sysdeps lint typecheck test test-fast demo bench clean

help:
	@echo "make test   - set up .venv from the pins, then ruff, mypy and every test"
	@echo "make demo   - set up, then run the whole path end to end (edgeship demo)"
	@echo "make bench  - run the benchmarks against their baselines"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when the project's metadata or the pins change.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[convert,dev]'
	touch $@

install: $(STAMP)

# mosquitto is the real third-party broker the MQTT face and the hub benchmark talk to.
sysdeps:
	@if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing mosquitto (apt)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null) \
	      || echo "warning: could not install mosquitto; tests that need it will be skipped"; \
	  else echo "warning: mosquitto missing and not root; tests that need it will be skipped"; fi; \
	fi
	@# hey is the load generator of bench/bench_serving.py (issue #14).
	@if ! command -v hey >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing hey (apt)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null) \
	      || echo "warning: could not install hey; the serving benchmark and its smoke test will be skipped"; \
	  else echo "warning: hey missing and not root; the serving benchmark and its smoke test will be skipped"; fi; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The docker-marked tests need an engine: tools/ci/docker-engine.sh starts a private dockerd under
# .cache/docker/ when none is reachable (root only) and the recipe stops it even when tests fail.
test: install sysdeps lint typecheck
	@bash tools/ci/docker-engine.sh start
	@trap 'bash tools/ci/docker-engine.sh stop' EXIT; eval "$$(bash tools/ci/docker-engine.sh env)"; $(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow and not integration"

demo: install
	$(BIN)/edgeship demo

bench: install sysdeps
	$(BIN)/edgeship bench

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache .edgeship
