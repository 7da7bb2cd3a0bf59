{
    "name": "Finance PPM: BIR schedules with lakehouse tax forecasts",
    "version": "1.0.0",
    "summary": "BIR filing schedules whose withholding tax is predicted by the odoolake serving endpoint",
    "description": """
BIR filing schedule records (0619-E, 1601-EQ, 1604-E, 2550Q, 2551Q) per company and period.

* predicted_tax comes from a Databricks / odoolake model serving endpoint, one batched request per refresh,
  with the endpoint URL, token and timeout in Settings (ir.config_parameter), not in the process environment;
* a failed prediction is shown on the record and logged, never raised into the form;
* a scheduled action refreshes open schedules daily;
* lake_predicted_tax is written back by the lakehouse (odoolake.odoo.writeback).

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
        "views/bir_schedule_views.xml",
        "views/res_config_settings_views.xml",
        "data/ir_cron.xml",
    ],
    "post_init_hook": "post_init_hook",
    "installable": True,
    "application": False,
    "auto_install": False,
}
