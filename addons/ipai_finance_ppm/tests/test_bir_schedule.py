"""Runs inside Odoo (odoo-bin -i ipai_finance_ppm --test-tags /ipai_finance_ppm). The serving endpoint itself is
covered by odoolake's own tests against the real local endpoint; here the HTTP function is replaced."""

from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from ..models.serving_client import PredictionError

TARGET = "odoo.addons.ipai_finance_ppm.models.bir_schedule.predict_batch"


@tagged("post_install", "-at_install", "ipai_finance_ppm")
class TestBirSchedule(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("ipai_finance_ppm.serving_url", "http://lake.test/serving-endpoints/bir-forecast/invocations")
        params.set_param("ipai_finance_ppm.serving_token", "test-token")
        params.set_param("ipai_finance_ppm.serving_timeout", "3")
        cls.schedules = cls.env["ipai.finance.bir_schedule"].with_context(ipai_skip_prediction=True).create([
            {"name": f"0619-E {m}", "form_code": "0619E", "period_start": f"2026-0{m}-01",
             "period_end": f"2026-0{m}-28", "prev_month_withholding_tax": 1000.0 * m, "vat": 50000.0}
            for m in (1, 2, 3)])

    def test_one_batched_request_with_settings_from_parameters(self):
        with patch(TARGET, return_value=[10.0, 20.0, 30.0]) as call:
            self.schedules.action_refresh_predictions()
        call.assert_called_once()
        url, token, rows = call.call_args.args
        self.assertEqual(url, "http://lake.test/serving-endpoints/bir-forecast/invocations")
        self.assertEqual(token, "test-token")
        self.assertEqual(call.call_args.kwargs["timeout"], 3.0)
        self.assertEqual(len(rows), 3)
        self.assertEqual(self.schedules.mapped("predicted_tax"), [10.0, 20.0, 30.0])
        self.assertFalse(any(self.schedules.mapped("prediction_error")))

    def test_failure_is_recorded_and_logged_not_raised(self):
        with patch(TARGET, return_value=[5.0, 5.0, 5.0]):
            self.schedules.action_refresh_predictions()
        with patch(TARGET, side_effect=PredictionError("The serving endpoint did not answer within 3 s.")), \
                self.assertLogs("odoo.addons.ipai_finance_ppm.models.bir_schedule", level="WARNING"):
            self.schedules.action_refresh_predictions()
        self.assertEqual(set(self.schedules.mapped("prediction_error")),
                         {"The serving endpoint did not answer within 3 s."})
        self.assertEqual(self.schedules.mapped("predicted_tax"), [5.0, 5.0, 5.0])  # the last good value stays

    def test_changing_a_feature_refreshes_and_the_cron_runs(self):
        with patch(TARGET, return_value=[42.0]) as call:
            self.schedules[0].write({"vat": 1.0})
        call.assert_called_once()
        self.assertEqual(self.schedules[0].predicted_tax, 42.0)
        with patch(TARGET, side_effect=lambda url, token, rows, timeout: [1.0] * len(rows)):
            self.env["ipai.finance.bir_schedule"]._cron_refresh_predictions()
