# WaveCom Notify: every entry point a developer or CI needs.
#   make up     install and start what is needed, then run API + workers in the foreground
#   make test   install and start what is needed, then lint and run every test
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed-$(shell cat services/pyproject.toml services/requirements-dev.txt | sha256sum | cut -c1-12)
STACK     := services/devstack/stack.sh
KUBE      := services/devstack/kube.sh
NODE_SH   := services/devstack/node.sh
IMAGE_SH  := services/devstack/image.sh
export PYTHONDONTWRITEBYTECODE := 1

FRONTEND_STAMP := frontend/node_modules/.installed-$(shell sha256sum frontend/package-lock.json | cut -c1-12)
FRONTEND_SRC  := $(shell find frontend/src frontend/public -type f 2>/dev/null) frontend/next.config.mjs frontend/package.json frontend/tsconfig.json
PEER_STAMP    := loadtest/peer/node_modules/.installed-$(shell sha256sum loadtest/peer/package-lock.json | cut -c1-12)

.PHONY: help up down stack kube node-build node node-down image image-bases charts dashboards test test-faults lint bench bench-singles vegeta bench-reads bench-writes verify venv frontend frontend-check browser prometheus-bin loadtest graphviz diagrams postman peer bench-steps requirements sbom audit

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t14

$(STAMP): services/pyproject.toml services/requirements-dev.txt
	@command -v python3.11 >/dev/null || { echo "python3.11 is required"; exit 1; }
	@test -x $(PY) || python3.11 -m venv $(VENV)
	@echo "[make] installing Python dependencies (pinned with hashes in services/requirements-dev.txt)"
	@# the lock is complete (pip-compile): --no-deps installs exactly it, without resolving
	@# (pip 23's resolver asked an extra, cachecontrol[filecache], for a version outside the
	@# lock once the index had a newer one, and refused it as unpinned); pip check then proves
	@# every installed requirement satisfied
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r services/requirements-dev.txt
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e services
	@$(PY) -m pip check
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## create .venv with the pinned dependencies

$(FRONTEND_STAMP): frontend/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 with npm is required for the dashboard"; exit 1; }
	@echo "[make] installing the dashboard's dependencies (npm ci)"
	@cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@rm -f frontend/node_modules/.installed-* && touch $@

$(PEER_STAMP): loadtest/peer/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 with npm is required for the benchmark's peer"; exit 1; }
	@echo "[make] installing the peer's dependencies (npm ci in loadtest/peer)"
	@cd loadtest/peer && npm ci --no-audit --no-fund --loglevel=error
	@rm -f loadtest/peer/node_modules/.installed-* && touch $@

peer: $(PEER_STAMP) ## the seed-style peer's Node dependencies (npm ci, cached), for bench-steps

frontend/out/index.html: $(FRONTEND_STAMP) $(FRONTEND_SRC)
	@echo "[make] building the dashboard (static export in frontend/out)"
	@cd frontend && npm run --silent build >/dev/null

frontend: frontend/out/index.html ## build the dashboard (served by the API at /)

frontend-check: $(FRONTEND_STAMP) ## typecheck and unit-test the dashboard
	@cd frontend && npm run --silent typecheck && npm test --silent

