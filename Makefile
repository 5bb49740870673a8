# citypeers — `make demo` installs everything and runs the pipeline; `make test` runs every test.
# Two Python environments (Airflow and Superset pin incompatible SQLAlchemy versions), both made
# from committed lockfiles with uv. Everything the stack writes goes below $(CITYPEERS_HOME).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
UV_VERSION := 0.13.8
CITYPEERS_HOME ?= $(CURDIR)/var
DEMO_UNTIL ?= 2026-01-01
FEEDS_PORT ?= 8765
SUPERSET_PORT ?= 8088
BENCH_TIERS ?= S
export CITYPEERS_HOME SUPERSET_PORT

UV := .tools/bin/uv
PIPELINE := .venv/.synced
SUPERSET := .venv-superset/.synced
ENV := eval "$$(.venv/bin/citypeers env)"

.PHONY: help demo demo-celery test test-fast lint bench docs envs system-packages airflow-init feeds-start feeds-stop \
        openaq-start openaq-stop superset-start stop clean

help:
	@echo "make demo   install everything, run the DAGs on demo feeds, serve the dashboard"
	@echo "make demo-celery   the demo's DAGs on two Celery workers (Redis, Postgres; no Docker)"
	@echo "make test   run every test (unit, dbt, DAG integrity, end to end, browser)"
	@echo "make test-fast   unit tests + the dbt build with every dbt unit test (a few minutes)"
	@echo "make lint   ruff + sqlfluff"
	@echo "make bench  benchmarks, prints figures (BENCH_TIERS=\"S M\" for the 1,000-city tier too; BENCH_EXECUTORS=M: LocalExecutor vs 1 and 2 Celery workers)"
	@echo "make stop   stop the demo's background servers"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(PIPELINE): requirements/pipeline.lock pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv
	VIRTUAL_ENV=.venv $(UV) pip sync --quiet --compile-bytecode requirements/pipeline.lock
	VIRTUAL_ENV=.venv $(UV) pip install --quiet --no-deps --compile-bytecode -e .
	touch $@

$(SUPERSET): requirements/superset.lock | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-superset
	VIRTUAL_ENV=.venv-superset $(UV) pip sync --quiet --compile-bytecode requirements/superset.lock
	touch $@

envs: $(PIPELINE) $(SUPERSET)

## Debian packages: Chromium for the browser tests, docker-compose (v1) to validate the compose file,
## and for the city briefs: Pango for WeasyPrint's PDF, the Noto CJK fonts (names in their own script,
## embedded in the PDF) and poppler-utils (pdffonts, pdftoppm: the brief tests). Only what is missing.
SYSTEM_PACKAGES := chromium chromium-driver docker-compose redis-server postgresql libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
                   fonts-noto-cjk poppler-utils
system-packages:
	@missing="$$(dpkg-query -W -f='$${Package} $${db:Status-Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null \
	  | awk '$$2 == "installed" {print $$1}' | sort | comm -13 - <(printf '%s\n' $(SYSTEM_PACKAGES) | sort))"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

airflow-init: $(PIPELINE)
	@$(ENV) && mkdir -p "$$AIRFLOW_HOME" && airflow db migrate >/dev/null \
	  && airflow pools set duckdb_writer 1 "one DuckDB writer at a time" >/dev/null \
	  && echo "Airflow metadata ready in $$AIRFLOW_HOME"

## The demo feed server (every demo feed over HTTP on 127.0.0.1; FEEDS_FLAKY, FEEDS_RATE_LIMIT_EVERY).
feeds-start: $(PIPELINE)
	@scripts/feed_server.sh start $(FEEDS_PORT)

feeds-stop:
	@scripts/feed_server.sh stop

## Former names of feeds-start / feeds-stop, kept for a while.
openaq-start: feeds-start
openaq-stop: feeds-stop

superset-start: $(SUPERSET)
	@scripts/superset.sh bootstrap
	@scripts/superset.sh import
	@scripts/superset.sh start

## The demo's DAGs on Airflow's CeleryExecutor, no Docker: Redis, a throwaway Postgres, the API server,
## the scheduler, the DAG processor and CELERY_WORKERS (2) Celery workers as local processes
## (scripts/celery_stack.sh); every ingest DAG for the interval ending DEMO_UNTIL, then the transform;
## then everything stops (the data stays in $(CITYPEERS_HOME)/celery).
demo-celery: envs system-packages
	@$(ENV) && citypeers demo-data
	@scripts/feed_server.sh start $(FEEDS_PORT)
	@trap 'scripts/celery_stack.sh stop; scripts/feed_server.sh stop' EXIT; \
	  scripts/celery_stack.sh start && eval "$$(scripts/celery_stack.sh env)" \
	  && citypeers trigger-dags --until $(DEMO_UNTIL)

demo: envs system-packages airflow-init
	@$(ENV) && citypeers demo-data
	@$(MAKE) --no-print-directory feeds-start
	@$(ENV) && citypeers run-dags --until $(DEMO_UNTIL)
	@$(MAKE) --no-print-directory feeds-stop
	@$(MAKE) --no-print-directory superset-start
	@$(ENV) && citypeers check-dashboards
	@$(ENV) && scripts/demo_summary.sh

test: envs system-packages
	.venv/bin/python -m pytest

## The inner loop (a few minutes): unit tests, and one dbt build that runs every dbt unit test.
test-fast: envs
	.venv/bin/python -m pytest tests/unit tests/dbt/test_dbt_build.py tests/dbt/test_dbt_layers.py

lint: $(PIPELINE)
	.venv/bin/ruff check src dags tests benchmarks scripts dashboards
	.venv/bin/sqlfluff lint dbt_project/models

bench: envs system-packages
	.venv/bin/python benchmarks/run.py $(if $(BENCH_EXECUTORS),--executors $(BENCH_EXECUTORS),--tiers $(BENCH_TIERS))

docs: $(PIPELINE)
	@$(ENV) && cd dbt_project && dbt docs generate --profiles-dir . && echo "dbt docs: dbt_project/target/index.html"

stop:
	-@scripts/superset.sh stop
	-@scripts/feed_server.sh stop

clean: stop
	rm -rf var dbt_project/target dbt_project/logs tests/artifacts
