# Databricks notebook source
# MAGIC %md
# MAGIC # Score with the champion: `gold.bir_forecast`
# MAGIC The champion version's forecast of the coming months (p10/p50/p90) and its backtest forecasts beside the
# MAGIC actuals, marked by `kind`, with one chart per agency.

# COMMAND ----------

dbutils.widgets.text("chart_dir", "dbfs:/reports/bir_forecast/latest")
dbutils.widgets.text("model_name", "bir_tax_forecaster")

# COMMAND ----------

import json

from odoolake.config import dbfs_file
from odoolake.ml.history import ForecastDataError
from odoolake.ml.scoring import score

try:
    result = score(spark, chart_dir=dbfs_file(dbutils.widgets.get("chart_dir")),
                   model_name=dbutils.widgets.get("model_name"))
except ForecastDataError as nothing_to_score:
    print(f"Scoring skipped: {nothing_to_score}")
    dbutils.notebook.exit(json.dumps({"skipped": str(nothing_to_score)}))
print(f"gold.bir_forecast: {result.rows} rows from version {result.version} ({result.method})")
print("charts:", ", ".join(str(p) for p in result.charts))

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT agency, period, predicted_wht_p10, predicted_wht, predicted_wht_p90, model_version
# MAGIC FROM gold.bir_forecast WHERE kind = 'forecast' ORDER BY period, agency
