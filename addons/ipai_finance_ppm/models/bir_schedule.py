import logging

from odoo import _, api, fields, models
from odoo.exceptions import AccessError

from .serving_client import PredictionError, check_timeout, predict_batch

_logger = logging.getLogger(__name__)

PARAM_URL = "ipai_finance_ppm.serving_url"
PARAM_TOKEN = "ipai_finance_ppm.serving_token"
PARAM_TIMEOUT = "ipai_finance_ppm.serving_timeout"
DEFAULT_TIMEOUT = 10.0
# The forecaster predicts one month's expanded withholding: only the monthly EWT remittance form asks for it.
MONTHLY_EWT_FORMS = ("0619E",)
# Changing these changes what the endpoint is asked (the company's agency code and the month).
REQUEST_FIELDS = ("company_id", "form_code", "period_start")
# Written by the lakehouse's write-back for the record's company, form and month: another company, form or period
# makes them another record's forecast, so they are cleared (the next write-back fills them for the new one).
LAKE_FIELDS = ("lake_predicted_tax", "lake_predicted_tax_low", "lake_predicted_tax_high", "lake_model_version",
               "lake_scored_at")
BATCH = 200


class BirSchedule(models.Model):
    """A BIR filing obligation of a company for a period, with the forecast withholding tax to remit.

    The seed computed predicted_tax in a non-stored compute, one HTTP call per record on every read, with the
    endpoint from the process environment, four hand-filled inputs sent as 0.0 when empty, and 0.0 on failure.
    Here the request is what Odoo knows (the company's agency code and the month), only monthly EWT forms ask,
    the forecast is stored with its p10-p90 interval, refreshed in batches when the request changes, from a
    button (for users who may write) and from a daily scheduled action; the endpoint comes from Settings; and
    a failure, an unreachable endpoint or an invalid timeout setting leaves the previous value, shows why and
    never blocks a save.
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
    agency_code = fields.Char(related="company_id.name", string="Agency", help="Sent to the forecaster as agency")
    predicted_tax = fields.Monetary(currency_field="currency_id", readonly=True,
                                    help="Median forecast (p50) of the expanded withholding tax to remit")
    predicted_tax_low = fields.Monetary(currency_field="currency_id", readonly=True, string="Forecast p10",
                                        help="1 chance in 10 the tax is below this")
    predicted_tax_high = fields.Monetary(currency_field="currency_id", readonly=True, string="Forecast p90",
                                         help="1 chance in 10 the tax is above this")
    predicted_interval = fields.Char(compute="_compute_predicted_interval", string="Forecast (p10-p90)")
    predicted_method = fields.Char(readonly=True, help="Forecasting method of the served model version")
    predicted_origin = fields.Char(readonly=True, help="Last closed month the forecast was made from")
    predicted_at = fields.Datetime(readonly=True)
    prediction_error = fields.Char(readonly=True, help="Why the last prediction failed; empty when it succeeded")
    lake_predicted_tax = fields.Monetary(currency_field="currency_id", readonly=True,
                                         help="Written by the lakehouse from gold.bir_forecast (p50)")
    lake_predicted_tax_low = fields.Monetary(currency_field="currency_id", readonly=True)
    lake_predicted_tax_high = fields.Monetary(currency_field="currency_id", readonly=True)
    lake_model_version = fields.Char(readonly=True)
    lake_scored_at = fields.Datetime(readonly=True)

    @api.depends("predicted_tax", "predicted_tax_low", "predicted_tax_high", "predicted_at")
    def _compute_predicted_interval(self):
        for record in self:
            if not record.predicted_at:
                record.predicted_interval = False
                continue
            low, mid, high = record.predicted_tax_low, record.predicted_tax, record.predicted_tax_high
            record.predicted_interval = f"{mid:,.2f} ({low:,.2f} - {high:,.2f})"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if not self.env.context.get("ipai_skip_prediction"):
            records._refresh_predictions()
        return records

    def write(self, vals):
        if any(f in vals for f in (*REQUEST_FIELDS, "period_end")) and not any(f in vals for f in LAKE_FIELDS):
            vals = {**vals, **dict.fromkeys(LAKE_FIELDS, False)}
        result = super().write(vals)
        if not self.env.context.get("ipai_skip_prediction") and any(f in vals for f in REQUEST_FIELDS):
            self._refresh_predictions()
        return result

    def _serving_settings(self):
        """URL, token and timeout from Settings; the timeout is checked by the caller (an invalid one is reported
        on the records, not raised)."""
        params = self.env["ir.config_parameter"].sudo()
        timeout = params.get_param(PARAM_TIMEOUT)
        return params.get_param(PARAM_URL) or "", params.get_param(PARAM_TOKEN) or "", (
            DEFAULT_TIMEOUT if timeout in (None, False, "") else timeout)

    def _request_row(self):
        self.ensure_one()
        month = self.period_start.strftime("%Y-%m") if self.period_start else ""
        return {"agency": self.company_id.name or "", "period": month}

    def _refresh_predictions(self):
        """One request per batch of monthly EWT records; any failure is recorded on the records, logged, and
        not raised, so a save never fails because the endpoint is down or misconfigured."""
        monthly = self.filtered(lambda r: r.form_code in MONTHLY_EWT_FORMS)
        quiet = monthly.with_context(ipai_skip_prediction=True)
        (self - monthly).filtered("prediction_error").with_context(ipai_skip_prediction=True).write(
            {"prediction_error": False})
        if not monthly:
            return
        url, token, timeout = self._serving_settings()
        try:
            check_timeout(timeout)
        except PredictionError as exc:
            _logger.warning("BIR tax prediction skipped: %s", exc)
            quiet.write({"prediction_error": str(exc)})
            return
        for start in range(0, len(quiet), BATCH):
            batch = quiet[start:start + BATCH]
            try:
                predictions = predict_batch(url, token, [r._request_row() for r in batch], timeout=timeout)
            except PredictionError as exc:
                _logger.warning("BIR tax prediction failed for %d schedule(s): %s", len(batch), exc)
                batch.write({"prediction_error": str(exc)})
                continue
            now = fields.Datetime.now()
            for record, value in zip(batch, predictions, strict=True):
                record.write({"predicted_tax": value["p50"], "predicted_tax_low": value["p10"],
                              "predicted_tax_high": value["p90"], "predicted_method": value.get("method") or False,
                              "predicted_origin": value.get("origin") or False, "predicted_at": now,
                              "prediction_error": False})

    def _check_may_write(self):
        """Refreshing writes the records: only users who may write them may ask (Odoo 18 renamed the check)."""
        if hasattr(self, "check_access"):
            self.check_access("write")
        else:
            self.check_access_rights("write")
            self.check_access_rule("write")

    def action_refresh_predictions(self):
        try:
            self._check_may_write()
        except AccessError:
            raise AccessError(_("Only users who may edit BIR schedules can refresh their forecast.")) from None
        self._refresh_predictions()
        return True

    @api.model
    def _cron_refresh_predictions(self):
        """Refresh monthly EWT schedules whose period ended in the last 45 days or is still open."""
        horizon = fields.Date.subtract(fields.Date.context_today(self), days=45)
        self.search([("period_end", ">=", horizon), ("form_code", "in", list(MONTHLY_EWT_FORMS))])._refresh_predictions()
