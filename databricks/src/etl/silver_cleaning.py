# Databricks notebook source
# MAGIC %md
# MAGIC # Silver cleaning: current journal state, EWT/VAT lines and quarantine
# MAGIC Processes the bronze batches silver has not seen; only the periods they touch are rewritten.

# COMMAND ----------

dbutils.widgets.dropdown("full_refresh", "false", ["true", "false"])
full_refresh = dbutils.widgets.get("full_refresh") == "true"

# COMMAND ----------

from odoolake.pipeline import silver

result = silver.run(spark, full_refresh=full_refresh)
print(f"batches: {result.batches}; periods rebuilt: {result.periods}")
dbutils.jobs.taskValues.set(key="periods", value=result.periods)
