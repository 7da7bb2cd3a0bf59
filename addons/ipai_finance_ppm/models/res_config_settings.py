from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    ipai_serving_url = fields.Char(
        string="Serving endpoint URL", config_parameter="ipai_finance_ppm.serving_url",
        help="e.g. https://adb-….azuredatabricks.net/serving-endpoints/bir-forecast/invocations")
    ipai_serving_token = fields.Char(
        string="Serving token", config_parameter="ipai_finance_ppm.serving_token",
        help="A Databricks token (a service principal's, short-lived). Readable by administrators.")
    ipai_serving_timeout = fields.Float(
        string="Timeout (seconds)", config_parameter="ipai_finance_ppm.serving_timeout", default=10.0,
        help="Seconds to wait for the endpoint; must be more than 0 (otherwise nothing is sent and the schedule "
             "says why).")

    @api.constrains("ipai_serving_timeout")
    def _check_ipai_serving_timeout(self):
        """Saving 0 would delete the setting (Settings store a false value as no parameter) and the schedules would
        quietly use the 10 s default: refuse it at save, naming the setting."""
        for settings in self:
            if not settings.ipai_serving_timeout or settings.ipai_serving_timeout <= 0:
                raise ValidationError(_("Finance PPM: the serving timeout must be more than 0 seconds."))
