# Databricks notebook source
# MAGIC %md
# MAGIC # Score with the champion: `gold.bir_forecast`
# MAGIC Predicted withholding tax for every agency-month with both lags, beside the actual, with one
# MAGIC forecast-vs-actual chart per agency.

# COMMAND ----------

dbutils.widgets.text("chart_dir", "dbfs:/reports/bir_forecast/latest")
dbutils.widgets.text("model_name", "bir_tax_forecaster")

# COMMAND ----------

import json

from odoolake.config import dbfs_file
from odoolake.ml.dataset import ForecastDataError
from odoolake.ml.scoring import score

try:
    result = score(spark, chart_dir=dbfs_file(dbutils.widgets.get("chart_dir")),
                   model_name=dbutils.widgets.get("model_name"))
except ForecastDataError as nothing_to_score:
    print(f"Scoring skipped: {nothing_to_score}")
    dbutils.notebook.exit(json.dumps({"skipped": str(nothing_to_score)}))
print(f"gold.bir_forecast: {result.rows} rows scored with version {result.version}")
print("charts:", ", ".join(str(p) for p in result.charts))

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT agency, period, withholding_tax, predicted_wht, abs_error
# MAGIC FROM gold.bir_forecast ORDER BY period DESC, agency LIMIT 16
