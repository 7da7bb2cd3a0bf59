"""The ATC catalog (``odoolake.bir.atc``) as Spark column expressions.

Each function turns the catalog's rows into one CASE/OR expression, so checking a line against the catalog costs no
join and no shuffle: the catalog is a few dozen rows and the expression is evaluated row by row. The rows come from
``odoolake.bir.atc.CATALOG`` only; the selection rule is the one ``expected_rule`` applies in Python (first row in
catalog order whose family, payee type, dates and condition match).
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column
from pyspark.sql import functions as F

from odoolake.bir.atc import (
    CATALOG,
    GROSS_INCOME_THRESHOLD,
    KNOWN_ATCS,
    LISTED_SELLER_CATEGORIES,
    SELLER_FAMILIES,
    THRESHOLD_FAMILIES,
    Condition,
    PayeeType,
    Payor,
)
from odoolake.pipeline.schemas import MONEY, RATE


def _any(conditions: list[Column]) -> Column:
    return reduce(lambda a, b: a | b, conditions, F.lit(False))


def _in_force(rule, on: Column) -> Column:
    return (on >= F.lit(rule.valid_from)) & (on <= F.lit(rule.valid_to))


def _per_code(attribute: str) -> Column:
    """A CASE over ATC codes returning one attribute that every row of a code shares (family, regime …)."""
    values: dict[str, str] = {}
    for rule in CATALOG:
        values.setdefault(rule.atc, str(getattr(rule, attribute)))
    expr = F.when(F.lit(False), F.lit(None).cast("string"))
    for code, value in values.items():
        expr = expr.when(F.col("atc") == code, F.lit(value))
    return expr


def atc_known() -> Column:
    return F.col("atc").isin(*sorted(KNOWN_ATCS))


def family() -> Column:
    return _per_code("family")


def regime() -> Column:
    return _per_code("regime")


def payor_condition() -> Column:
    return _per_code("payor")


def atc_in_force(on: Column) -> Column:
    return _any([(F.col("atc") == r.atc) & _in_force(r, on) for r in CATALOG])


def rate_in_force(on: Column, rate: Column) -> Column:
    return _any([(F.col("atc") == r.atc) & _in_force(r, on) & (rate == F.lit(r.rate).cast(RATE)) for r in CATALOG])


def payee_condition(paid_this_year: Column) -> Column:
    """The payee's ``Condition`` for the line's family (see ``odoolake.bir.atc.payee_condition``).

    Needs the line's ``family``, ``payee_type``, ``date`` and the partner's ``income_declaration``,
    ``declaration_date``, ``vat_registered`` and ``seller_category``.
    """
    limit = F.when(F.col("payee_type") == PayeeType.INDIVIDUAL.value,
                   F.lit(GROSS_INCOME_THRESHOLD[PayeeType.INDIVIDUAL]).cast(MONEY)) \
        .otherwise(F.lit(GROSS_INCOME_THRESHOLD[PayeeType.JURIDICAL]).cast(MONEY))
    declared = (F.col("income_declaration") == "not_over") & (F.col("declaration_date") <= F.col("date"))
    vat_blocks = F.col("vat_registered") & (F.col("payee_type") == PayeeType.INDIVIDUAL.value)
    within = F.coalesce(declared & ~vat_blocks & (paid_this_year <= limit), F.lit(False))
    listed = F.coalesce(F.col("seller_category").isin(*sorted(LISTED_SELLER_CATEGORIES)), F.lit(False))
    return (
        F.when(F.col("family").isin(*sorted(THRESHOLD_FAMILIES)),
               F.when(within, Condition.INCOME_NOT_OVER_THRESHOLD.value)
               .otherwise(Condition.INCOME_OVER_THRESHOLD.value))
        .when(F.col("family").isin(*sorted(SELLER_FAMILIES)),
              F.when(listed, Condition.LISTED_SELLER.value).otherwise(Condition.OTHER_SELLER.value))
        .otherwise(Condition.ANY.value)
    )


def _expected(value: str, condition: Column, on: Column) -> Column:
    expr = F.when(F.lit(False), F.lit(None))
    for r in CATALOG:
        payee = F.lit(True) if r.payee_type == PayeeType.ANY else (F.col("payee_type") == r.payee_type.value)
        matches = F.lit(True) if r.condition == Condition.ANY else (condition == r.condition.value)
        expr = expr.when((F.col("family") == r.family) & payee & _in_force(r, on) & matches,
                         F.lit(r.atc) if value == "atc" else F.lit(r.rate).cast(RATE))
    return expr


def expected_atc(condition: Column, on: Column) -> Column:
    return _expected("atc", condition, on)


def expected_rate(condition: Column, on: Column) -> Column:
    return _expected("rate", condition, on)


def payor_eligible(on: Column) -> Column:
    """Whether the company may use the line's code on that date (TWA and government codes)."""
    payor = payor_condition()
    return (
        F.when(payor == Payor.TOP_WITHHOLDING_AGENT.value, F.coalesce(F.col("twa_since") <= on, F.lit(False)))
        .when(payor == Payor.GOVERNMENT.value, F.coalesce(F.col("is_government"), F.lit(False)))
        .otherwise(F.lit(True))
    )


def nature() -> Column:
    """The income description of the line's code (the row in force on the date, else the code's first row)."""
    expr = F.when(F.lit(False), F.lit(None).cast("string"))
    for r in CATALOG:
        expr = expr.when((F.col("atc") == r.atc) & _in_force(r, F.col("date")), F.lit(r.nature))
    return F.coalesce(expr, _per_code("nature"))
