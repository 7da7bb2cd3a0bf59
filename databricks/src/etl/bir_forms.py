# Databricks notebook source
# MAGIC %md
# MAGIC # BIR forms: `gold.form_2307`, `gold.qap`, `gold.sawt`, `gold.slsp`, `gold.remittances`, `gold.filing_calendar`
# MAGIC Rebuilds every quarter whose gold changed since the forms last ran (the forms keep their own batch log, so a
# MAGIC month-end run from another entry point is caught up here), then fails the task if any quarter's form totals
# MAGIC differ from `gold.bir_transactions`.

# COMMAND ----------

from odoolake.pipeline import forms

quarters = forms.run(spark)
print(f"quarters rebuilt: {quarters}")
forms.check_in_step(spark)
print("form totals agree with gold for every quarter")
