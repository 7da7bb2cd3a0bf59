# Databricks notebook source
# MAGIC %md
# MAGIC # BIR forms: `gold.form_2307`, `gold.qap`, `gold.sawt`, `gold.slsp`, `gold.filing_calendar`
# MAGIC Rebuilds the quarters whose months silver changed in this run (or every quarter with data).

# COMMAND ----------

from odoolake.pipeline import forms

# Run inside the job: the months silver rebuilt. Run on its own: every quarter with data.
periods = dbutils.jobs.taskValues.get(taskKey="silver_cleaning", key="periods", default="ALL")
quarters = forms.run(spark, None if periods == "ALL" else periods)
print(f"quarters rebuilt: {quarters}")
