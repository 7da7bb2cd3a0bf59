"""Version-dependent records: Odoo 18 renamed the ``tree`` view type to ``list`` and removed ``ir.cron.numbercall``
(which defaults to a single run up to 17), so these are created here for the running version."""

FIELDS = ("name", "company_id", "form_code", "period_start", "period_end", "due_date", "predicted_tax_low",
          "predicted_tax", "predicted_tax_high", "lake_predicted_tax", "prediction_error")
MODULE = "ipai_finance_ppm"


def list_view_type(major):
    return "list" if major >= 18 else "tree"


def list_view_arch(major):
    tag = list_view_type(major)
    columns = "".join(f'<field name="{name}"/>' for name in FIELDS)
    return f'<{tag} string="BIR schedules" decoration-danger="prediction_error">{columns}</{tag}>'


def _xmlid(env, name, record):
    env["ir.model.data"].create({"name": name, "module": MODULE, "model": record._name, "res_id": record.id,
                                 "noupdate": True})


def post_init_hook(env):
    from odoo import release

    major = int(release.version_info[0])
    view_type = list_view_type(major)
    view = env["ir.ui.view"].create({"name": "ipai.finance.bir_schedule.list", "model": "ipai.finance.bir_schedule",
                                     "type": view_type, "arch": list_view_arch(major)})
    _xmlid(env, "view_bir_schedule_list", view)
    action = env["ir.actions.act_window"].create({
        "name": "BIR schedules", "res_model": "ipai.finance.bir_schedule", "view_mode": f"{view_type},form",
        "view_id": view.id})
    _xmlid(env, "action_bir_schedule", action)
    parent = env.ref("account.menu_finance_reports", raise_if_not_found=False) or env.ref("account.menu_finance")
    menu = env["ir.ui.menu"].create({"name": "BIR schedules", "parent_id": parent.id,
                                     "action": f"ir.actions.act_window,{action.id}", "sequence": 90})
    _xmlid(env, "menu_bir_schedule", menu)
    cron = env.ref(f"{MODULE}.ir_cron_refresh_predictions", raise_if_not_found=False)
    if cron and "numbercall" in cron._fields:
        cron.numbercall = -1  # up to 17 a cron runs once unless told otherwise
