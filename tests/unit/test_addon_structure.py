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


def test_a_multi_company_record_rule_keeps_users_to_their_companies():
    rule = ET.parse(ADDON / "security" / "ir_rule.xml").getroot().find("./record[@model='ir.rule']")
    values = {f.get("name"): (f.text or "", f.get("ref"), f.get("eval")) for f in rule.iter("field")}
    assert values["model_id"][1] == "model_ipai_finance_bir_schedule"
    assert values["domain_force"][0].replace(" ", "") == "[('company_id','in',company_ids)]"
    assert "groups" not in values and "global" not in values  # no groups: a global rule (`global` is computed)
    assert "security/ir_rule.xml" in _manifest()["data"]


def test_the_refresh_button_is_only_for_a_group_that_may_write():
    form = ET.parse(ADDON / "views" / "bir_schedule_views.xml").getroot()
    button = next(b for b in form.iter("button") if b.get("name") == "action_refresh_predictions")
    rows = list(csv.DictReader((ADDON / "security" / "ir.model.access.csv").open()))
    writers = {r["group_id:id"] for r in rows if r["perm_write"] == "1"}
    assert button.get("groups") and set(button.get("groups").split(",")) <= writers
    source = (ADDON / "models" / "bir_schedule.py").read_text()
    refresh = source[source.index("def action_refresh_predictions"):source.index("def _cron_refresh_predictions")]
    assert "self._check_may_write()" in refresh  # the server checks too: a button's groups only hide it


def test_only_monthly_ewt_forms_ask_and_the_request_is_agency_and_month():
    tree = ast.parse((ADDON / "models" / "bir_schedule.py").read_text())
    constants = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, (ast.Tuple, ast.Constant))}
    assert constants["MONTHLY_EWT_FORMS"] == ("0619E",)
    assert set(constants["REQUEST_FIELDS"]) == {"company_id", "form_code", "period_start"}
    client = _serving_client()
    assert client.INPUTS == ("agency", "period") and client.ANSWER == ("p10", "p50", "p90")


def test_the_fields_the_write_back_fills_are_the_ones_the_addon_clears_on_another_request():
    """A forecast written for one company and month stayed on the record after its month or company changed: the
    addon now clears the lake's fields then; they must be every lake_* field of the model, and the write-back's."""
    from odoolake.odoo.writeback import FIELDS

    tree = ast.parse((ADDON / "models" / "bir_schedule.py").read_text())
    constants = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, (ast.Tuple, ast.Constant))}
    lake = {f for f in _model_fields() if f.startswith("lake_")}
    assert set(constants["LAKE_FIELDS"]) == lake
    assert {f for f in FIELDS if f.startswith("lake_")} | {"lake_scored_at"} == lake
    source = (ADDON / "models" / "bir_schedule.py").read_text()
    assert 'vals = {**vals, **dict.fromkeys(LAKE_FIELDS, False)}' in source.split("def write(self, vals):")[1]


@pytest.mark.parametrize("bad", [0, 0.0, -1, "-5", "soon", None, float("nan")])
def test_an_invalid_timeout_is_an_error_naming_the_setting(bad):
    client = _serving_client()
    with pytest.raises(client.PredictionError, match="The timeout setting must be a positive number of seconds"):
        client.check_timeout(bad)
    with pytest.raises(client.PredictionError, match="timeout setting"):
        client.predict_batch("http://127.0.0.1:9/x", "", [{"agency": "RIM", "period": "2026-12"}], timeout=bad)
    assert client.check_timeout("2.5") == 2.5


def test_a_missing_field_is_refused_before_anything_is_sent():
    client = _serving_client()
    with pytest.raises(client.PredictionError, match="Record 1 has no agency; nothing was sent"):
        client.predict_batch("http://127.0.0.1:9/x", "", [{"agency": False, "period": "2026-12"}])


def _serving_client():
    spec = importlib.util.spec_from_file_location("ipai_serving_client", ADDON / "models" / "serving_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_views_and_cron_refer_to_fields_and_methods_that_exist():
    fields = _model_fields()
    assert {"predicted_tax", "predicted_tax_low", "predicted_tax_high", "prediction_error", "lake_predicted_tax",
            "company_id", "period_start"} <= fields
    assert not {"prev_month_withholding_tax", "prev_year_withholding_tax", "income_tax", "vat"} & fields
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
    # Odoo 17+ labels only the first field of a <setting> (web's form_compiler), and an <app> without a logo shows
    # the addon's own icon, which it does not ship
    assert all(len(s.findall("field")) == 1 for s in settings.iter("setting"))
    assert all(a.get("logo", "").startswith("/account/static/") for a in settings.iter("app"))
    assert '@api.constrains("ipai_serving_timeout")' in settings_source  # 0 would delete the parameter on save


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
