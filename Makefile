# Trellis: `make run` starts everything locally; `make test` passes the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit test-integration lint format bench compat chaos clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py server local

test: install
	TRELLIS_HOME=$${TRELLIS_HOME:-$(CURDIR)/.trellis/test} $(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	TRELLIS_HOME=$${TRELLIS_HOME:-$(CURDIR)/.trellis/test} $(PY) -m pytest -m integration; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/run.py

chaos: install
	TRELLIS_HOME=$${TRELLIS_HOME:-$(CURDIR)/.trellis/chaos} $(PY) -m pytest -m chaos tests/chaos

compat: install
	$(PY) manage.py compat --keep-going

clean:
	rm -rf $(VENV) .trellis .pytest_cache
