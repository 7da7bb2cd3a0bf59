# Databricks notebook source
# MAGIC %md
# MAGIC # Train `bir_tax_forecaster`
# MAGIC Backtests the candidates (naive, seasonal naive, 12-month median, Theta, a global gradient-boosting model;
# MAGIC ETS when listed) over the last `origins` months of `gold.bir_features`, each forecasting the next `horizon`
# MAGIC months from the data known at its origin. A model is the champion only if it beats the best baseline
# MAGIC beyond chance (paired block bootstrap over origins); otherwise the best baseline is. The champion's
# MAGIC forecast of the coming months, with p10/p90 from its backtest errors, becomes a new version and takes the
# MAGIC `champion` alias. The same data and configuration again registers nothing.

# COMMAND ----------

dbutils.widgets.text("origins", "12")
dbutils.widgets.text("horizon", "3")
dbutils.widgets.text("candidates", "")
dbutils.widgets.text("experiment", "/Shared/Experiments/BIR_Tax_Forecasting")
dbutils.widgets.text("model_name", "bir_tax_forecaster")
dbutils.widgets.text("chart_dir", "dbfs:/reports/bir_forecast/training")

# COMMAND ----------

import json

from odoolake.config import dbfs_file
from odoolake.ml.backtest import BacktestConfig
from odoolake.ml.candidates import DEFAULT_CANDIDATES
from odoolake.ml.history import ForecastDataError
from odoolake.ml.train import train

listed = tuple(c.strip() for c in dbutils.widgets.get("candidates").split(",") if c.strip())
config = BacktestConfig(horizon=int(dbutils.widgets.get("horizon")), origins=int(dbutils.widgets.get("origins")),
                        candidates=listed or DEFAULT_CANDIDATES)
try:
    result = train(spark, config=config, chart_dir=dbfs_file(dbutils.widgets.get("chart_dir")),
                   experiment=dbutils.widgets.get("experiment"), model_name=dbutils.widgets.get("model_name"))
except ForecastDataError as too_little:
    # A young lakehouse has too little history to train on; the month-end itself must not fail for that.
    print(f"Training skipped: {too_little}")
    dbutils.jobs.taskValues.set(key="trained", value=False)
    dbutils.notebook.exit(json.dumps({"skipped": str(too_little)}))
for name, m in result.metrics.items():
    print(f"{name:>15}: MAE {m['mae']:>12,.0f}  MAPE {m['mape']:.1%}  sMAPE {m['smape']:.1%}  bias {m['bias']:>+12,.0f}"
          f"  p10-p90 coverage {m['coverage']:.0%}")
print(f"{dbutils.widgets.get('model_name')} version {result.version}: {result.decision}")
dbutils.jobs.taskValues.set(key="version", value=result.version)
dbutils.jobs.taskValues.set(key="trained", value=not result.unchanged)
dbutils.notebook.exit(json.dumps({"version": result.version, "unchanged": result.unchanged, "method": result.method}))
