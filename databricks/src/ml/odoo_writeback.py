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
import os
from datetime import UTC, datetime

from odoolake.odoo import OdooClient, OdooSettings
from odoolake.odoo.writeback import predictions_from_lake, push_predictions
from odoolake.pipeline import io


def secret(key):
    try:
        return dbutils.secrets.get(dbutils.widgets.get("secret_scope"), key)
    except Exception:
        return None


url = dbutils.widgets.get("odoo_url") or os.environ.get("ODOO_URL") or secret("url")
api_key = secret("api_key") or os.environ.get("ODOO_API_KEY")
if not url or not api_key or not io.table_exists(spark, "gold.bir_forecast"):
    reason = "no Odoo connection configured" if not url or not api_key else "gold.bir_forecast does not exist yet"
    print(f"Write-back skipped: {reason}.")
    dbutils.notebook.exit(json.dumps({"skipped": reason}))

client = OdooClient(OdooSettings.from_env(url=url, api_key=api_key, database=dbutils.widgets.get("odoo_db") or None,
                                          login=dbutils.widgets.get("odoo_login") or None))
result = push_predictions(client, predictions_from_lake(spark), now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"))
print(f"written {len(result.written)}, unchanged {len(result.unchanged)}, skipped {len(result.skipped)}")
for record_id, why in sorted(result.skipped.items())[:20]:
    print(f"  schedule {record_id}: {why}")
dbutils.notebook.exit(json.dumps({"written": len(result.written), "unchanged": len(result.unchanged),
                                  "skipped": len(result.skipped)}))
