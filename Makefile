# Two commands: `make run` serves the platform, `make test` runs the suite. Both set up what they
# need first (virtualenv, packages, compiled translations, database), so a fresh clone just works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test setup lint schema messages clean browser-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

messages: $(STAMP)
	$(BIN)/pybabel compile -d core/translations

setup: $(STAMP) messages

run: setup
	$(BIN)/qi db upgrade
	$(BIN)/qi demo --if-empty
	$(BIN)/qi run --host $(HOST) --port $(PORT)

# Debian's Chromium drives the browser tests; installed here when missing (never `playwright install`).
browser-deps:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || echo "could not install chromium: browser tests will skip (and fail under CI=true)"; }

test: setup browser-deps
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

schema: setup
	$(BIN)/qi export-schema

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
