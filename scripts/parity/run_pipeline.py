"""Run the bundle's month-end notebooks on one engine and dump what came out, for the parity comparison.

    python scripts/parity/run_pipeline.py --engine sail|jvm --raw-root DIR --home DIR --out FILE.json

``sail``: the embedded engine with Delta tables. ``jvm``: Apache Spark in local mode (``pip install pyspark``,
Java 17) writing parquet tables (``ODOOLAKE_TABLE_FORMAT=parquet``), since Delta jars cannot be fetched here.
The notebooks and the pipeline code are the same files on both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("bronze_ingestion", "silver_cleaning", "gold_aggregation", "bir_forms", "features")
TABLES = {
    "gold.bir_transactions": ["agency", "period"],
    "gold.ewt_by_atc": ["agency", "period", "regime", "atc_status", "atc", "rate"],
    "gold.bir_features": ["agency", "period"],
    "gold.qap": ["agency", "quarter", "regime", "payee_key", "atc", "rate"],
    "gold.remittances": ["agency", "form", "period"],
}


def session(engine: str, home: Path):
    if engine == "sail":
        from odoolake.workspace.engine import LocalEngine

        return LocalEngine.start(home).session()
    from pyspark.sql import SparkSession

    os.environ["ODOOLAKE_TABLE_FORMAT"] = "parquet"
    return (SparkSession.builder.master("local[2]").appName("odoolake-parity")
            .config("spark.sql.warehouse.dir", str(home / "spark-warehouse"))
            .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "2g").getOrCreate())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("sail", "jvm"), required=True)
    parser.add_argument("--raw-root", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.notebooks import run_notebook

    home = Path(args.home)
    paths = WorkspacePaths.from_env(home).ensure()
    spark = session(args.engine, home)
    values: dict = {}
    for name in NOTEBOOKS:
        run_notebook(REPO / "databricks" / "src" / "etl" / f"{name}.py", spark, paths,
                     {"raw_root": Path(args.raw_root).resolve().as_uri()}, values, name)
    out: dict = {"engine": args.engine, "spark_version": spark.version, "tables": {}}
    for table, keys in TABLES.items():
        rows = [r.asDict() for r in spark.table(table).collect()]
        out["tables"][table] = sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))
    quarantine = spark.sql("SELECT reason, action, stage, COUNT(*) AS n FROM silver.quarantine "
                           "GROUP BY reason, action, stage").collect()
    out["quarantine"] = sorted([r.asDict() for r in quarantine], key=lambda r: (r["reason"], r["stage"]))
    out["counts"] = {t: spark.table(t).count() for t in ("silver.ewt_lines", "silver.vat_lines", "silver.moves",
                                                           "silver.move_lines", "silver.tax_lines")}
    Path(args.out).write_text(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
