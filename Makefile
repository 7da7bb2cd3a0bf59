# The two README commands: `make demo` and `make test`. Each sets up .venv from the lock file first.
PYTHON ?= python3.11
VENV := .venv
UV := $(VENV)/bin/uv

$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q uv==0.13.8
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen -q --compile-bytecode
	$(VENV)/bin/python -m compileall -q -j 0 src
	touch $@

.PHONY: install demo test bench test-superset parity test-dbconnect test-dbt
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/odoolake demo

test: install
	$(VENV)/bin/ruff check src tests bench scripts addons
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest


bench: install
	$(VENV)/bin/python bench/month_end.py
	$(VENV)/bin/python bench/api.py
	$(VENV)/bin/python bench/serving.py
	$(VENV)/bin/python bench/cold_start.py

# Opt-in: Superset 6.1 in its own venv (it pins SQLAlchemy<2) with its Databricks engine (the SQL connector and the
# SQLAlchemy<2 line of databricks-sqlalchemy), importing the dashboard exports and reading every chart's data.
SUPERSET_VENV := .superset-venv
$(SUPERSET_VENV)/.installed:
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install -q "apache-superset[duckdb]==6.1.0" "flask-caching==2.3.1" rich cachetools \
		"databricks-sql-connector==4.9.0" "databricks-sqlalchemy==1.0.5"
	touch $@

test-superset: install $(SUPERSET_VENV)/.installed
	ODOOLAKE_SUPERSET_VENV=$(abspath $(SUPERSET_VENV)) $(VENV)/bin/pytest tests/integration/test_superset.py

# JVM parity: Apache Spark (local mode, Java 17) in its own venv runs the same notebooks; gold is compared row by row.
JVM_VENV := .jvm-venv
$(JVM_VENV)/.installed:
	$(PYTHON) -m venv $(JVM_VENV)
	$(JVM_VENV)/bin/pip install -q "pyspark==4.3.0" "pandas>=2.2,<3" pyarrow pyyaml holidays orjson
	touch $@

parity: install $(JVM_VENV)/.installed
	ODOOLAKE_JVM_PYTHON=$(abspath $(JVM_VENV))/bin/python $(VENV)/bin/pytest tests/integration/test_parity.py

# Databricks Connect 15.4 (the last line for Python 3.11) in its own venv: it replaces pyspark with Databricks' build.
DBCONNECT_VENV := .dbconnect-venv
$(DBCONNECT_VENV)/.installed:
	$(PYTHON) -m venv $(DBCONNECT_VENV)
	$(DBCONNECT_VENV)/bin/pip install -q "databricks-connect==15.4.26"
	touch $@

test-dbconnect: install $(DBCONNECT_VENV)/.installed
	ODOOLAKE_DBCONNECT_PYTHON=$(abspath $(DBCONNECT_VENV))/bin/python $(VENV)/bin/pytest tests/integration/test_databricks_connect.py

# dbt-databricks in its own venv (dbt pins its own SQL connector) builds dbt/odoolake_marts against the warehouse.
DBT_VENV := .dbt-venv
$(DBT_VENV)/.installed:
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install -q "dbt-core==1.11.8" "dbt-databricks==1.11.8"
	touch $@

test-dbt: install $(DBT_VENV)/.installed
	ODOOLAKE_DBT_VENV=$(abspath $(DBT_VENV)) $(VENV)/bin/pytest tests/integration/test_dbt.py
