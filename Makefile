# tocsin: `make run` (the main job on a local Kafka) and `make test` (the whole suite).
# Everything installs into .venv from requirements.lock; the broker comes from deploy/kafka.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: help prereqs prereqs-run venv vendor run test check unit lint local soak kafka-up kafka-down clean

help:
	@echo "make run    - local Kafka + worker + samples; prints alerts (Ctrl-C stops everything)"
	@echo "make test   - lint, then the whole test suite against a local Kafka it starts and stops"
	@echo "make check  - lint and every test that needs no broker (the inner loop)"
	@echo "make unit   - tests that need no broker"
	@echo "make prereqs - Java 17+, Maven, openssl, python3-venv, npm, Chromium (apt-get as root on Debian)"
	@echo "make local  - tocsin run --local over the samples (no broker)"
	@echo "make lint   - ruff and mypy"
	@echo "make soak   - 10 minutes at a steady rate through 2 workers: memory and lag over time"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet uv==0.13.9
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

# The dashboard's browser libraries, pinned by package-lock.json, copied from npm into a
# gitignored directory the worker serves (no CDN at run time).
VENDOR := streams/web/static/vendor
VENDOR_STAMP := $(VENDOR)/.stamp-$(shell cksum < package-lock.json | cut -d' ' -f1)

$(VENDOR_STAMP): package.json package-lock.json streams/web/vendor.sh
	streams/web/vendor.sh $(VENDOR)
	@touch $@

vendor: $(VENDOR_STAMP)

venv: $(STAMP) $(VENDOR_STAMP)

# What the suite needs outside .venv; installed when missing (root on Debian), else it stops
# naming the command to run.
prereqs:
	@deploy/prereqs.sh

prereqs-run:
	@deploy/prereqs.sh run

run: prereqs-run venv
	deploy/run-local.sh

# The broker starts while the linters run (deploy/with-kafka.sh --while). Two pytest processes
# (pytest-xdist), one test file at a time each: the fault tests (minutes on their three-node
# cluster; tests/conftest.py puts them first) run while the other process takes the rest, much
# of both being waits on brokers and workers. PYTEST_XDIST= runs the suite in one process.
PYTEST_XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder
test: prereqs venv
	deploy/with-kafka.sh --while "$(MAKE) --no-print-directory lint" $(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

check: venv lint
	$(BIN)/python -m pytest -m "not integration" -q -p no:cacheprovider $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check streams tests bench
	$(BIN)/ruff format --check streams tests bench
	$(BIN)/mypy

local: venv
	$(BIN)/tocsin run --local --input streams/samples \
	  --subscriptions streams/samples/subscriptions.yaml --out out/local

soak: venv
	deploy/with-kafka.sh $(BIN)/python -m bench.soak $(SOAK_ARGS)

kafka-up:
	deploy/kafka/kafka.sh up

kafka-down:
	deploy/kafka/kafka.sh down

clean:
	deploy/kafka/kafka.sh down || true
	rm -rf $(VENV) $(VENDOR) node_modules .tocsin out .pytest_cache .mypy_cache .ruff_cache
