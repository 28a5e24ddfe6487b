# The front door. `make demo` and `make test` are all a newcomer needs (see README.md).
# Everything local lives under $(SPOTIFY_DATA_DIR) (the lake and the warehouse) and
# $(DAGSTER_HOME) (Dagster's own run and event storage); both are git-ignored.

PYTHON ?= python3
export SPOTIFY_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Never let uv download a Python: use the machine's 3.11+.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
# Installed packages (and the project, at install) compiled to bytecode once, as
# deploy/Dockerfile does: where Python may not write its caches (PYTHONDONTWRITEBYTECODE, a
# read-only venv), every process (each run worker, the code server, each test's subprocess)
# otherwise compiles the ~1,000 modules it imports from source: 3.0-3.5 instead of 1.7 CPU s
# to import the code location.
export UV_COMPILE_BYTECODE := 1
# The daemon's freshness evaluation every 5 minutes instead of 30 s (the policies are in hours
# and days): an environment variable of Dagster's, read by dagster-daemon at start.
export FRESHNESS_DAEMON_INTERVAL_SECONDS ?= 300
# The daemon's look for failed runs to re-execute (run_retries) every 30 s instead of 5 s: a
# crashed run is retried up to 25 s later; the idle daemon spends about 0.2 CPU s a minute less.
export DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS ?= 30
# dg checks that the project's virtualenv is the active one.
DG := VIRTUAL_ENV=$(CURDIR)/.venv PATH=$(CURDIR)/.venv/bin:$$PATH $(CURDIR)/.venv/bin/dg

UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV_BIN := $(CURDIR)/.venv/bin

.PHONY: install demo dev test test-fast check-defs lint lint-imports bench clean help e2e \
	e2e-file e2e-lakehouse

help:
	@echo "make demo   install, then materialize the whole graph on the sample world"
	@echo "make dev    install, then start the Dagster UI on http://127.0.0.1:$${DAGSTER_PORT:-3000}"
	@echo "make test   install, then run the tests"
	@echo "make test-fast  the tests but the slow ones (daemon, browser, materializations)"
	@echo "make check-defs  dg check defs: the code location loads and validates"
	@echo "make e2e    the production path end to end, file mode then lakehouse mode (e2e-file, e2e-lakehouse)"
	@echo "make lint   ruff check, ruff format --check and the import layers (lint-imports)"
	@echo "make bench  benchmarks (bench/), prints figures"
	@echo "make clean  remove data/, .dagster_home/ and the virtualenv"

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Installs exactly what uv.lock pins (dev tools included).
.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	$(VENV_BIN)/python -m compileall -q spotify_assets
	@touch $@

install: .venv/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV_BIN)/python -m spotify_assets.demo

# dg dev runs from $(DAGSTER_HOME), where the instance config it uses is: started from the
# project folder, Dagster would warn that ./dagster.yaml is not the one in use.
# deploy/supervise.py: SIGINT or SIGTERM (Ctrl-C, `kill`, a service manager) stops dg dev, its
# webserver, daemon and code server within seconds, also when make was started in the
# background (which starts it with SIGINT ignored); exec: make's SIGTERM reaches it directly.
dev: install $(DAGSTER_HOME)/dagster.yaml
	exec $(VENV_BIN)/python $(CURDIR)/deploy/supervise.py --cwd $(DAGSTER_HOME) -- env \
	  VIRTUAL_ENV=$(CURDIR)/.venv PATH=$(CURDIR)/.venv/bin:$$PATH $(CURDIR)/.venv/bin/dg dev \
	  -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $${DAGSTER_PORT:-3000}

# One worker per core (pytest-xdist): every test has its own temporary folders and ports.
test: install
	$(VENV_BIN)/python -m pytest -n auto

test-fast: install
	$(VENV_BIN)/python -m pytest -m "not slow" -n auto

check-defs: install $(DAGSTER_HOME)/dagster.yaml
	$(DG) check defs

# The deployment image's environment (deploy/Dockerfile: no dev tools, the `deploy` extra:
# dagster-aws, dagster-k8s), for make e2e. Kept apart from .venv: with dagster-aws installed,
# every load of the code location imports boto3 (its components entry point).
DEPLOY_VENV := $(CURDIR)/.venv-deploy

$(DEPLOY_VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(DEPLOY_VENV) $(UV) sync --frozen --no-dev --extra deploy \
		--compile-bytecode --python $(PYTHON)
	@touch $@

# The production path on this machine (deploy/), in both warehouse modes, each starting and
# stopping what it starts: PostgreSQL from Debian's packages (installed if missing, root), S3
# (moto), the gRPC code server, dagster-daemon and dagster-webserver.
# e2e-file: the DuckDB file as a single-machine deployment runs it (one data folder, pool 1);
# drops export files and follows them to core.streams and the dashboard, a reader holding the
# published copy open. e2e-lakehouse: every process in its own folder, and a reader knowing
# only the catalog and the bucket; lands files, follows them through concurrent runs to the
# Iceberg tables and the dashboard, checks the reader saw whole runs.
e2e: e2e-file e2e-lakehouse

e2e-file: install $(DEPLOY_VENV)/.installed
	E2E_PLATFORM_VENV=$(DEPLOY_VENV) $(VENV_BIN)/python deploy/e2e_file.py

e2e-lakehouse: install $(DEPLOY_VENV)/.installed
	E2E_PLATFORM_VENV=$(DEPLOY_VENV) $(VENV_BIN)/python deploy/e2e.py

lint: install lint-imports
	$(VENV_BIN)/ruff check spotify_assets spotify_assets_tests bench deploy
	$(VENV_BIN)/ruff format --check spotify_assets spotify_assets_tests bench deploy

# The layers of pyproject.toml's [tool.importlinter] (a test runs it too, so make test fails).
lint-imports: install
	$(VENV_BIN)/lint-imports

bench: install
	$(VENV_BIN)/python bench/bench_catalog.py

clean:
	rm -rf $(SPOTIFY_DATA_DIR) $(DAGSTER_HOME) .venv .venv-deploy .tools
