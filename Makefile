# The two README commands: `make demo` and `make test`. Each sets up .venv from the lock file first.
PYTHON ?= python3.11
VENV := .venv
UV := $(VENV)/bin/uv

$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q uv==0.13.8
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen -q
	touch $@

.PHONY: install demo test bench test-superset
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/odoolake demo

test: install
	$(VENV)/bin/ruff check src tests bench scripts addons
	$(VENV)/bin/pytest


bench: install
	$(VENV)/bin/python bench/month_end.py
	$(VENV)/bin/python bench/serving.py

# Opt-in: Superset 6.1 in its own venv (it pins SQLAlchemy<2), importing the dashboard export and querying it.
SUPERSET_VENV := .superset-venv
$(SUPERSET_VENV)/.installed:
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install -q "apache-superset[duckdb]==6.1.0" "flask-caching==2.3.1" rich cachetools
	touch $@

test-superset: install $(SUPERSET_VENV)/.installed
	ODOOLAKE_SUPERSET_VENV=$(abspath $(SUPERSET_VENV)) $(VENV)/bin/pytest tests/integration/test_superset.py
