# Backbone Console. `make run` starts everything; `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format browser ldap bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

# python-ldap builds against Debian's OpenLDAP headers: install them (and slapd for the tests) first.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	./scripts/install-ldap.sh
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	./scripts/run.sh

browser:
	./scripts/install-browser.sh

ldap:
	./scripts/install-ldap.sh

# makemigrations and mypy load the settings: on this machine they use the key kept in var/ (settings.py).
lint: export BACKBONE_LOCAL := 1
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	HTTPS=0 $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy .
	./scripts/check-deploy.sh

test: $(VENV)/.installed-dev browser ldap lint
	$(BIN)/python -m pytest

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/overview_latency.py

clean:
	rm -rf $(VENV) var staticfiles
