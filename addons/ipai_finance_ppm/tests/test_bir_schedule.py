"""Runs inside Odoo (odoo-bin -i ipai_finance_ppm --test-tags /ipai_finance_ppm). The serving endpoint itself is
covered by odoolake's own tests against the real local endpoint; here the HTTP function is replaced."""

from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged

from ..models.serving_client import PredictionError

TARGET = "odoo.addons.ipai_finance_ppm.models.bir_schedule.predict_batch"


def _answer(p50):
    return {"p10": p50 * 0.8, "p50": p50, "p90": p50 * 1.3, "horizon": 1, "origin": "2026-02", "method": "gbm"}


@tagged("post_install", "-at_install", "ipai_finance_ppm")
class TestBirSchedule(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.params.set_param("ipai_finance_ppm.serving_url", "http://lake.test/serving-endpoints/bir-forecast/invocations")
        cls.params.set_param("ipai_finance_ppm.serving_token", "test-token")
        cls.params.set_param("ipai_finance_ppm.serving_timeout", "3")
        cls.schedules = cls.env["ipai.finance.bir_schedule"].with_context(ipai_skip_prediction=True).create([
            {"name": f"0619-E {m}", "form_code": "0619E", "period_start": f"2026-0{m}-01",
             "period_end": f"2026-0{m}-28"} for m in (1, 2, 3)])
        cls.quarterly = cls.env["ipai.finance.bir_schedule"].with_context(ipai_skip_prediction=True).create(
            {"name": "1601-EQ Q1", "form_code": "1601EQ", "period_start": "2026-01-01", "period_end": "2026-03-31"})

    def test_one_batched_request_by_agency_and_month_with_the_interval_stored(self):
        with patch(TARGET, return_value=[_answer(10.0), _answer(20.0), _answer(30.0)]) as call:
            (self.schedules | self.quarterly).action_refresh_predictions()
        call.assert_called_once()
        url, token, rows = call.call_args.args
        self.assertEqual(url, "http://lake.test/serving-endpoints/bir-forecast/invocations")
        self.assertEqual(token, "test-token")
        self.assertEqual(float(call.call_args.kwargs["timeout"]), 3.0)
        company = self.env.company.name
        self.assertEqual(rows, [{"agency": company, "period": f"2026-0{m}"} for m in (1, 2, 3)])  # no 1601-EQ
        self.assertEqual(self.schedules.mapped("predicted_tax"), [10.0, 20.0, 30.0])
        self.assertEqual(self.schedules.mapped("predicted_tax_low"), [8.0, 16.0, 24.0])
        self.assertEqual(self.schedules.mapped("predicted_tax_high"), [13.0, 26.0, 39.0])
        self.assertFalse(any(self.schedules.mapped("prediction_error")))
        self.assertFalse(self.quarterly.predicted_at)

    def test_failure_is_recorded_and_logged_not_raised(self):
        with patch(TARGET, return_value=[_answer(5.0)] * 3):
            self.schedules.action_refresh_predictions()
        with patch(TARGET, side_effect=PredictionError("The serving endpoint could not be reached (ConnectionError).")), \
                self.assertLogs("odoo.addons.ipai_finance_ppm.models.bir_schedule", level="WARNING"):
            self.schedules.action_refresh_predictions()
        self.assertEqual(set(self.schedules.mapped("prediction_error")),
                         {"The serving endpoint could not be reached (ConnectionError)."})
        self.assertEqual(self.schedules.mapped("predicted_tax"), [5.0, 5.0, 5.0])  # the last good value stays

    def test_an_invalid_timeout_never_breaks_a_save(self):
        for bad in ("0", "-2", "soon"):
            self.params.set_param("ipai_finance_ppm.serving_timeout", bad)
            with patch(TARGET) as call:
                record = self.env["ipai.finance.bir_schedule"].create(
                    {"name": "0619-E 4", "form_code": "0619E", "period_start": "2026-04-01", "period_end": "2026-04-30"})
            call.assert_not_called()
            self.assertIn("timeout setting must be a positive number", record.prediction_error)
        self.params.set_param("ipai_finance_ppm.serving_timeout", "3")

    def test_changing_the_month_refreshes_and_the_cron_runs_monthly_forms_only(self):
        with patch(TARGET, return_value=[_answer(42.0)]) as call:
            self.schedules[0].write({"period_start": "2026-05-01", "period_end": "2026-05-31"})
        call.assert_called_once()
        self.assertEqual(self.schedules[0].predicted_tax, 42.0)
        with patch(TARGET, side_effect=lambda url, token, rows, timeout: [_answer(1.0)] * len(rows)) as call:
            self.env["ipai.finance.bir_schedule"]._cron_refresh_predictions()
        for c in call.call_args_list:
            self.assertTrue(all(row["period"] for row in c.args[2]))

    def test_another_month_or_company_clears_the_lakes_forecast(self):
        record = self.schedules[1].with_context(ipai_skip_prediction=True)
        lake = {"lake_predicted_tax": 300.5, "lake_predicted_tax_low": 240.4, "lake_predicted_tax_high": 450.75,
                "lake_model_version": "3"}
        record.write(lake)
        record.write({"name": "0619-E February, renamed"})  # not the request: the forecast stays
        self.assertEqual(record.lake_predicted_tax, 300.5)
        record.write({"period_start": "2026-06-01", "period_end": "2026-06-30"})
        self.assertEqual((record.lake_predicted_tax, record.lake_model_version), (0.0, False))
        record.write(lake)
        record.write({"company_id": self.env["res.company"].create({"name": "JAP"}).id})
        self.assertEqual((record.lake_predicted_tax_high, record.lake_model_version), (0.0, False))

    def test_only_users_who_may_write_can_refresh(self):
        reader = new_test_user(self.env, login="bir_reader", groups="account.group_account_invoice")
        with patch(TARGET) as call, self.assertRaises(AccessError):
            self.schedules.with_user(reader).action_refresh_predictions()
        call.assert_not_called()

    def test_other_companies_schedules_are_hidden(self):
        other = self.env["res.company"].create({"name": "OTHER"})
        theirs = self.env["ipai.finance.bir_schedule"].with_context(ipai_skip_prediction=True).create(
            {"name": "0619-E other", "company_id": other.id, "form_code": "0619E", "period_start": "2026-01-01",
             "period_end": "2026-01-31"})
        manager = new_test_user(self.env, login="bir_manager", groups="account.group_account_manager",
                                company_id=self.env.company.id, company_ids=[(6, 0, [self.env.company.id])])
        visible = self.env["ipai.finance.bir_schedule"].with_user(manager).search([])
        self.assertNotIn(theirs, visible)
        self.assertIn(self.schedules[0], visible)
