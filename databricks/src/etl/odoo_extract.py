# Databricks notebook source
# MAGIC %md
# MAGIC # Odoo extract → `dbfs:/raw/odoo`
# MAGIC Incremental, checkpointed extraction of `res.company`, `res.partner`, `account.tax`, `account.move` and
# MAGIC `account.move.line` (JSON-2 on Odoo 19+, JSON-RPC on 16-18). Changed moves come with all their lines;
# MAGIC moves deleted in Odoo become tombstones. The API key comes from the secret scope (`odoo/api_key`) or
# MAGIC `ODOO_API_KEY`, and is never printed. Without an Odoo connection the task says so and bronze ingests the
# MAGIC raw drops already there (generated data, or files delivered another way).

# COMMAND ----------

dbutils.widgets.text("raw_root", "dbfs:/raw/odoo")
dbutils.widgets.text("odoo_url", "")
dbutils.widgets.text("odoo_db", "")
dbutils.widgets.text("odoo_login", "")
dbutils.widgets.text("secret_scope", "odoo")

# COMMAND ----------

import json

from odoolake.config import dbfs_file
from odoolake.odoo import OdooClient
from odoolake.odoo.client import settings_from_notebook
from odoolake.odoo.extract import Extractor

settings = settings_from_notebook(dbutils)
if settings is None:
    print("Odoo extraction skipped: no Odoo connection configured (odoo_url / ODOO_URL and the secret odoo/api_key "
          "or ODOO_API_KEY). Bronze ingests the raw drops already in " + dbutils.widgets.get("raw_root") + ".")
    dbutils.jobs.taskValues.set(key="extracted", value=False)
    dbutils.notebook.exit(json.dumps({"skipped": "no Odoo connection configured"}))

client = OdooClient(settings)
raw_dir = dbfs_file(dbutils.widgets.get("raw_root"))
result = Extractor(client, raw_dir).run_against_lake(spark)
print(f"{client!r}: batch {result.batch}: " + ", ".join(f"{m} {n}" for m, n in result.rows.items())
      + (f"; deleted {result.deleted}" if result.deleted else "")
      + (f"; {result.repointed} move(s) read again for merged partners" if result.repointed else ""))
dbutils.jobs.taskValues.set(key="extracted", value=True)
dbutils.notebook.exit(json.dumps({"batch": result.batch, "rows": result.rows, "deleted": result.deleted,
                                  "repointed": result.repointed}))
