# Databricks notebook source
# MAGIC %md
# MAGIC # Train `bir_tax_forecaster`
# MAGIC Trains the seasonal naive baseline, the seed's random forest and a ridge regression on the earlier months of
# MAGIC `gold.bir_features`, scores them on the latest `test_months`, registers the best as a new version and moves
# MAGIC the `champion` alias only if it beats both the baseline and the current champion on that holdout.

# COMMAND ----------

dbutils.widgets.text("test_months", "3")
dbutils.widgets.text("experiment", "/Shared/Experiments/BIR_Tax_Forecasting")
dbutils.widgets.text("model_name", "bir_tax_forecaster")
dbutils.widgets.text("chart_dir", "dbfs:/reports/bir_forecast/training")

# COMMAND ----------

import json

from odoolake.config import dbfs_file
from odoolake.ml.dataset import ForecastDataError
from odoolake.ml.train import train

try:
    result = train(spark, test_months=int(dbutils.widgets.get("test_months")),
                   chart_dir=dbfs_file(dbutils.widgets.get("chart_dir")),
                   experiment=dbutils.widgets.get("experiment"), model_name=dbutils.widgets.get("model_name"))
except ForecastDataError as too_little:
    # A young lakehouse has too little history to train on; the month-end itself must not fail for that.
    print(f"Training skipped: {too_little}")
    dbutils.jobs.taskValues.set(key="promoted", value=False)
    dbutils.notebook.exit(json.dumps({"skipped": str(too_little)}))
summary = result.summary()
print(json.dumps(summary, indent=2))
for name, r in result.results.items():
    m = r.metrics
    print(f"{name:>15}: MAE {m['mae']:>12,.2f}  MAPE {m['mape']:.1%}  R² {m['r2']:.3f}  (MAE/naive {m['mae_vs_naive']:.2f})")
print(f"{dbutils.widgets.get('model_name')} version {result.version}: {result.decision}")
dbutils.jobs.taskValues.set(key="version", value=result.version)
dbutils.jobs.taskValues.set(key="promoted", value=result.promoted)
dbutils.notebook.exit(json.dumps({"version": result.version, "promoted": result.promoted,
                                  "champion_version": result.champion_version}))
