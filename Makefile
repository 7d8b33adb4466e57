# A thin layer over npm scripts and scripts/services.sh. Every target works from a clean clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# `make run-phase-automation -- --exit-after-replay` passes the words after the target to the
# command (as does ARGS="..."); the catch-all rule at the bottom keeps make from building them.
ifeq (run-phase-automation,$(firstword $(MAKECMDGOALS)))
  RUN_ARGS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
endif
ARGS ?=

SERVICES_ENV := . .data/services.env
TEST_ENV := . .data/test.env

.PHONY: help deps services-up services-down services-status migrate run-phase-automation test test-unit typecheck lint bench bench-ingest clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 24

node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json ## install npm dependencies (npm ci) when missing or stale

services-up: ## NATS + PostgreSQL: NATS_URL/DATABASE_URL when set, else local ones (installed if missing)
	@scripts/services.sh up

services-down: ## stop the local services this project started
	@scripts/services.sh down

services-status: ## show which NATS and PostgreSQL are in use
	@scripts/services.sh status

migrate: deps services-up ## apply database migrations
	@$(SERVICES_ENV) && node bin/signals.js migrate

run-phase-automation: deps services-up ## run everything: Phase 1-4 on the default data (see README)
	@$(SERVICES_ENV) && exec node bin/signals.js run $(RUN_ARGS) $(ARGS)

test: deps ## the whole suite: typecheck, lint, unit + integration tests on real servers
	@scripts/services.sh tools
	npx tsc -p tsconfig.json
	npx eslint .
	@$(TEST_ENV) && npx vitest run --exclude test/system/cluster.test.ts
	@# Three nats-servers and two systems losing nodes on a clock: alone, not beside a browser test on 2 cores.
	@$(TEST_ENV) && npx vitest run test/system/cluster.test.ts

test-unit: deps ## pure tests: machines, models, features, gates (test/unit)
	@scripts/services.sh tools
	@$(TEST_ENV) && npx vitest run test/unit $(ARGS)

test-integration: deps ## effects on real nats-server and PostgreSQL (test/integration)
	@scripts/services.sh tools
	@$(TEST_ENV) && npx vitest run test/integration $(ARGS)

test-system: deps ## the whole system as shipped: signals run / startSystem on real servers (test/system)
	@scripts/services.sh tools
	@$(TEST_ENV) && npx vitest run test/system $(ARGS)

test-all: deps ## every test, without typecheck and lint (ARGS= to pick files)
	@scripts/services.sh tools
	@$(TEST_ENV) && npx vitest run $(ARGS)

typecheck: deps
	npx tsc -p tsconfig.json

lint: deps
	npx eslint .

bench: bench-ingest ## all benchmarks (each prints its figures)

bench-ingest: deps ## durable ingest rate vs raw PostgreSQL upsert rate (ARGS="--ticks 200000 --runs 5")
	@scripts/services.sh tools
	@$(TEST_ENV) && npx tsx bench/ingest.ts $(ARGS)

clean: services-down ## stop local services, remove .data and artifacts
	rm -rf .data artifacts

# Swallow extra words given after `run-phase-automation --`.
ifneq ($(RUN_ARGS),)
.PHONY: $(RUN_ARGS)
$(eval $(RUN_ARGS):;@:)
endif
