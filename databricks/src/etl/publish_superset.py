# Databricks notebook source
# MAGIC %md
# MAGIC # Publish gold for Superset
# MAGIC `gold.bir_transactions`, `gold.ewt_by_atc`, `gold.bir_forecast` and `gold.filing_calendar` into one DuckDB
# MAGIC file (storage v1.4.0, which Superset 6.1's DuckDB reads), replaced atomically. Import the dashboard with
# MAGIC `odoolake superset export` then `superset import-dashboards -p <zip> -u admin`.

# COMMAND ----------

dbutils.widgets.text("target", "dbfs:/superset/gold.duckdb")

# COMMAND ----------

from odoolake.config import dbfs_file
from odoolake.superset.publish import publish

result = publish(spark, dbfs_file(dbutils.widgets.get("target")))
print(f"{result.path}: " + ", ".join(f"{t} {n:,}" for t, n in result.tables.items())
      + (f" (not built yet: {', '.join(result.missing)})" if result.missing else ""))
