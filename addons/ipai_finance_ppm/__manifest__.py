{
    "name": "Finance PPM: BIR schedules with lakehouse tax forecasts",
    "version": "1.1.0",
    "summary": "BIR filing schedules whose withholding tax is predicted by the odoolake serving endpoint",
    "description": """
BIR filing schedule records (0619-E, 1601-EQ, 1604-E, 2550Q, 2551Q) per company and period.

* monthly EWT schedules (0619-E) ask the bir_tax_forecaster serving endpoint (Databricks or odoolake) for the
  company's agency and the month, one batched request per refresh, and store the median forecast with its
  p10-p90 interval; the endpoint URL, token and timeout are Settings (ir.config_parameter), not the environment;
* a failed prediction, an unreachable endpoint or an invalid timeout is shown on the record and logged, never
  raised into the form: a save always goes through;
* the refresh button is for users who may write the schedules; a record rule keeps each user to the
  companies selected;
* a scheduled action refreshes open monthly schedules daily;
* lake_predicted_tax (and its interval) is written back by the lakehouse (odoolake.odoo.writeback).

Works on Odoo 17, 18 and 19: the list view, window action and menu are created by the post-init hook with the
view type the running version expects (tree up to 17, list from 18).
""",
    "author": "odoolake",
    "website": "https://github.com/jgtolentino/odoo-ce",
    "license": "LGPL-3",
    "category": "Accounting/Localizations",
    "depends": ["account"],
    "external_dependencies": {"python": ["requests"]},
    "data": [
        "security/ir.model.access.csv",
        "security/ir_rule.xml",
        "views/bir_schedule_views.xml",
        "views/res_config_settings_views.xml",
        "data/ir_cron.xml",
    ],
    "post_init_hook": "post_init_hook",
    "installable": True,
    "application": False,
    "auto_install": False,
}
