# Fieldsync — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Bytecode is written (into __pycache__, which git ignores), even where the environment says not to:
# the tests start many processes (gunicorn, the CLI), and each would otherwise compile every module of
# the app again (~0.4 s of CPU apiece).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help run test lint bench bench-interop load install install-dev postgres-binaries browser webforms axe clean translations compile-translations

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the runtime requirements

install-dev: $(VENV)/.installed-dev ## Install runtime and test requirements

postgres-binaries: ## Make sure PostgreSQL server binaries exist (the tests start a throwaway cluster)
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing PostgreSQL server binaries"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

browser: ## Make sure Debian's headless Chromium and chromedriver exist (the dashboard's browser tests drive them)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing chromium and chromium-driver"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

WEBFORMS := tests/e2e/webforms
webforms: $(WEBFORMS)/node_modules/.installed ## Install ODK Web Forms (npm) for the OpenRosa end-to-end test

$(WEBFORMS)/node_modules/.installed: $(WEBFORMS)/package.json
	@if ! command -v npm >/dev/null; then \
		echo "installing nodejs and npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	# Exact versions are pinned in package.json; no lockfile is kept (it would name the registry's host).
	cd $(WEBFORMS) && npm install --no-audit --no-fund --no-package-lock --loglevel=error
	@touch $@

AXE := tests/e2e/axe
axe: $(AXE)/node_modules/.installed ## Install axe-core (npm) for the accessibility test of every page

$(AXE)/node_modules/.installed: $(AXE)/package.json
	@if ! command -v npm >/dev/null; then \
		echo "installing nodejs and npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	# The exact version is pinned in package.json; no lockfile is kept (as for webforms).
	cd $(AXE) && npm install --no-audit --no-fund --no-package-lock --loglevel=error
	@touch $@

compile-translations: install ## Compile the en/ar message catalogues (server/translations/*.po -> .mo)
	$(BIN)/pybabel compile --use-fuzzy -d server/translations

translations: install ## Re-extract the translatable strings and merge them into every catalogue (then translate the .po)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k t -o server/translations/messages.pot --sort-by-file .
	$(BIN)/pybabel update -i server/translations/messages.pot -d server/translations -w 120

# The webhook delivery worker runs beside gunicorn, one process, started again if it dies (it is safe to
# stop and start at any time: docs/integrations.md) and stopped when gunicorn stops.
run: install compile-translations ## Migrate, load demo data into an empty database, serve with gunicorn on HOST:PORT
	$(BIN)/flask --app server bootstrap
	( trap 'kill $$child 2>/dev/null; wait $$child; exit 0' TERM INT; \
	  while :; do $(BIN)/flask --app server webhooks worker & child=$$!; wait $$child; sleep 1; done ) & \
	supervisor=$$!; trap 'kill $$supervisor 2>/dev/null; wait $$supervisor' EXIT; \
	$(BIN)/gunicorn --config gunicorn.conf.py "server:create_app()"

lint: install-dev ## ruff, and the import contracts of pyproject.toml (import-linter: the layers stay layers)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Test processes (pytest-xdist); each starts its own throwaway PostgreSQL cluster. Whole files go to one
# process (--dist loadfile), so a module's live gunicorn is started once, in collection order (the
# few long end-to-end files first; xdist's default puts the files with most tests first and left
# them running alone at the end).
TEST_WORKERS ?= 2

test: install-dev postgres-binaries browser webforms axe compile-translations lint ## Lint, then the whole test suite on SQLite and PostgreSQL
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: install-dev postgres-binaries ## Benchmarks (push, replay, pull, aggregates, memory) on SQLite and PostgreSQL
	$(BIN)/python -m bench

bench-interop: install-dev ## Line lists and DHIS2 export at INTEROP_RECORDS (default 1000000) on SQLite (ENGINES to change)
	$(BIN)/python -m bench --only interop --engines $${ENGINES:-sqlite} --interop-records $${INTEROP_RECORDS:-1000000}

# DURATION, not SECONDS: bash keeps its own SECONDS (time since the shell started) in every recipe.
load: install-dev postgres-binaries ## Locust: TABLETS tablets syncing, COORDINATORS coordinators, READERS website readers, DURATION s per ENGINE
	$(BIN)/python -m bench.load --engine $${ENGINE:-sqlite,postgresql} --tablets $${TABLETS:-8} \
		--coordinators $${COORDINATORS:-2} --readers $${READERS:-4} --seconds $${DURATION:-60}

clean: ## Remove the virtualenv and caches (keeps instance/ data)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis $(WEBFORMS)/node_modules
