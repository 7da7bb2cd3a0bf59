import logging

from odoo import api, fields, models

from .serving_client import PredictionError, predict_batch

_logger = logging.getLogger(__name__)

PARAM_URL = "ipai_finance_ppm.serving_url"
PARAM_TOKEN = "ipai_finance_ppm.serving_token"
PARAM_TIMEOUT = "ipai_finance_ppm.serving_timeout"
FEATURE_FIELDS = ("prev_month_withholding_tax", "prev_year_withholding_tax", "income_tax", "vat")
BATCH = 200


class BirSchedule(models.Model):
    """A BIR filing obligation of a company for a period, with its predicted withholding tax.

    The seed computed predicted_tax in a non-stored compute, one HTTP call per record on every read, with the
    endpoint from the process environment and 0.0 on failure. Here the prediction is stored; it is refreshed
    in batches when the features change, from a button and from a daily scheduled action; the endpoint comes
    from Settings; and a failure leaves the previous value and shows why.
    """

    _name = "ipai.finance.bir_schedule"
    _description = "BIR filing schedule"
    _order = "due_date desc, id desc"

    name = fields.Char(required=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one(related="company_id.currency_id")
    form_code = fields.Selection(
        [("0619E", "0619-E"), ("1601EQ", "1601-EQ"), ("1604E", "1604-E"), ("2550Q", "2550Q"), ("2551Q", "2551Q")],
        required=True, default="0619E")
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    due_date = fields.Date()
    prev_month_withholding_tax = fields.Monetary(currency_field="currency_id")
    prev_year_withholding_tax = fields.Monetary(currency_field="currency_id")
    income_tax = fields.Monetary(currency_field="currency_id", help="Creditable tax withheld from the company")
    vat = fields.Monetary(currency_field="currency_id", help="Net VAT of the period")
    predicted_tax = fields.Monetary(currency_field="currency_id", readonly=True,
                                    help="Predicted withholding tax from the model serving endpoint")
    predicted_at = fields.Datetime(readonly=True)
    prediction_error = fields.Char(readonly=True, help="Why the last prediction failed; empty when it succeeded")
    lake_predicted_tax = fields.Monetary(currency_field="currency_id", readonly=True,
                                         help="Written by the lakehouse from gold.bir_forecast")
    lake_model_version = fields.Char(readonly=True)
    lake_scored_at = fields.Datetime(readonly=True)

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if not self.env.context.get("ipai_skip_prediction"):
            records._refresh_predictions()
        return records

    def write(self, vals):
        result = super().write(vals)
        if not self.env.context.get("ipai_skip_prediction") and any(f in vals for f in FEATURE_FIELDS):
            self._refresh_predictions()
        return result

    def _serving_settings(self):
        params = self.env["ir.config_parameter"].sudo()
        try:
            timeout = float(params.get_param(PARAM_TIMEOUT) or 10.0)
        except ValueError:
            timeout = 10.0
        return params.get_param(PARAM_URL) or "", params.get_param(PARAM_TOKEN) or "", timeout

    def _refresh_predictions(self):
        """One request per batch of records; a failure is recorded on the records, logged, and not raised."""
        url, token, timeout = self._serving_settings()
        quiet = self.with_context(ipai_skip_prediction=True)
        for start in range(0, len(self), BATCH):
            batch = quiet[start:start + BATCH]
            rows = [{"prev_month_wht": r.prev_month_withholding_tax, "prev_year_wht": r.prev_year_withholding_tax,
                     "income_tax": r.income_tax, "vat": r.vat} for r in batch]
            try:
                predictions = predict_batch(url, token, rows, timeout=timeout)
            except PredictionError as exc:
                _logger.warning("BIR tax prediction failed for %d schedule(s): %s", len(batch), exc)
                batch.write({"prediction_error": str(exc)})
                continue
            now = fields.Datetime.now()
            for record, value in zip(batch, predictions, strict=True):
                record.write({"predicted_tax": value, "predicted_at": now, "prediction_error": False})

    def action_refresh_predictions(self):
        self._refresh_predictions()
        return True

    @api.model
    def _cron_refresh_predictions(self):
        """Refresh schedules whose period ended in the last 45 days or is still open."""
        horizon = fields.Date.subtract(fields.Date.context_today(self), days=45)
        self.search([("period_end", ">=", horizon)])._refresh_predictions()
