"""The ipai_finance_ppm addon, checked as far as possible without an Odoo server: manifest, data files, access
rules, views against the model's fields, Python that compiles, and the version-dependent records of the hook.
Its Odoo tests (addons/ipai_finance_ppm/tests) run where Odoo is installed."""

from __future__ import annotations

import ast
import csv
import importlib.util
import py_compile
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ADDON = Path(__file__).resolve().parents[2] / "addons" / "ipai_finance_ppm"


def _manifest() -> dict:
    return ast.literal_eval((ADDON / "__manifest__.py").read_text())


def _model_fields() -> set[str]:
    tree = ast.parse((ADDON / "models" / "bir_schedule.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "BirSchedule")
    return {t.id for n in cls.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Attribute) and isinstance(n.value.func.value, ast.Name)
            and n.value.func.value.id == "fields" for t in n.targets if isinstance(t, ast.Name)}


def test_manifest_is_complete_and_lists_existing_files():
    manifest = _manifest()
    for key in ("name", "version", "license", "depends", "data", "installable", "post_init_hook"):
        assert key in manifest, key
    assert "account" in manifest["depends"] and manifest["license"] == "LGPL-3"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])  # no series prefix: installs on 17, 18 and 19
    assert manifest["data"][0].startswith("security/")  # access rules load before the views that need them
    for path in manifest["data"]:
        assert (ADDON / path).is_file(), path
    assert "requests" in manifest["external_dependencies"]["python"]


def test_python_compiles_and_the_hook_is_exported():
    for path in ADDON.rglob("*.py"):
        py_compile.compile(str(path), doraise=True)
    assert "post_init_hook" in (ADDON / "__init__.py").read_text()


def test_access_rules_name_the_model_and_real_groups():
    rows = list(csv.DictReader((ADDON / "security" / "ir.model.access.csv").open()))
    assert {r["model_id:id"] for r in rows} == {"model_ipai_finance_bir_schedule"}
    assert {r["group_id:id"] for r in rows} == {"account.group_account_invoice", "account.group_account_manager"}
    manager = next(r for r in rows if r["group_id:id"].endswith("manager"))
    assert (manager["perm_write"], manager["perm_create"], manager["perm_unlink"]) == ("1", "1", "1")


def test_views_and_cron_refer_to_fields_and_methods_that_exist():
    fields = _model_fields()
    assert {"predicted_tax", "prediction_error", "lake_predicted_tax", "company_id", "period_start"} <= fields
    form = ET.parse(ADDON / "views" / "bir_schedule_views.xml").getroot()
    arch = form.find("./record/field[@name='arch']")
    used = {f.get("name") for f in arch.iter("field") if f is not arch}
    assert used and used <= fields, used - fields
    source = (ADDON / "models" / "bir_schedule.py").read_text()
    for button in form.iter("button"):
        assert f"def {button.get('name')}(" in source
    cron = ET.parse(ADDON / "data" / "ir_cron.xml").getroot()
    values = {f.get("name"): (f.text or "") for f in cron.iter("field")}
    assert "numbercall" not in values and "doall" not in values  # removed in 18: listing them fails the install
    assert values["code"] == "model._cron_refresh_predictions()" and "def _cron_refresh_predictions(" in source
    settings = ET.parse(ADDON / "views" / "res_config_settings_views.xml").getroot()
    settings_source = (ADDON / "models" / "res_config_settings.py").read_text()
    for f in settings.iter("field"):
        if f.get("name") not in ("name", "model", "inherit_id", "arch"):
            assert f"{f.get('name')} = fields." in settings_source


@pytest.mark.parametrize(("major", "tag"), [(17, "tree"), (18, "list"), (19, "list")])
def test_hook_builds_the_list_view_each_version_expects(major, tag):
    spec = importlib.util.spec_from_file_location("ipai_hooks", ADDON / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    arch = ET.fromstring(hooks.list_view_arch(major))
    assert arch.tag == tag and hooks.list_view_type(major) == tag
    assert {f.get("name") for f in arch.iter("field")} <= _model_fields()


def test_the_http_call_does_not_read_the_process_environment():
    source = (ADDON / "models" / "serving_client.py").read_text() + (ADDON / "models" / "bir_schedule.py").read_text()
    assert "os.environ" not in source and "getenv" not in source
    assert "timeout=timeout" in source and "ir.config_parameter" in source
