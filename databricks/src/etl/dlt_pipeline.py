# Databricks notebook source
# MAGIC %md
# MAGIC # scout_dlt: posted Odoo documents with data-quality expectations (DLT)
# MAGIC Runs on Databricks as a Delta Live Tables pipeline, and locally through `odoolake.dlt`.

# COMMAND ----------

import dlt
from pyspark.sql import functions as F

# COMMAND ----------


@dlt.table(comment="Odoo journal entries as received, newest version of each")
@dlt.expect("has_date", "date IS NOT NULL")
def scout_moves():
    moves = spark.table("bronze.odoo_account_move").where("_reject IS NULL")
    return moves.select(
        "id", "name", "move_type", "state", "date", "write_date",
        F.col("partner_id")[0].cast("long").alias("partner_id"),
        F.col("company_id")[1].alias("agency"),
        "amount_total",
    )


@dlt.table(comment="Posted vendor bills and credit notes")
@dlt.expect_or_drop("posted", "state = 'posted'")
@dlt.expect_or_drop("vendor_document", "move_type IN ('in_invoice', 'in_refund')")
@dlt.expect("has_partner", "partner_id IS NOT NULL")
def scout_bills():
    return dlt.read("scout_moves")


@dlt.table(comment="Bills per agency and month")
@dlt.expect_or_fail("known_agency", "agency IS NOT NULL")
def scout_bills_by_agency():
    return (
        dlt.read("scout_bills")
        .groupBy("agency", F.substring("date", 1, 7).alias("period"))
        .agg(F.count(F.lit(1)).alias("bills"), F.round(F.sum("amount_total"), 2).alias("amount_total"))
    )
