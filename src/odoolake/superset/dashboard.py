"""A Superset dashboard export over gold: the workspace's SQL warehouse through Superset's own Databricks engine
(``databricks://`` with the Databricks SQL connector), or, offline, a DuckDB file gold was published to.

The ZIP holds one top-level folder with ``metadata.yaml``, ``databases/``, ``datasets/``, ``charts/`` and
``dashboards/``. UUIDs are uuid5 of stable names, so importing it again overwrites instead of duplicating.
Datasets are physical tables, or SQL over them where a date column is needed; every chart names its dataset and
carries its query context (the datasource named by the dataset's uuid, which survives the import), so Superset's
``GET /api/v1/chart/{id}/data`` (reports, alerts, thumbnails) answers without the chart being opened and saved.
The warehouse's token is not written: the URI holds Superset's password mask, and the import supplies the token
(``POST /api/v1/dashboard/import/`` with ``passwords``), as Superset's own exports do.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = uuid.UUID("6f1c6a52-4a52-4c55-9a0e-0d00d1a4e000")
ROOT = "odoolake_bir_export"
WAREHOUSE_DATABASE, OFFLINE_DATABASE = "odoolake_warehouse", "odoolake_gold"
TITLE = "BIR withholding"
PASSWORD_MASK = "XXXXXXXXXX"  # Superset's own mask for a password it leaves out of an export
WAREHOUSE_CATALOG, WAREHOUSE_SCHEMA = "main", "gold"


@dataclass(frozen=True)
class Target:
    """The database Superset reads gold from: its name (every uuid of the export derives from it, so the warehouse
    and the offline exports live side by side in one Superset), SQLAlchemy URI, engine parameters, gold's schema."""
    database: str
    uri: str
    schema: str
    extra: dict[str, Any]
    title: str = TITLE

    @property
    def database_file(self) -> str:
        """The database's file in the export: the key of the import's ``passwords``."""
        return f"databases/{self.database}.yaml"

    def uuid(self, kind: str, name: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.database}:{kind}:{name}"))


def warehouse_target(host: str, port: int, http_path: str, ca_file: str | None = None) -> Target:
    """The workspace's SQL warehouse through Superset's Databricks engine (its ``databricks://`` URI). The dialect
    ignores the URI's port and the connector trusts only public CAs, so both go in ``connect_args``."""
    connect_args: dict[str, Any] = {"_port": port, "enable_telemetry": False}  # telemetry would go to port 443
    if ca_file:
        connect_args["_tls_trusted_ca_file"] = ca_file
    return Target(WAREHOUSE_DATABASE, f"databricks://token:{PASSWORD_MASK}@{host}:{port}?http_path={http_path}"
                  f"&catalog={WAREHOUSE_CATALOG}&schema={WAREHOUSE_SCHEMA}", WAREHOUSE_SCHEMA,
                  {"engine_params": {"connect_args": connect_args}})


def duckdb_target(db_path: Path) -> Target:
    """Offline: the DuckDB file ``odoolake superset publish`` wrote (a copy of gold, read-only)."""
    return Target(OFFLINE_DATABASE, f"duckdb:///{db_path.resolve()}", "main",
                  {"engine_params": {"connect_args": {"read_only": True}}}, f"{TITLE} (offline copy)")


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: dict[str, str]  # name -> type
    sql: str | None = None  # None: the physical table of the same name
    metrics: dict[str, str] = field(default_factory=dict)  # name -> SQL expression
    dttm: str | None = None


