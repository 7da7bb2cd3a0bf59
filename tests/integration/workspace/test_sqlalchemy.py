"""The ``databricks-sqlalchemy`` dialect (unmodified, on the SQL connector) against the local SQL warehouse: the URL
``databricks://token:…@host?http_path=…&catalog=…&schema=…`` connects; reflection (schemas, tables, columns, keys)
and queries work. The dialect ignores the URL's port (it always connects to 443), so a workspace on another port
is named with ``connect_args={"_port": …}``, as Superset's ``engine_params`` can."""

from __future__ import annotations

import decimal

import pytest
import sqlalchemy as sa

from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID


@pytest.fixture(scope="module")
def engine(server):
    with server.workspace.engine.spark() as spark:
        spark.sql("CREATE SCHEMA IF NOT EXISTS alchemy")
        spark.sql("CREATE OR REPLACE TABLE alchemy.remittances (agency STRING, period STRING, amount DECIMAL(18,2))")
        spark.sql("INSERT INTO alchemy.remittances VALUES ('RIM', '2026-01', 1200.50), ('BOM', '2026-01', 99.95), "
                  "('RIM', '2026-02', 10.00)")
    port = int(server.url.rsplit(":", 1)[1])
    url = (f"databricks://token:{server.token}@127.0.0.1?http_path=/sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}"
           "&catalog=main&schema=alchemy")
    engine = sa.create_engine(url, connect_args={"_port": port, "_tls_trusted_ca_file": server.ca_bundle,
                                                 "enable_telemetry": False})
    yield engine
    engine.dispose()


def test_reflection_names_schemas_tables_and_columns(engine):
    inspector = sa.inspect(engine)
    assert "alchemy" in inspector.get_schema_names()
    assert "remittances" in inspector.get_table_names("alchemy")
    assert inspector.has_table("remittances", schema="alchemy") and not inspector.has_table("nope", schema="alchemy")
    columns = {c["name"]: c["type"] for c in inspector.get_columns("remittances", schema="alchemy")}
    assert list(columns) == ["agency", "period", "amount"]
    assert isinstance(columns["amount"], sa.Numeric) and (columns["amount"].precision, columns["amount"].scale) == (18, 2)
    assert inspector.get_pk_constraint("remittances", schema="alchemy")["constrained_columns"] == []


def test_queries_with_bound_parameters(engine):
    table = sa.Table("remittances", sa.MetaData(), autoload_with=engine, schema="alchemy")
    query = sa.select(table.c.agency, sa.func.sum(table.c.amount).label("total")) \
        .where(table.c.period >= sa.bindparam("since")).group_by(table.c.agency).order_by(table.c.agency)
    with engine.connect() as conn:
        rows = conn.execute(query, {"since": "2026-01"}).all()
    assert [(r.agency, r.total) for r in rows] == [("BOM", decimal.Decimal("99.95")), ("RIM", decimal.Decimal("1210.50"))]
