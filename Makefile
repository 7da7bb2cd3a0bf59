# The two README commands: `make demo` and `make test`. Each sets up .venv from the lock file first.
PYTHON ?= python3.11
VENV := .venv
UV := $(VENV)/bin/uv

$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q uv==0.13.8
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen -q
	touch $@

.PHONY: install demo test bench
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/odoolake demo

test: install
	$(VENV)/bin/ruff check src tests bench scripts addons
	$(VENV)/bin/pytest


bench: install
	$(VENV)/bin/python bench/month_end.py
	$(VENV)/bin/python bench/serving.py
