"""The raw Odoo extract contract: fields read from each model's JSON lines, and which are required.

Odoo sends ``false`` for empty fields and ``[id, "name"]`` for many2one fields, so many2one fields are
read as ``array<string>`` and strings may arrive as ``"false"`` (conformed to null in silver).
"""

from __future__ import annotations

from dataclasses import dataclass

M2O = "array<string>"
MONEY = "decimal(18,2)"  # every amount from silver on (pesos and centavos, exact)
RATE = "decimal(9,4)"  # tax rates in percent, e.g. 0.5000 or 12.0000


TOMBSTONE_FIELDS = ("id", "write_date")  # what a record found deleted in Odoo is delivered with


@dataclass(frozen=True)
class RawModel:
    name: str  # folder name under the raw root, e.g. account_move
    odoo_model: str
    fields: tuple[tuple[str, str], ...]
    required: tuple[str, ...]
    tombstones: bool = False  # the extraction delivers its deleted records as tombstones (``TOMBSTONE_FIELDS``)

    @property
    def ddl(self) -> str:
        return ", ".join(f"`{name}` {kind}" for name, kind in self.fields)

    @property
    def bronze_table(self) -> str:
        return f"bronze.odoo_{self.name}"

    def required_unless_deleted(self) -> tuple[str, ...]:
        """The required fields a tombstone (``"_deleted": true``) may leave out: it carries only ``TOMBSTONE_FIELDS``
        (an exchange rate deleted in Odoo has no date or currency left to send)."""
        return tuple(name for name in self.required if name not in TOMBSTONE_FIELDS) if self.tombstones else ()


# Fields the BIR outputs read beyond the journal (optional: an Odoo without them is extracted without them).
# Registered addresses are printed on the 2307 and the SLSP. The x_ph_* fields are custom fields (Odoo has no
# standard field for them; create them with Studio or a small module): docs/bir-outputs.md explains each.
BIR_ADDRESS_FIELDS: tuple[tuple[str, str], ...] = (
    ("street", "string"), ("street2", "string"), ("city", "string"), ("state_id", M2O),
)
BIR_PARTNER_FIELDS: tuple[tuple[str, str], ...] = (
    ("x_ph_gross_income_declaration", "string"),  # not_over | over: the payee's sworn declaration (RR 11-2018)
    ("x_ph_declaration_date", "string"),  # the date the declaration was received
    ("x_ph_vat_registered", "boolean"),
    ("x_ph_seller_category", "string"),  # e.g. fuel_importer: RR 24-2025 listed sellers
)
BIR_COMPANY_FIELDS: tuple[tuple[str, str], ...] = (
    ("zip", "string"), ("country_id", M2O),
    ("x_ph_registered_name", "string"),  # the name on the BIR Certificate of Registration, when not the company name
    ("x_ph_twa_since", "string"),  # first day the company withholds as a top withholding agent (RR 31-2020)
    ("x_ph_is_government", "boolean"),
    ("x_ph_efps_group", "string"),  # A to E: eFPS filing group (RR 26-2002); empty = manual/eBIRForms filer
)

RES_COMPANY = RawModel(
    "res_company",
    "res.company",
    (("id", "bigint"), ("name", "string"), ("vat", "string"), ("l10n_ph_rdo", "string"),
     ("currency_id", M2O), ("partner_id", M2O), ("write_date", "string"), ("_deleted", "boolean"),
     *(BIR_ADDRESS_FIELDS + BIR_COMPANY_FIELDS)),
    ("id", "name", "write_date"),
)

RES_PARTNER = RawModel(
    "res_partner",
    "res.partner",
    (("id", "bigint"), ("name", "string"), ("is_company", "boolean"), ("company_type", "string"),
     ("vat", "string"), ("branch_code", "string"), ("first_name", "string"), ("middle_name", "string"),
     ("last_name", "string"), ("zip", "string"), ("country_id", M2O), ("commercial_partner_id", M2O),
     ("active", "boolean"), ("write_date", "string"), ("_deleted", "boolean"),
     *(BIR_ADDRESS_FIELDS + BIR_PARTNER_FIELDS)),
    ("id", "write_date"),
    tombstones=True,
)

ACCOUNT_TAX = RawModel(
    "account_tax",
    "account.tax",
    (("id", "bigint"), ("name", "string"), ("description", "string"), ("amount", "double"),
     ("amount_type", "string"), ("type_tax_use", "string"), ("l10n_ph_atc", "string"),
     ("is_withholding_tax_on_payment", "boolean"), ("active", "boolean"), ("company_id", M2O),
     ("write_date", "string"), ("_deleted", "boolean")),
    ("id", "amount", "type_tax_use", "write_date"),
)

ACCOUNT_MOVE = RawModel(
    "account_move",
    "account.move",
    (("id", "bigint"), ("name", "string"), ("ref", "string"), ("move_type", "string"), ("state", "string"),
     ("date", "string"), ("invoice_date", "string"), ("partner_id", M2O), ("commercial_partner_id", M2O),
     ("company_id", M2O), ("journal_id", M2O), ("currency_id", M2O), ("amount_untaxed", "double"),
     ("amount_tax", "double"), ("amount_total", "double"), ("amount_total_signed", "double"),
     ("reversed_entry_id", M2O), ("origin_payment_id", M2O), ("write_date", "string"),
     ("create_date", "string"), ("_deleted", "boolean")),
    ("id", "write_date"),
    tombstones=True,
)

ACCOUNT_MOVE_LINE = RawModel(
    "account_move_line",
    "account.move.line",
    (("id", "bigint"), ("move_id", M2O), ("name", "string"), ("date", "string"), ("parent_state", "string"),
     ("company_id", M2O), ("partner_id", M2O), ("account_id", M2O), ("display_type", "string"),
     ("tax_ids", "array<bigint>"), ("tax_line_id", M2O), ("tax_base_amount", "double"), ("balance", "double"),
     ("debit", "double"), ("credit", "double"), ("amount_currency", "double"), ("currency_id", M2O),
     ("price_subtotal", "double"), ("write_date", "string"), ("_deleted", "boolean")),
    ("id", "move_id", "balance", "write_date"),
)

# Exchange rates as Odoo holds them (name = the rate's date; inverse_company_rate = PHP per unit). Used only for
# foreign-currency lines posted without any PHP amount (docs/bir-outputs.md, "Foreign currency").
RES_CURRENCY_RATE = RawModel(
    "res_currency_rate",
    "res.currency.rate",
    (("id", "bigint"), ("name", "string"), ("currency_id", M2O), ("company_id", M2O), ("rate", "double"),
     ("inverse_company_rate", "double"), ("write_date", "string"), ("_deleted", "boolean")),
    ("id", "name", "currency_id", "write_date"),
    tombstones=True,
)

RAW_MODELS: tuple[RawModel, ...] = (RES_COMPANY, RES_PARTNER, ACCOUNT_TAX, ACCOUNT_MOVE, ACCOUNT_MOVE_LINE,
                                    RES_CURRENCY_RATE)
RAW_BY_NAME = {m.name: m for m in RAW_MODELS}

QUARANTINE_DDL = (
    "stage string, reason string, action string, model string, record_id bigint, move_id bigint, "
    "period string, agency string, detail string, _batch_id string, _source_file string, raw string"
)
