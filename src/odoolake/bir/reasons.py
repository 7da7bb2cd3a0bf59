"""Every reason a record lands in ``silver.quarantine``, with what it means and how to fix it in Odoo.

One constant per reason: the pipeline writes ``reason.code``, the tests and docs read the same constant. Actions:
- ``rejected``: the record is not a usable accounting fact (a draft, a cancelled bill, a duplicate delivery);
- ``to_classify``: tax was withheld but cannot be put under an ATC: it is carried in the "withheld, to classify"
  bucket and counted in every remittance total (Tax Code Sec. 58(A): withheld tax is held in trust);
- ``flagged``: kept and used as it is, but something about it needs an accountant's look.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    REJECTED = "rejected"
    TO_CLASSIFY = "to_classify"
    FLAGGED = "flagged"


@dataclass(frozen=True)
class Reason:
    code: str
    action: Action
    stage: str  # ingest | dedup | rules | partners
    meaning: str
    fix: str


def _r(code: str, action: Action, stage: str, meaning: str, fix: str) -> Reason:
    return Reason(code, action, stage, meaning, fix)


REJECTED, TO_CLASSIFY, FLAGGED = Action.REJECTED, Action.TO_CLASSIFY, Action.FLAGGED

# -- ingest and de-duplication -------------------------------------------------------------------------------
MALFORMED_JSON = _r("MALFORMED_JSON", REJECTED, "ingest", "a raw line is not a JSON object",
                    "re-extract the batch from Odoo")
MISSING_FIELD = _r("MISSING_FIELD", REJECTED, "ingest", "a required field is missing or null",
                   "re-extract the record; check the extractor's field mapping")
DUPLICATE_RECORD = _r("DUPLICATE_RECORD", REJECTED, "dedup", "the same record version was delivered twice",
                      "nothing: the latest delivery is used")

# -- moves ------------------------------------------------------------------------------------------------------
DRAFT = _r("DRAFT", REJECTED, "rules", "the entry is a draft at extraction", "post it in Odoo, or delete it")
CANCELLED = _r("CANCELLED", REJECTED, "rules", "the entry is cancelled", "nothing")
DELETED = _r("DELETED", REJECTED, "rules", "the entry was deleted in Odoo", "nothing")
DUPLICATE_BILL = _r("DUPLICATE_BILL", REJECTED, "rules",
                    "a later posted bill with the same vendor and reference as an earlier one",
                    "cancel the duplicate bill in Odoo (or correct its reference if it is a different bill)")

# -- tax lines ----------------------------------------------------------------------------------------------------
UNKNOWN_TAX = _r("UNKNOWN_TAX", REJECTED, "rules", "the line's tax is not in account.tax",
                 "re-extract account.tax (the tax may be archived: extract with active_test=False)")
UNKNOWN_ATC = _r("UNKNOWN_ATC", TO_CLASSIFY, "rules",
                 "tax was withheld under a tax with no ATC (or one the catalog does not know)",
                 "set the Philippines ATC on the tax in Odoo (Accounting > Configuration > Taxes)")
ATC_NOT_IN_FORCE = _r("ATC_NOT_IN_FORCE", TO_CLASSIFY, "rules", "the tax's ATC is not valid on the line's date",
                      "use the ATC in force on that date (e.g. WC820 instead of WC760 from 14 Mar 2025)")
MISSING_CURRENCY_RATE = _r("MISSING_CURRENCY_RATE", TO_CLASSIFY, "rules",
                           "a foreign-currency line has no PHP amount, no PHP tax base and no exchange rate on or "
                           "before its date", "enter the BSP reference rate of the currency for that date in Odoo "
                           "(Accounting > Configuration > Currencies); the next run converts the line with it")

# -- flags on kept withholding lines --------------------------------------------------------------------------
MISSING_TIN = _r("MISSING_TIN", FLAGGED, "rules", "the payee has no TIN", "enter the payee's TIN in Odoo")
MALFORMED_TIN = _r("MALFORMED_TIN", FLAGGED, "rules", "the payee's TIN is not 9 digits plus a branch code",
                   "correct the payee's TIN in Odoo (NNN-NNN-NNN-NNNNN)")
ATC_FROM_NAME = _r("ATC_FROM_NAME", FLAGGED, "rules", "the ATC was read from the tax's name, not its ATC field",
                   "set the Philippines ATC field on the tax in Odoo")
WRONG_ATC_FOR_PAYEE = _r("WRONG_ATC_FOR_PAYEE", FLAGGED, "rules",
                         "an individual's code (WI) on a juridical payee, or the other way round",
                         "use the WC/WI code that matches the payee, or fix the partner's company type")
WRONG_RATE_FOR_PAYEE = _r("WRONG_RATE_FOR_PAYEE", FLAGGED, "rules",
                          "the payee's conditions (gross-income threshold and sworn declaration, VAT registration, "
                          "RR 24-2025 seller category) call for another ATC or rate",
                          "withhold under the expected ATC shown in the detail; adjust the shortfall")
RATE_NOT_IN_FORCE = _r("RATE_NOT_IN_FORCE", FLAGGED, "rules", "the tax's rate is not a rate of its ATC on that date",
                       "correct the tax's rate in Odoo")
PAYOR_NOT_ELIGIBLE = _r("PAYOR_NOT_ELIGIBLE", FLAGGED, "rules",
                        "a code reserved for top withholding agents or government payors used by a company that "
                        "is not one on that date",
                        "check the company's TWA date (x_ph_twa_since) or use the ordinary code")
TAX_NOT_RATE_X_BASE = _r("TAX_NOT_RATE_X_BASE", FLAGGED, "rules",
                         "the tax withheld differs from rate x base by more than one peso and 0.5%",
                         "check the tax's base (VAT-exclusive) and amount on the bill")
BACKDATED_POSTING = _r("BACKDATED_POSTING", FLAGGED, "rules",
                       "posted after the remittance deadline of its month (the 10th of the next month; for the "
                       "third month of a quarter, the 1601-EQ deadline at the end of the next month)",
                       "file an amended return for that month or quarter")
PHP_FROM_TAX_BASE = _r("PHP_FROM_TAX_BASE", FLAGGED, "rules",
                       "a foreign-currency line without a PHP balance: the PHP tax is the PHP base Odoo holds "
                       "(tax_base_amount) x the rate", "re-post the bill with its exchange rate in Odoo")
PHP_FROM_REFERENCE_RATE = _r("PHP_FROM_REFERENCE_RATE", FLAGGED, "rules",
                             "a foreign-currency line with neither a PHP balance nor a PHP base: converted at the "
                             "latest exchange rate on or before its date in Odoo's rate table",
                             "re-post the bill with its exchange rate in Odoo")

# -- partners (stage "partners", rebuilt whole every run) ----------------------------------------------------------
NAME_NOT_SPLIT = _r("NAME_NOT_SPLIT", FLAGGED, "partners",
                    "an individual payee's last, first and middle names are not known",
                    "fill Last/First/Middle name on the partner in Odoo, or write its name as 'Last, First, Middle'")
TIN_SHARED_BY_PARTNERS = _r("TIN_SHARED_BY_PARTNERS", FLAGGED, "partners",
                            "differently named partners share one TIN and branch; the alphalists use the name of "
                            "the oldest", "merge the duplicate partners in Odoo, or correct the wrong TIN")
MISSING_ADDRESS = _r("MISSING_ADDRESS", FLAGGED, "partners",
                     "a payee has no registered address or ZIP code (both are printed on the 2307 and the SLSP)",
                     "fill street, city and ZIP on the partner in Odoo")

ALL_REASONS: tuple[Reason, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Reason))
BY_CODE: dict[str, Reason] = {r.code: r for r in ALL_REASONS}
LINE_FLAGS: tuple[Reason, ...] = tuple(r for r in ALL_REASONS if r.stage == "rules" and r.action == FLAGGED)
