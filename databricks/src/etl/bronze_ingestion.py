# Databricks notebook source
# MAGIC %md
# MAGIC # Bronze ingestion: Odoo raw drops → `bronze.odoo_*`
# MAGIC New files under `raw_root` (one folder per Odoo model) are validated and appended; files already
# MAGIC ingested are skipped. Bad lines go to `silver.quarantine`.

# COMMAND ----------

dbutils.widgets.text("raw_root", "dbfs:/raw/odoo")
raw_root = dbutils.widgets.get("raw_root")

# COMMAND ----------

from odoolake.pipeline import bronze


def list_files(uri):
    try:
        return [f.path for f in dbutils.fs.ls(uri)]
    except Exception:  # the folder does not exist yet
        return []


result = bronze.ingest(spark, raw_root, list_files)
print(f"new batches: {result.new_batches}; rows: {result.rows}; rejected: {result.rejected}")
dbutils.jobs.taskValues.set(key="new_batches", value=result.new_batches)
