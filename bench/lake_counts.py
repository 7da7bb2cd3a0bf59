"""Row counts of a month-end's tables, to compare the pipeline with the honest floor (``floor_honest.counts``)."""

from __future__ import annotations

from floor_honest import COUNTED

from odoolake.pipeline import io
from odoolake.pipeline.schemas import RAW_MODELS

TABLES = {"moves": io.SILVER_MOVES, "move_lines": io.SILVER_LINES, "tax_lines": io.TAX_LINES,
          "ewt_lines": io.EWT_LINES, "vat_lines": io.VAT_LINES, "partners": io.SILVER_PARTNERS,
          "ewt_by_atc": io.EWT_BY_ATC, "form_2307": "gold.form_2307", "qap": "gold.qap", "sawt": "gold.sawt",
          "slsp": "gold.slsp"}
assert set(TABLES) == set(COUNTED)


def pipeline_counts(spark) -> dict[str, int]:
    out = {key: spark.table(name).count() for key, name in TABLES.items()}
    for model in RAW_MODELS:
        out[f"bronze.{model.name}"] = spark.table(model.bronze_table).count()
    for row in spark.table(io.QUARANTINE).groupBy("stage", "reason").count().collect():
        out[f"quarantine.{row['stage']}.{row['reason']}"] = row["count"]
    return out
