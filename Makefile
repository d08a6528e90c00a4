# The two commands: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Test processes (pytest-xdist): one per core of the CI machine; the tests of one file run in one process.
TEST_WORKERS ?= 2

.PHONY: run test test-db lint venv dev-deps system-test-deps npm-deps migrate catalog demo worker bench bench-signing bench-payments bench-postal bench-stats bench-linked bench-audit messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

dev-deps: $(VENV)/.installed-dev system-test-deps npm-deps

# Debian packages the tests need: Chromium for Playwright, poppler for PDF checks (pdftotext, pdfsig),
# SoftHSM2 (PKCS#11 signing keys), NSS tools (certutil, for pdfsig's trust store), Noto fonts, Redis (rate limits).
system-test-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	command -v softhsm2-util >/dev/null || missing="$$missing softhsm2"; \
	command -v certutil >/dev/null || missing="$$missing libnss3-tools"; \
	[ -d /usr/share/fonts/truetype/noto ] || missing="$$missing fonts-noto-core"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v zbarimg >/dev/null || missing="$$missing zbar-tools"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

npm-deps: node_modules/.package-lock.json

migrate: venv
	$(BIN)/portal migrate

catalog: migrate
	$(BIN)/portal catalog load

demo: catalog
	$(BIN)/portal demo load

run: demo
	@echo "Serving http://$(HOST):$(PORT)  (Ctrl+C to stop)"
	PORTAL_BASE_URL="$${PORTAL_BASE_URL:-http://$(HOST):$(PORT)}" $(BIN)/portal serve --host $(HOST) --port $(PORT)

worker: venv
	$(BIN)/portal worker

# tests/ in $(TEST_WORKERS) processes (the tests of one file together: module fixtures stay in one process), then
# the Playwright journeys (e2e/) in a pass of their own: Playwright's event loop and asyncio.run() in other tests
# must not share a process.
# Both passes run even when the first fails (all failures in one CI run); the target fails if either did.
test: dev-deps
	@status=0; \
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile tests || status=$$?; \
	$(BIN)/pytest -q e2e || status=$$?; \
	exit $$status

# The database-backed tests only (CI reruns them with PORTAL_TEST_DATABASE_URL on PostgreSQL).
test-db: dev-deps
	$(BIN)/pytest -q -m db -n $(TEST_WORKERS) --dist loadfile tests

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy .

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.http_pages

# The payment endpoints (start, gateway return, IPN, status) against a bare endpoint, in one run.
bench-payments: $(VENV)/.installed-dev
	$(BIN)/python -m bench.http_payments

# The shipping label PDF and the postal operator API's hot paths (in process, SQLite) against baselines (about a minute).
bench-postal: $(VENV)/.installed
	$(BIN)/python -m bench.postal

# /stats and /api/stats for a year of 1 M dossiers on PostgreSQL (database bench_stats on 127.0.0.1:5432, made the
# first time: about 2 minutes; then about 12). Needs psycopg (dev dependencies). Options: ARGS="--dossiers 200000".
bench-stats: $(VENV)/.installed-dev
	$(BIN)/python -m bench.stats $(ARGS)

# Linked applications (submission, the application's page), the document store's ZIP and the daily payment report,
# each against its baseline, on SQLite and on PostgreSQL (database bench_linked on 127.0.0.1:5432, made when missing,
# emptied each run); about 4 minutes. Needs psycopg (dev dependencies). Options: ARGS="--skip-postgres --no-write".
bench-linked: $(VENV)/.installed-dev
	$(BIN)/python -m bench.linked $(ARGS)

# The audit hash chain, each against its baseline, on SQLite and on PostgreSQL (database bench_audit on 127.0.0.1:5432,
# made when missing, emptied each run): commits/s of one-event transactions (chain writer on vs off, 1 and 8 threads),
# `portal audit verify` over 100 000 and 1 000 000 events vs reading the same rows, the partner API's dossier GET
# with and without its read recorded. About 6 minutes. Needs psycopg (dev dependencies). Options: ARGS="--no-write".
bench-audit: $(VENV)/.installed-dev
	$(BIN)/python -m bench.audit $(ARGS)

# Signatures/s of the portal's signing service against a minimal pyHanko loop (about 1½ minutes).
bench-signing: $(VENV)/.installed
	$(BIN)/python -m bench.signing

# Extract translatable strings and merge them into the catalogues.
messages: $(VENV)/.installed-dev
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ --no-location --no-wrap --sort-output -o portal/locale/messages.pot .
	$(BIN)/pybabel update -i portal/locale/messages.pot -d portal/locale --no-fuzzy-matching --no-wrap

clean:
	rm -rf $(VENV) node_modules var e2e/artifacts
