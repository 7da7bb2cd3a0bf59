# Databricks notebook source
# MAGIC %md
# MAGIC # Gold aggregation: `gold.bir_transactions`, `gold.ewt_by_atc`

# COMMAND ----------

from odoolake.pipeline import gold

periods = gold.run(spark)
print(f"periods rebuilt: {periods}")

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT agency, SUM(withholding_tax) AS total_wht
# MAGIC FROM gold.bir_transactions
# MAGIC WHERE year = year(add_months(current_date(), -1)) AND month = month(add_months(current_date(), -1))
# MAGIC GROUP BY agency