DATASETS = (
    Dataset("bir_transactions", {"period": "VARCHAR", "year": "INTEGER", "month": "INTEGER", "agency": "VARCHAR",
                                 "withholding_tax": "DOUBLE", "vat": "DOUBLE", "income_tax": "DOUBLE",
                                 "lines": "BIGINT"},
            metrics={"withholding_tax": "SUM(withholding_tax)", "vat": "SUM(vat)"}),
    Dataset("wht_by_month", {"agency": "VARCHAR", "month": "DATE", "withholding_tax": "DOUBLE", "vat": "DOUBLE"},
            sql="SELECT agency, make_date(year, month, 1) AS month, withholding_tax, vat FROM {schema}.bir_transactions",
            metrics={"withholding_tax": "SUM(withholding_tax)"}, dttm="month"),
    Dataset("ewt_by_atc", {"period": "VARCHAR", "agency": "VARCHAR", "regime": "VARCHAR", "atc": "VARCHAR",
                           "rate": "DOUBLE", "base": "DOUBLE", "tax_withheld": "DOUBLE", "lines": "BIGINT"},
            metrics={"tax_withheld": "SUM(tax_withheld)", "base": "SUM(base)"}),
    Dataset("forecast_vs_actual", {"agency": "VARCHAR", "month": "DATE", "actual": "DOUBLE", "forecast": "DOUBLE",
                                   "model_version": "VARCHAR"},
            sql="SELECT agency, make_date(year, month, 1) AS month, withholding_tax AS actual, "
                "predicted_wht AS forecast, model_version FROM {schema}.bir_forecast "
                "WHERE kind = 'forecast' OR horizon = 1",  # one forecast per month: the next ones, and 1-ahead past
            metrics={"actual": "SUM(actual)", "forecast": "SUM(forecast)"}, dttm="month"),
)


@dataclass(frozen=True)
class Chart:
    name: str
    dataset: str
    viz_type: str
    params: dict[str, Any]
    width: int = 6


CHARTS = (
    Chart("Total withholding tax", "bir_transactions", "big_number_total",
          {"metric": "withholding_tax", "subheader": "PHP, all agencies and months"}, 3),
    Chart("Withholding tax by agency", "bir_transactions", "echarts_timeseries_bar",
          {"x_axis": "agency", "metrics": ["withholding_tax"], "groupby": [], "orientation": "horizontal"}, 9),
    Chart("Withholding tax by month", "wht_by_month", "echarts_timeseries_bar",
          {"x_axis": "month", "time_grain_sqla": "P1M", "metrics": ["withholding_tax"], "groupby": ["agency"],
           "stack": "Stack"}, 12),
    Chart("EWT by ATC", "ewt_by_atc", "table",
          {"query_mode": "aggregate", "groupby": ["atc", "regime"], "metrics": ["tax_withheld", "base"],
           "order_desc": True}, 6),
    Chart("Forecast vs actual", "forecast_vs_actual", "echarts_timeseries_line",
          {"x_axis": "month", "time_grain_sqla": "P1M", "metrics": ["actual", "forecast"], "groupby": []}, 6),
)


def _database(target: Target) -> dict[str, Any]:
    return {"database_name": target.database, "sqlalchemy_uri": target.uri, "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_file_upload": False, "impersonate_user": False,
            "extra": {"allows_virtual_table_explore": True, **target.extra},
            "uuid": target.uuid("database", target.database), "version": "1.0.0"}


def _dataset(ds: Dataset, target: Target) -> dict[str, Any]:
    schema = target.schema
    return {
        "table_name": ds.name, "main_dttm_col": ds.dttm, "description": None, "default_endpoint": None, "offset": 0,
        "cache_timeout": None, "schema": schema, "sql": ds.sql.format(schema=schema) if ds.sql else None,
        "params": None, "template_params": None,
        "filter_select_enabled": True, "fetch_values_predicate": None, "extra": None, "normalize_columns": False,
        "always_filter_main_dttm": False, "uuid": target.uuid("dataset", ds.name),
        "metrics": [{"metric_name": name, "verbose_name": name.replace("_", " "), "metric_type": None,
                     "expression": expr, "description": None, "d3format": ",.2f", "currency": None, "extra": {},
                     "warning_text": None} for name, expr in ds.metrics.items()],
        "columns": [{"column_name": col, "verbose_name": None, "is_dttm": col == ds.dttm, "is_active": True,
                     "type": kind, "advanced_data_type": None, "groupby": True, "filterable": True,
                     "expression": None, "description": None, "python_date_format": None, "extra": {}}
                    for col, kind in ds.columns.items()],
        "version": "1.0.0", "database_uuid": target.uuid("database", target.database),
    }