browser: ## Debian's Chromium for the dashboard's browser tests
	@test -x /usr/bin/chromium || { echo "[make] installing chromium (Debian)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; }

prometheus-bin: ## Debian's Prometheus 2.42 and promtool (alert and dashboard tests, make up PROMETHEUS=1)
	@test -x /usr/bin/prometheus -a -x /usr/bin/promtool || { echo "[make] installing prometheus (Debian)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; }

stack: venv ## start (or reuse) RabbitMQ and FerretDB
	@$(STACK) up

kube: ## build the Kubernetes control plane the chart's tests use (once; cached outside the repo)
	@$(KUBE) build

node-build: ## build the real node's kubelet, kube-proxy, CoreDNS and pause image (once; cached outside the repo)
	@$(NODE_SH) build

node: image ## one real node (containerd + kubelet + kube-proxy, own control plane, KEDA; NODE_KEDA=0 without) in a private namespace, the image loaded
	@$(NODE_SH) up

node-down: ## stop the real node and remove everything it made
	@$(NODE_SH) down

image-bases: ## the image's base images from Debian's packages (mmdebstrap; once, cached outside the repo)
	@$(IMAGE_SH) bases

image: ## build services/Dockerfile with podman (Debian bases; IMAGE_BASES=registry: the Dockerfile's own FROM)
	@$(IMAGE_SH) build

charts: venv kube ## regenerate the chart's README and schema descriptions (from values.yaml), its copies, the CRD, keda/scaledobjects.yaml
	@PYTHONPATH=services $(PY) -m generators.charts

dashboards: venv ## regenerate dashboards/grafana/*.json from services/generators/dashboards.py (then make charts)
	@PYTHONPATH=services $(PY) -m generators.dashboards

up: stack frontend $(if $(PROMETHEUS),prometheus-bin) ## run the whole system in the foreground (Ctrl-C stops it); PROMETHEUS=1: Prometheus too, on :9095
	@PROMETHEUS=$(PROMETHEUS) $(PY) services/devstack/run.py

down: ## stop what `make up` / `make test` started (API, workers, RabbitMQ, FerretDB)
	@if [ -f .state/run.pid ]; then kill "$$(cat .state/run.pid)" 2>/dev/null || true; fi
	@$(KUBE) down
	@$(STACK) down

lint: venv ## ruff and mypy --strict
	@$(VENV)/bin/ruff check services tests loadtest
	@$(VENV)/bin/ruff format --check services tests loadtest
	@$(VENV)/bin/mypy

test: lint frontend-check frontend browser graphviz prometheus-bin peer vegeta image stack kube node-build ## lint, then every test against real RabbitMQ and FerretDB v2
	@WAVECOM_IMAGE="$$(cat .state/image.ref)" $(PY) -m pytest

test-faults: venv stack ## the fault-injection tests at full size (kill -9 during 5,000 deliveries)
	@FAULT_NOTIFICATIONS=5000 $(PY) -m pytest tests/test_faults.py -o timeout=600

verify: stack ## reconcile: every accepted notification sent, failed, cancelled or in flight
	@$(PY) -m wavecom.relay.reconcile

bench: stack ## benchmark the running pipeline (see loadtest/README.md)
	@$(PY) -m loadtest.bench $(BENCH_ARGS)

VEGETA := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/wavecom-notify/vegeta-v12.13.0/bin/vegeta
$(VEGETA):
	@echo "[make] building vegeta v12.13.0 (the open-model load generator) from the Go module proxy"
	@GOBIN=$(dir $(VEGETA)) go install -trimpath -ldflags "-s -w" github.com/tsenart/vegeta/v12@v12.13.0

vegeta: $(VEGETA) ## the open-model load generator for the single-request benchmark (cached)

bench-singles: stack vegeta ## single creates at a constant arrival rate (vegeta), see loadtest/README.md
	@$(PY) -m loadtest.bench --driver vegeta --single-fraction 1 --rate 833 --api-procs 2 $(BENCH_ARGS)

bench-steps: stack vegeta peer ## ours against the seed-style peer (loadtest/peer/), rate by rate, one at a time
	@$(PY) -m loadtest.steps $(BENCH_ARGS)

bench-reads: stack ## reads at scale: 1,000,000 notifications, p99 of every read endpoint
	@$(PY) -m loadtest.bench_reads $(BENCH_ARGS)

bench-writes: stack ## the database's CPU per notification, phase by phase of the write path
	@$(PY) -m loadtest.bench_writes $(BENCH_ARGS)

loadtest: stack ## locust, headless, gated on delivered notifications: 833/s for 150 s (loadtest/README.md)
	@$(PY) -m loadtest.locust_run $(LOADTEST_ARGS)

graphviz: ## Debian's graphviz (dot) for the diagrams and their test
	@docs/diagrams.sh --install

diagrams: graphviz ## regenerate docs/*.svg from docs/*.dot
	@docs/diagrams.sh

postman: venv ## regenerate the Postman collection in docs/postman/ from the OpenAPI spec
	@$(PY) docs/postman/generate.py

# the two locks, hash-pinned: the image's runtime set and the development set (then make sbom audit)
PIP_COMPILE := cd services && ../$(VENV)/bin/pip-compile --quiet --generate-hashes --no-emit-find-links --no-emit-index-url --strip-extras
requirements: venv ## re-lock services/requirements.txt and requirements-dev.txt from services/pyproject.toml (hash-pinned)
	@$(PIP_COMPILE) --extra=operator --output-file=requirements.txt pyproject.toml
	@$(PIP_COMPILE) --allow-unsafe --extra=dev --extra=operator --output-file=requirements-dev.txt pyproject.toml

sbom: venv ## the image's dependencies as CycloneDX JSON from the lock files (docs/supply-chain/sbom.cdx.json)
	@$(PY) -m tests.support.supply_chain sbom

audit: venv ## pip-audit over the pinned requirements; the report in docs/supply-chain/audit.json
	@$(PY) -m tests.support.supply_chain audit
