# One Makefile for humans and CI. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt

.DEFAULT_GOAL := help
.PHONY: help run test lint typecheck unit simulator tools-example mcp-example backend-example bench bench-admission bench-guardrails bench-upstream-leg clean

help:
	@echo "make run        start the relay against the bundled simulator on http://127.0.0.1:8000"
	@echo "make test       lint, type-check and run the whole test suite with coverage"
	@echo "make simulator  run the simulator alone on 127.0.0.1:9000"
	@echo "make tools-example  the example tool server on 127.0.0.1:8100 (needs RELAY_TOOLS_SIGNING_SECRET)"
	@echo "make mcp-example    the example MCP server on 127.0.0.1:8200/mcp"
	@echo "make backend-example  the example backend minting client secrets on 127.0.0.1:8300 (needs EXAMPLE_BACKEND_TOKEN)"
	@echo "make bench      relay vs nginx, the peers and direct (needs nginx and node; BENCH_ARGS=--quick for a smoke run)"
	@echo "make bench-admission  handshake p50/p99: one relay, vs two behind nginx with Redis (needs nginx, redis-server)"
	@echo "make bench-guardrails time added before the answer by the input guardrail (blocklist, webhook)"
	@echo "make bench-upstream-leg the upstream leg alone: aiohttp (the product's) against picows"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# flock: `make run` and `make tools-example` started together must not install at once.
$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	flock $(VENV)/.install-lock $(PIP) -e .
	@touch $@

$(VENV)/.installed-examples: pyproject.toml constraints.txt | $(BIN)/python
	flock $(VENV)/.install-lock $(PIP) -e '.[examples]'
	@touch $@ $(VENV)/.installed-run

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	flock $(VENV)/.install-lock $(PIP) -e '.[dev]'
	@touch $@ $(VENV)/.installed-run $(VENV)/.installed-examples

# The local demo: no Azure account, no client auth, loopback only.
run: export RELAY_UPSTREAM ?= simulator
run: export RELAY_HOST ?= 127.0.0.1
run: export RELAY_PORT ?= 8000
run: export RELAY_AUTH ?= none
run: $(VENV)/.installed-run
	@echo "Relay on http://$(RELAY_HOST):$(RELAY_PORT) against the simulator."
	@echo "Connect a WebSocket client to ws://$(RELAY_HOST):$(RELAY_PORT)/realtime"
	$(BIN)/python -m app

simulator: $(VENV)/.installed-run
	$(BIN)/python -m app.simulator --host 127.0.0.1 --port 9000

tools-example: $(VENV)/.installed-run
	$(BIN)/python -m examples.tools.server --host 127.0.0.1 --port 8100

mcp-example: $(VENV)/.installed-run
	$(BIN)/python -m examples.mcp.server --host 127.0.0.1 --port 8200

backend-example: $(VENV)/.installed-examples
	$(BIN)/python -m examples.backend.server --host 127.0.0.1 --port 8300

$(VENV)/.installed-bench: pyproject.toml constraints.txt | $(BIN)/python
	flock $(VENV)/.install-lock $(PIP) -e '.[bench]'
	@touch $@ $(VENV)/.installed-run

# The Node peer's `ws` (exact version in its package.json, no lockfile); skipped without
# npm, and the benchmark then says so for the `node` target.
NODE_PEER := bench/node_peer
$(NODE_PEER)/node_modules/.installed: $(NODE_PEER)/package.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(NODE_PEER) && npm install --no-package-lock --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the benchmark's node target will not run"; fi

bench: $(VENV)/.installed-bench $(NODE_PEER)/node_modules/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-upstream-leg: $(VENV)/.installed-bench
	$(BIN)/python -m bench.upstream_leg $(BENCH_ARGS)

bench-admission: $(VENV)/.installed-dev
	$(BIN)/python -m bench.admission $(BENCH_ARGS)

bench-guardrails: $(VENV)/.installed-run
	$(BIN)/python -m bench.guardrail_latency $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

test: lint typecheck unit

clean:
	rm -rf $(VENV) .venv-sdk tests/sdk/node/node_modules $(NODE_PEER)/node_modules test-artifacts .mypy_cache .pytest_cache .ruff_cache .coverage htmlcov