def _query(chart: Chart, params: dict[str, Any]) -> dict[str, Any]:
    """The query Superset's chart-data API runs for the chart, as its explore view saves it: the x axis (time
    grain applied) and group-by columns, the saved metrics, the row limit; tables sort by their first metric."""
    metrics = params.get("metrics") or [params["metric"]]
    columns: list[Any] = []
    if x_axis := params.get("x_axis"):
        columns.append({"columnType": "BASE_AXIS", "expressionType": "SQL", "sqlExpression": x_axis,
                        "label": x_axis, **({"timeGrain": params["time_grain_sqla"]}
                                           if params.get("time_grain_sqla") else {})})
    columns += params.get("groupby") or []
    query: dict[str, Any] = {"columns": columns, "metrics": metrics, "filters": [], "extras": {"where": "",
                             "having": ""}, "row_limit": params["row_limit"], "series_limit": 0,
                             "orderby": [[metrics[0], False]] if params.get("order_desc") else [],
                             "annotation_layers": [], "url_params": {}, "custom_params": {},
                             "custom_form_data": {}}
    return query


def _query_context(chart: Chart, params: dict[str, Any], target: Target) -> str:
    datasource = {"id": target.uuid("dataset", chart.dataset), "type": "table"}
    return json.dumps({"datasource": datasource, "force": False, "queries": [_query(chart, params)],
                       "form_data": {**params, "datasource": f"{datasource['id']}__table"},
                       "result_format": "json", "result_type": "full"})


def _chart(chart: Chart, target: Target) -> dict[str, Any]:
    params = {"viz_type": chart.viz_type, "adhoc_filters": [], "row_limit": 10000, **chart.params}
    return {"slice_name": chart.name, "description": None, "certified_by": None, "certification_details": None,
            "viz_type": chart.viz_type, "params": params, "query_context": _query_context(chart, params, target),
            "cache_timeout": None,
            "uuid": target.uuid("chart", chart.name), "version": "1.0.0",
            "dataset_uuid": target.uuid("dataset", chart.dataset)}


def _dashboard(target: Target) -> dict[str, Any]:
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": f"{target.title} (odoolake gold)"}},
    }
    row, used = 0, 12
    for i, chart in enumerate(CHARTS, start=1):
        if used + chart.width > 12:
            row += 1
            used = 0
            position["GRID_ID"]["children"].append(f"ROW-{row}")
            position[f"ROW-{row}"] = {"type": "ROW", "id": f"ROW-{row}", "children": [],
                                      "parents": ["ROOT_ID", "GRID_ID"], "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        key = f"CHART-{i}"
        position[f"ROW-{row}"]["children"].append(key)
        position[key] = {"type": "CHART", "id": key, "children": [], "parents": ["ROOT_ID", "GRID_ID", f"ROW-{row}"],
                         "meta": {"width": chart.width, "height": 50, "chartId": i, "sliceName": chart.name,
                                  "uuid": target.uuid("chart", chart.name)}}
        used += chart.width
    return {"dashboard_title": target.title, "description": None, "css": "", "slug": f"{target.database}-bir",
            "certified_by": None, "certification_details": None, "published": True,
            "uuid": target.uuid("dashboard", "bir"), "position": position,
            "metadata": {"native_filter_configuration": [], "cross_filters_enabled": True, "refresh_frequency": 0,
                         "color_scheme": "", "label_colors": {}, "shared_label_colors": [],
                         "timed_refresh_immune_slices": [], "expanded_slices": {}, "default_filters": "{}",
                         "chart_configuration": {}},
            "version": "1.0.0"}


def _file(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def export_dashboard(target: Target, out_zip: Path) -> Path:
    """Write the export of the dashboard over ``target`` (the warehouse, or a published DuckDB file)."""
    files = {f"{ROOT}/metadata.yaml": {"version": "1.0.0", "type": "Dashboard",
                                       "timestamp": "2026-11-26T00:00:00+00:00"},
             f"{ROOT}/{target.database_file}": _database(target)}
    for ds in DATASETS:
        files[f"{ROOT}/datasets/{target.database}/{ds.name}.yaml"] = _dataset(ds, target)
    for chart in CHARTS:
        files[f"{ROOT}/charts/{_file(chart.name)}.yaml"] = _chart(chart, target)
    files[f"{ROOT}/dashboards/BIR_withholding.yaml"] = _dashboard(target)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    return out_zip
