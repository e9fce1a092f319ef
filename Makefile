# The README's two commands: `make run` and `make test`. Everything else builds on them.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DB ?= data/cleared.db
DEMO := data/demo

.PHONY: run test lint typecheck bench demo clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(DEMO)/catalog.csv: | $(VENV)/.installed
	$(PY) -m lib demo $(DEMO)

demo: $(VENV)/.installed $(DEMO)/catalog.csv
	$(PY) -m lib --db $(DB) ingest $(DEMO)/catalog.csv

# Until the HTTP API exists: build the demo catalog, then identify damaged excerpts of it.
run: demo
	$(PY) -m lib.showcase --db $(DB)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check lib tests bench main.py
	$(VENV)/bin/ruff format --check lib tests bench main.py

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy lib

test: lint typecheck
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) data bench/work .pytest_cache .mypy_cache .ruff_cache
