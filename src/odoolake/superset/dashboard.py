"""A Superset dashboard export (``superset import-dashboards -p <zip> -u admin``) over the published gold file.

The ZIP holds one top-level folder with ``metadata.yaml``, ``databases/``, ``datasets/``, ``charts/`` and
``dashboards/``. UUIDs are uuid5 of stable names, so importing it again overwrites instead of duplicating.
Datasets are physical tables, or SQL over them where a date column is needed; every chart names its dataset.
"""

from __future__ import annotations

import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = uuid.UUID("6f1c6a52-4a52-4c55-9a0e-0d00d1a4e000")
ROOT = "odoolake_bir_export"
DATABASE = "odoolake_gold"


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{name}"))


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
            sql="SELECT agency, make_date(year, month, 1) AS month, withholding_tax, vat FROM main.bir_transactions",
            metrics={"withholding_tax": "SUM(withholding_tax)"}, dttm="month"),
    Dataset("ewt_by_atc", {"period": "VARCHAR", "agency": "VARCHAR", "regime": "VARCHAR", "atc": "VARCHAR",
                           "rate": "DOUBLE", "base": "DOUBLE", "tax_withheld": "DOUBLE", "lines": "BIGINT"},
            metrics={"tax_withheld": "SUM(tax_withheld)", "base": "SUM(base)"}),
    Dataset("forecast_vs_actual", {"agency": "VARCHAR", "month": "DATE", "actual": "DOUBLE", "forecast": "DOUBLE",
                                   "model_version": "VARCHAR"},
            sql="SELECT agency, make_date(year, month, 1) AS month, withholding_tax AS actual, "
                "predicted_wht AS forecast, model_version FROM main.bir_forecast "
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


def _database(db_path: Path) -> dict[str, Any]:
    return {"database_name": DATABASE, "sqlalchemy_uri": f"duckdb:///{db_path.resolve()}", "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_file_upload": False, "impersonate_user": False,
            "extra": {"allows_virtual_table_explore": True,
                      "engine_params": {"connect_args": {"read_only": True}}},
            "uuid": _uuid("database", DATABASE), "version": "1.0.0"}


def _dataset(ds: Dataset) -> dict[str, Any]:
    return {
        "table_name": ds.name, "main_dttm_col": ds.dttm, "description": None, "default_endpoint": None, "offset": 0,
        "cache_timeout": None, "schema": "main", "sql": ds.sql, "params": None, "template_params": None,
        "filter_select_enabled": True, "fetch_values_predicate": None, "extra": None, "normalize_columns": False,
        "always_filter_main_dttm": False, "uuid": _uuid("dataset", ds.name),
        "metrics": [{"metric_name": name, "verbose_name": name.replace("_", " "), "metric_type": None,
                     "expression": expr, "description": None, "d3format": ",.2f", "currency": None, "extra": {},
                     "warning_text": None} for name, expr in ds.metrics.items()],
        "columns": [{"column_name": col, "verbose_name": None, "is_dttm": col == ds.dttm, "is_active": True,
                     "type": kind, "advanced_data_type": None, "groupby": True, "filterable": True,
                     "expression": None, "description": None, "python_date_format": None, "extra": {}}
                    for col, kind in ds.columns.items()],
        "version": "1.0.0", "database_uuid": _uuid("database", DATABASE),
    }


def _chart(chart: Chart) -> dict[str, Any]:
    params = {"viz_type": chart.viz_type, "adhoc_filters": [], "row_limit": 10000, **chart.params}
    return {"slice_name": chart.name, "description": None, "certified_by": None, "certification_details": None,
            "viz_type": chart.viz_type, "params": params, "query_context": None, "cache_timeout": None,
            "uuid": _uuid("chart", chart.name), "version": "1.0.0", "dataset_uuid": _uuid("dataset", chart.dataset)}


def _dashboard() -> dict[str, Any]:
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": "BIR withholding (odoolake gold)"}},
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
                                  "uuid": _uuid("chart", chart.name)}}
        used += chart.width
    return {"dashboard_title": "BIR withholding", "description": None, "css": "", "slug": "odoolake-bir",
            "certified_by": None, "certification_details": None, "published": True,
            "uuid": _uuid("dashboard", "bir"), "position": position,
            "metadata": {"native_filter_configuration": [], "cross_filters_enabled": True, "refresh_frequency": 0,
                         "color_scheme": "", "label_colors": {}, "shared_label_colors": [],
                         "timed_refresh_immune_slices": [], "expanded_slices": {}, "default_filters": "{}",
                         "chart_configuration": {}},
            "version": "1.0.0"}


def _file(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def export_dashboard(db_path: Path, out_zip: Path) -> Path:
    """Write the export for a gold DuckDB file at ``db_path`` (the URI inside is that absolute path)."""
    files = {f"{ROOT}/metadata.yaml": {"version": "1.0.0", "type": "Dashboard",
                                       "timestamp": "2026-11-26T00:00:00+00:00"},
             f"{ROOT}/databases/{DATABASE}.yaml": _database(db_path)}
    for ds in DATASETS:
        files[f"{ROOT}/datasets/{DATABASE}/{ds.name}.yaml"] = _dataset(ds)
    for chart in CHARTS:
        files[f"{ROOT}/charts/{_file(chart.name)}.yaml"] = _chart(chart)
    files[f"{ROOT}/dashboards/BIR_withholding.yaml"] = _dashboard()
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    return out_zip
