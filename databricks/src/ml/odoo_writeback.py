# Databricks notebook source
# MAGIC %md
# MAGIC # Write the forecast back to Odoo
# MAGIC `gold.bir_forecast` → `ipai.finance.bir_schedule.lake_predicted_tax` (the `ipai_finance_ppm` addon), for each
# MAGIC schedule's company and period. Only changed values are written, so re-running changes nothing.

# COMMAND ----------

dbutils.widgets.text("odoo_url", "")
dbutils.widgets.text("odoo_db", "")
dbutils.widgets.text("odoo_login", "")
dbutils.widgets.text("secret_scope", "odoo")

# COMMAND ----------

import json
from datetime import UTC, datetime

from odoolake.odoo import OdooClient
from odoolake.odoo.client import settings_from_notebook
from odoolake.odoo.writeback import predictions_from_lake, push_predictions, skipped_lines
from odoolake.pipeline import io

settings = settings_from_notebook(dbutils)
if settings is None or not io.table_exists(spark, "gold.bir_forecast"):
    reason = "no Odoo connection configured" if settings is None else "gold.bir_forecast does not exist yet"
    print(f"Write-back skipped: {reason}.")
    dbutils.notebook.exit(json.dumps({"skipped": reason}))

client = OdooClient(settings)
result = push_predictions(client, predictions_from_lake(spark), now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"))
print(f"written {len(result.written)}, unchanged {len(result.unchanged)}, skipped {len(result.skipped)}")
print("\n".join(skipped_lines(result, limit=20)))
dbutils.notebook.exit(json.dumps({"written": len(result.written), "unchanged": len(result.unchanged),
                                  "skipped": len(result.skipped)}))
