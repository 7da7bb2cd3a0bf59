# Databricks notebook source
# MAGIC %md
# MAGIC # Features: `gold.bir_features`
# MAGIC One row per agency and month (gaps filled with zero) with the previous month's and the same month last
# MAGIC year's withholding tax, the month's creditable tax withheld from the agency and its net VAT.

# COMMAND ----------

from odoolake.pipeline import gold

rows = gold.refresh_features(spark)
print(f"gold.bir_features: {rows} rows")
