"""Silver: the current state of Odoo's journal, and typed EWT/VAT lines with every rejection explained.

Incremental by period. For new bronze batches B:
1. touched moves T = moves delivered in B, plus moves of lines delivered in B;
2. the latest version of each touched move wins (by ``write_date``); a move's lines are those of its
   latest delivery (Odoo re-creates tax lines when a bill changes), deduplicated by line id;
3. the affected periods P are the touched moves' new periods and their previous ones;
4. ``silver.moves``/``move_lines`` and then ``ewt_lines``/``vat_lines``/quarantine rules are replaced
   for P only, so loading one month never rewrites history and re-running a month is idempotent.
Dimensions (partners, taxes, companies) are small and rebuilt whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from itertools import groupby

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from odoolake.bir import reasons
from odoolake.bir.atc import THRESHOLD_FAMILIES
from odoolake.bir.calendar import REMITTANCE_DAY
from odoolake.pipeline import catalog, io
from odoolake.pipeline.bronze import valid_rows
from odoolake.pipeline.schemas import (
    ACCOUNT_MOVE,
    ACCOUNT_MOVE_LINE,
    ACCOUNT_TAX,
    MONEY,
    RATE,
    RES_COMPANY,
    RES_CURRENCY_RATE,
    RES_PARTNER,
    RawModel,
)

ATC_PATTERN = r"(W[ICV][0-9]{3})"


@dataclass
class SilverResult:
    batches: list[str] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)


def m2o_id(col: str) -> Column:
    return F.col(col).getItem(0).cast("bigint")


def m2o_name(col: str) -> Column:
    return F.col(col).getItem(1)


def blank_to_null(col: str) -> Column:
    """Odoo sends ``false`` for an empty char field."""
    value = F.trim(F.col(col))
    return F.when((value == "") | (F.lower(value) == "false"), F.lit(None)).otherwise(value)


def latest(df: DataFrame, key: str, order: list[Column]) -> DataFrame:
    """One row per ``key``: the first by ``order`` (window dedup; Sail's dropDuplicates is slow)."""
    w = Window.partitionBy(key).orderBy(*order)
    return df.withColumn("_rn", F.row_number().over(w)).where(F.col("_rn") == 1).drop("_rn")


def latest_version(df: DataFrame, key: str = "id") -> DataFrame:
    """The newest delivery of each Odoo record: highest ``write_date``, then the latest batch (small tables)."""
    return latest(df, key, [F.col("write_date").desc(), F.col("_batch_id").desc()])


VERSION_SEPARATOR = "\u0001"  # sorts below every character of a date, batch id or path


def version_order() -> Column:
    """One string that orders a record's deliveries as ``(write_date, _batch_id, _source_file)`` does."""
    return F.concat_ws(VERSION_SEPARATOR, *[F.coalesce(F.col(c), F.lit("")) for c in
                                            ("write_date", "_batch_id", "_source_file")])


def newest(df: DataFrame, key: str = "id") -> DataFrame:
    """The newest delivery of each record by ``(write_date, _batch_id, _source_file)``: a max over one key and a join
    back, instead of a window that sorts every row (about half the CPU on the embedded engine for the journal).

    The order is total because one extract file holds each record version once: bronze refuses a file that repeats
    an ``(id, write_date)`` (``bronze.REPEATED_RECORD``), so no two rows share a key and the join keeps one row per
    record, the one the window ``latest_version`` keeps.
    """
    versions = df.withColumn("_version", version_order())
    best = versions.groupBy(key).agg(F.max("_version").alias("_version"))
    return versions.join(best, [key, "_version"]).drop("_version")


# -- TINs (the same rules as odoolake.bir.tin, in Spark) --------------------------------------------

def tin_columns(vat: Column, branch_code: Column) -> list[Column]:
    raw = F.trim(vat)
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    number = F.substring(digits, 1, 9)
    tail = F.substring(digits, 10, 10)
    hint = F.regexp_replace(F.coalesce(branch_code, F.lit("")), r"[^0-9]", "")
    branch_digits = F.when(tail == "", hint).otherwise(tail)
    trimmed = F.regexp_replace(branch_digits, r"^0+", "")
    branch = F.lpad(F.when(trimmed == "", F.lit("0")).otherwise(trimmed), 4, "0")
    missing = raw.isNull() | (raw == "")
    malformed = (
        raw.rlike("[A-Za-z]")
        | ~F.length(digits).isin(9, 12, 13, 14)
        | (number == F.repeat(F.substring(number, 1, 1), 9))
        | (F.length(trimmed) > 4)
    )
    status = (
        F.when(missing, "MISSING")
        .when(malformed, "MALFORMED")
        .when(raw.rlike(r"^[0-9]{3}-[0-9]{3}-[0-9]{3}(-[0-9]{3,5})?$"), "VALID")
        .otherwise("NORMALISED")
    )
    ok = ~missing & ~malformed
    return [
        F.when(ok, number).alias("tin"),
        F.when(ok, branch).alias("tin_branch"),
        status.alias("tin_status"),
    ]


# -- dimensions ------------------------------------------------------------------------------------

def _address_columns() -> list[Column]:
    """Registered address as the 2307 and RELIEF print it: line 1 street, line 2 city, province (country if abroad)."""
    line1 = F.concat_ws(" ", blank_to_null("street"), blank_to_null("street2"))
    country = m2o_name("country_id")
    abroad = F.when(country.isNotNull() & (country != "Philippines"), country)
    line2 = F.concat_ws(", ", blank_to_null("city"), m2o_name("state_id"), abroad)
    return [F.when(line1 != "", line1).alias("address1"), F.when(line2 != "", line2).alias("address2"),
            blank_to_null("zip").alias("zip")]


def _split_names(is_company: Column) -> list[Column]:
    """Last, first and middle names of an individual, and where they came from.

    Odoo's name fields (``last_name``/``first_name``/``middle_name``; ``l10n_ph_*`` in 19) when last and first are
    both filled; else a name written ``Last, First`` or ``Last, First, Middle``; else not split (flagged
    NAME_NOT_SPLIT): a name like "Juan Santos Dela Cruz" cannot be split without guessing where the surname starts.
    """
    last, first, middle = blank_to_null("last_name"), blank_to_null("first_name"), blank_to_null("middle_name")
    name = F.trim(F.coalesce(F.col("name"), F.lit("")))
    parts = F.split(name, ",")
    comma = name.rlike(r"^[^,]+,[^,]+(,[^,]*)?$")
    from_fields = last.isNotNull() & first.isNotNull()
    status = (F.when(is_company, "company").when(from_fields, "fields").when(comma, "comma").otherwise("not_split"))

    def pick(field: Column, index: int) -> Column:
        piece = F.trim(parts.getItem(index))
        from_comma = F.when(F.size(parts) > index, F.when(piece != "", piece))
        return F.when(status == "fields", field).when(status == "comma", from_comma)

    return [pick(last, 0).alias("last_name"), pick(first, 1).alias("first_name"),
            pick(middle, 2).alias("middle_name"), status.alias("name_status")]


PAYEE_IDENTITY = ("payee_name", "is_company", "last_name", "first_name", "middle_name", "name_status", "address1",
                  "address2", "zip")


def partner_key() -> Column:
    """The payee key of a partner with no TIN to group by, or one silver does not hold: the partner alone."""
    return F.concat(F.lit("partner:"), F.col("partner_id").cast("string"))


def build_partners(raw: DataFrame) -> DataFrame:
    """One row per partner, its TIN, split names and address, and the payee identity the BIR outputs print.

    Partners sharing a TIN and branch are one payee (``payee_key``); the outputs print the identity of the oldest
    such partner (``payee_*`` columns) and the partners are flagged TIN_SHARED_BY_PARTNERS when their names differ.
    """
    cur = latest_version(raw)
    vat = blank_to_null("vat")
    is_company = F.coalesce(F.col("is_company"), F.col("company_type") == "company")
    own = cur.select(
        F.col("id").alias("partner_id"),
        F.col("name").alias("partner_name"),
        is_company.alias("is_company"),
        F.when(is_company, "corporation").otherwise("individual").alias("payee_type"),
        *_split_names(is_company),
        vat.alias("vat"),
        *tin_columns(vat, blank_to_null("branch_code")),
        *_address_columns(),
        m2o_name("country_id").alias("country"),
        F.lower(blank_to_null("x_ph_gross_income_declaration")).alias("income_declaration"),
        F.to_date(blank_to_null("x_ph_declaration_date")).alias("declaration_date"),
        F.coalesce(F.col("x_ph_vat_registered"), F.lit(False)).alias("vat_registered"),
        F.lower(blank_to_null("x_ph_seller_category")).alias("seller_category"),
        F.coalesce(F.col("_deleted"), F.lit(False)).alias("is_deleted"),
    )
    key = F.coalesce(F.concat(F.col("tin"), F.col("tin_branch")), partner_key())
    own = own.withColumn("payee_key", key).withColumn(
        "payee_name", F.when(F.col("name_status").isin("fields", "comma"), F.concat_ws(
            ", ", F.col("last_name"), F.col("first_name"), F.col("middle_name"))).otherwise(F.col("partner_name")))
    groups = own.where(~F.col("is_deleted")).groupBy("payee_key").agg(
        F.min("partner_id").alias("canonical_id"),
        F.countDistinct(F.upper(F.trim(F.col("partner_name")))).alias("_names"))
    canonical = own.select(F.col("partner_id").alias("canonical_id"),
                           *[F.col(c).alias(f"_c_{c}") for c in PAYEE_IDENTITY])
    out = own.join(groups, "payee_key", "left").join(canonical, "canonical_id", "left")
    return out.select(
        "partner_id", "partner_name", "is_company", "payee_type", "last_name", "first_name", "middle_name",
        "name_status", "vat", "tin", "tin_branch", "tin_status", "address1", "address2", "zip", "country",
        "income_declaration", "declaration_date", "vat_registered", "seller_category", "is_deleted", "payee_key",
        (F.coalesce(F.col("_names"), F.lit(1)) > 1).alias("tin_shared"),
        F.coalesce(F.col("canonical_id"), F.col("partner_id")).alias("canonical_partner_id"),
        *[F.coalesce(F.col(f"_c_{c}"), F.col(c)).alias(c if c == "payee_name" else f"payee_{c}")
          for c in PAYEE_IDENTITY],
    )


def build_taxes(raw: DataFrame) -> DataFrame:
    cur = latest_version(raw)
    field_atc = F.upper(blank_to_null("l10n_ph_atc"))
    name_atc = F.regexp_extract(F.upper(F.coalesce(F.col("name"), F.lit(""))), ATC_PATTERN, 1)
    return cur.select(
        F.col("id").alias("tax_id"),
        F.col("name").alias("tax_name"),
        F.col("amount").cast(RATE).alias("tax_amount"),
        F.col("type_tax_use").alias("tax_use"),
        (F.col("amount") < 0).alias("is_withholding"),
        F.coalesce(field_atc, F.when(name_atc != "", name_atc)).alias("atc"),
        F.when(field_atc.isNotNull(), "field").when(name_atc != "", "name").alias("atc_source"),
        F.lower(F.coalesce(F.col("name"), F.lit(""))).alias("_lname"),
    ).withColumn(
        "vat_category",
        F.when(F.col("is_withholding"), F.lit(None))
        .when(F.col("_lname").contains("zero"), "zero_rated")
        .when(F.col("_lname").contains("exempt"), "exempt")
        .when(F.col("_lname").contains("capital"), "capital_goods")
        .when(F.col("_lname").contains("import"), "imports")
        .when(F.col("_lname").contains("service"), "services")
        .when(F.col("tax_use") == "sale", "taxable")
        .otherwise("goods"),
    ).drop("_lname")


def build_companies(raw: DataFrame) -> DataFrame:
    cur = latest_version(raw)
    vat = blank_to_null("vat")
    return cur.select(
        F.col("id").alias("company_id"),
        F.col("name").alias("agency"),
        F.coalesce(blank_to_null("x_ph_registered_name"), F.col("name")).alias("registered_name"),
        *[column.alias(f"agency_{name}") for column, name in zip(tin_columns(vat, F.lit(None)),
                                                                  ("tin", "branch", "tin_status"), strict=True)],
        blank_to_null("l10n_ph_rdo").alias("rdo"),
        *_address_columns(),
        F.to_date(blank_to_null("x_ph_twa_since")).alias("twa_since"),
        F.coalesce(F.col("x_ph_is_government"), F.lit(False)).alias("is_government"),
        F.upper(blank_to_null("x_ph_efps_group")).alias("efps_group"),
    )


def build_currency_rates(raw: DataFrame, horizon_days: int = 62) -> DataFrame:
    """PHP per unit of each currency for every day, from Odoo's rate table: a rate holds from its date to the day
    before the next one (the last one for ``horizon_days`` past today). One small table, joined by equality."""
    cur = latest_version(raw).where(~F.coalesce(F.col("_deleted"), F.lit(False)))
    per_unit = F.when(F.col("inverse_company_rate") > 0, F.col("inverse_company_rate")).when(
        F.col("rate") > 0, 1 / F.col("rate"))
    rates = cur.select(m2o_name("currency_id").alias("currency"), F.to_date("name").alias("rate_date"),
                       per_unit.cast("decimal(18,6)").alias("php_per_unit"), "id")
    one_a_day = latest(rates.withColumn("_key", F.concat_ws("|", "currency", F.col("rate_date").cast("string"))),
                       "_key", [F.col("id").desc()]).drop("_key")
    with_next = one_a_day.where(F.col("php_per_unit").isNotNull()).withColumn(
        "_next", F.lead("rate_date").over(Window.partitionBy("currency").orderBy("rate_date")))
    until = F.coalesce(F.date_sub(F.col("_next"), 1),
                       F.date_add(F.greatest(F.col("rate_date"), F.current_date()), horizon_days))
    return with_next.select(
        "currency", F.explode(F.sequence("rate_date", until)).alias("date"),
        F.col("php_per_unit").alias("fx_php_per_unit"))


# -- journal current state ---------------------------------------------------------------------------

TOMBSTONE_FILL = ("date", "name", "company_id", "partner_id", "move_type")


def current_moves(moves: DataFrame) -> DataFrame:
    # A tombstone ({"id", "_deleted": true}) carries no date or company: take them from an earlier version.
    # Only tombstoned ids are looked up (a small join), not every move (a window over all of them).
    # The newest dated version fills them, whatever order the engine reads the versions in.
    tombstoned = moves.where(F.coalesce(F.col("_deleted"), F.lit(False))).select("id").distinct()
    earlier = newest(moves.join(tombstoned, "id", "left_semi").where(F.col("date").isNotNull())).select(
        "id", *[F.col(name).alias(f"_prev_{name}") for name in TOMBSTONE_FILL])
    cur = newest(moves).join(earlier, "id", "left")
    for name in TOMBSTONE_FILL:
        cur = cur.withColumn(name, F.coalesce(F.col(name), F.col(f"_prev_{name}")))
    return cur.select(
        F.col("id").alias("move_id"),
        F.col("name").alias("move_name"),
        blank_to_null("ref").alias("ref"),
        F.col("move_type"),
        F.when(F.coalesce(F.col("_deleted"), F.lit(False)), F.lit("deleted")).otherwise(F.col("state")).alias("state"),
        F.to_date("date").alias("date"),
        F.to_date(blank_to_null("invoice_date")).alias("invoice_date"),
        m2o_id("partner_id").alias("partner_id"),
        m2o_id("company_id").alias("company_id"),
        F.coalesce(m2o_name("currency_id"), F.lit("PHP")).alias("currency"),
        m2o_id("origin_payment_id").alias("origin_payment_id"),
        F.to_timestamp("write_date").alias("write_date"),
        F.col("_batch_id"),
    )


def with_period(df: DataFrame, date_col: str = "date") -> DataFrame:
    return df.withColumn("period", F.date_format(F.col(date_col), "yyyy-MM"))


def current_lines(lines: DataFrame, moves_now: DataFrame) -> DataFrame:
    """Lines of each move's latest delivery, one row per line id (re-deliveries collapse)."""
    anchor = moves_now.select("move_id", F.col("_batch_id").alias("_move_batch"), "period")
    candidates = (
        lines.select(
            F.col("id").alias("line_id"),
            m2o_id("move_id").alias("move_id"),
            F.col("display_type"),
            m2o_id("tax_line_id").alias("tax_line_id"),
            F.col("tax_ids"),
            F.col("tax_base_amount"),
            F.col("balance"),
            F.col("amount_currency"),
            m2o_name("account_id").alias("account"),
            F.col("parent_state"),
            F.col("write_date"),
            F.col("_batch_id"),
            F.col("_source_file"),
        )
        .join(anchor, "move_id")
        .where(F.col("_batch_id") >= F.col("_move_batch"))
    )
    cur = newest(candidates, "line_id")
    return cur.select(
        "line_id", "move_id", "period", "display_type", "tax_line_id", "tax_ids",
        *[money(F.col(c)).alias(c) for c in ("tax_base_amount", "balance", "amount_currency")],
        "account", "parent_state", F.to_timestamp("write_date").alias("write_date"), "_batch_id",
    )


def lines_since(lines: DataFrame, anchor: DataFrame) -> DataFrame:
    """The bronze lines that can be current for the moves of ``anchor`` (one small query to find where to start).

    A move's current lines come from its latest delivery or later, so batches older than the anchor's oldest are
    skipped; Delta's file statistics let the engine leave their files unread. The join in ``current_lines`` then
    keeps only the anchor's lines. At 10M lines this saves a new month's run a full read of bronze, and a full
    run's later period groups most of one.
    """
    first = anchor.agg(F.min("_batch_id")).first()  # an aggregate always has one row
    oldest = first[0] if first is not None else None
    return lines if oldest is None else lines.where(F.col("_batch_id") >= oldest)


def duplicate_records(lines: DataFrame) -> DataFrame:
    """Second and later deliveries of the same line version (same id and write_date).

    A hash aggregate finds the repeated keys; only those few rows are then ordered, not every line.
    """
    repeated = lines.groupBy("id", "write_date").count().where(F.col("count") > 1).drop("count")
    exact = Window.partitionBy("id", "write_date").orderBy("_batch_id", "_source_file")
    copies = lines.join(repeated, ["id", "write_date"], "left_semi")
    return copies.withColumn("_copy", F.row_number().over(exact)).where(F.col("_copy") > 1).drop("_copy")


def dedup_quarantine(lines: DataFrame, in_batch: Column) -> DataFrame:
    """The quarantine's rows for the repeated deliveries among ``lines`` made in the batches of ``in_batch``."""
    return duplicate_records(lines).where(in_batch).select(
        F.lit("dedup").alias("stage"), F.lit(reasons.DUPLICATE_RECORD.code).alias("reason"),
        F.lit(reasons.DUPLICATE_RECORD.action.value).alias("action"),
        F.lit("account.move.line").alias("model"), F.col("id").alias("record_id"), m2o_id("move_id").alias("move_id"),
        F.date_format(F.to_date("date"), "yyyy-MM").alias("period"), m2o_name("company_id").alias("agency"),
        F.concat(F.lit("same id and write_date delivered again in "), F.col("_batch_id")).alias("detail"),
        "_batch_id", "_source_file", F.lit(None).cast("string").alias("raw"),
    )


# -- EWT / VAT lines and rule-based quarantine ------------------------------------------------------

def _quarantine(df: DataFrame, reason: Column, action: Column, model: str, record_id: Column,
                detail: Column, stage: str = "rules") -> DataFrame:
    return df.select(
        F.lit(stage).alias("stage"),
        reason.alias("reason"),
        action.alias("action"),
        F.lit(model).alias("model"),
        record_id.cast("bigint").alias("record_id"),
        F.col("move_id").cast("bigint").alias("move_id"),
        F.col("period"),
        F.col("agency"),
        detail.alias("detail"),
        F.col("_batch_id"),
        F.lit(None).cast("string").alias("_source_file"),
        F.lit(None).cast("string").alias("raw"),
    )


def _action_of(reason: Column) -> Column:
    """The action of a reason code, from odoolake.bir.reasons (one CASE over the few codes)."""
    expr = F.when(F.lit(False), F.lit(None).cast("string"))
    for r in reasons.ALL_REASONS:
        expr = expr.when(reason == r.code, F.lit(r.action.value))
    return expr


BILL_DOCUMENT = ("company_id", "partner_id", "move_type", "ref")  # a bill posted twice repeats all four


def build_move_rejects(moves: DataFrame) -> DataFrame:
    """Moves that are not usable: not posted, or a later posted bill with the same vendor and reference.

    The repeated documents are found with a hash aggregate and joined back (few rows), not with a window
    over every move: about 6x faster on the embedded engine at 2M moves. A new month's run rebuilds every period
    holding a bill of a document its moves have or had, and gives this every bill of the rebuilt periods' documents
    (``run``), so ``moves`` holds each copy's original.
    """
    doc = list(BILL_DOCUMENT)
    bills = moves.where((F.col("state") == "posted") & F.col("ref").isNotNull()).select("move_id", *doc)
    repeated = (
        bills.groupBy(*doc).agg(F.min("move_id").alias("_first"), F.count(F.lit(1)).alias("_n"))
        .where(F.col("_n") > 1).select(*[F.col(c).alias(f"_d_{c}") for c in doc], "_first")
    )
    same_doc = [bills[c].eqNullSafe(repeated[f"_d_{c}"]) for c in doc]
    later = bills.join(repeated, same_doc).where(F.col("move_id") > F.col("_first")).select(
        "move_id", F.lit(True).alias("_later_copy"))
    reason = (
        F.when(F.col("state") == "draft", reasons.DRAFT.code)
        .when(F.col("state") == "cancel", reasons.CANCELLED.code)
        .when(F.col("state") == "deleted", reasons.DELETED.code)
        .when(F.col("_later_copy"), reasons.DUPLICATE_BILL.code)
    )
    flagged = moves.join(later, "move_id", "left").withColumn("_reason", reason).where(F.col("_reason").isNotNull())
    detail = F.when(
        F.col("_reason") == reasons.DUPLICATE_BILL.code,
        F.concat(F.lit("same vendor and reference as an earlier posted bill: "), F.col("ref")),
    ).otherwise(F.concat(F.lit("move is "), F.col("state"), F.lit(": "), F.coalesce(F.col("move_name"), F.lit(""))))
    return _quarantine(flagged, F.col("_reason"), _action_of(F.col("_reason")), "account.move", F.col("move_id"),
                       detail)


def money(column: Column) -> Column:
    return column.cast(MONEY)


def _php_amount() -> tuple[Column, Column]:
    """The line's PHP amount (signed like ``balance``) and where it came from.

    Written rule (docs/bir-outputs.md): a PHP line, or a line with a PHP balance, uses ``balance``. A
    foreign-currency line Odoo booked without a rate has none: Odoo converts a currency that has no rate at all at
    1.0 (``res.currency._get_rates``: ``COALESCE(…, 1.0)``), so its ``balance`` equals ``amount_currency`` and its
    ``tax_base_amount`` is the document base, neither in PHP (``unconverted``); an import may leave the balance at
    zero instead. Such a line uses the PHP base Odoo holds on the tax line (``tax_base_amount``, company currency;
    never an unconverted one) times the tax's rate, with the sign of ``amount_currency``: the document amount
    converted at the rate Odoo used for the base. Without a PHP base either, ``amount_currency`` is converted at the
    latest rate on or before the date in Odoo's rate table (the BSP reference rate, where the company loads it). With
    none of these the amount is unknown (MISSING_CURRENCY_RATE).
    """
    balance, amount_currency = F.col("balance"), F.col("amount_currency")
    unconverted = F.coalesce((F.col("currency") != "PHP") & (amount_currency != 0) & (balance == amount_currency),
                             F.lit(False))
    from_balance = ~unconverted & ((F.col("currency") == "PHP") | (balance != 0) |
                                   F.coalesce(amount_currency == 0, F.lit(True)))
    base = F.when(unconverted, F.lit(0).cast(MONEY)).otherwise(
        F.abs(F.coalesce(F.col("tax_base_amount"), F.lit(0).cast(MONEY))))
    derived = F.round(base * F.abs(F.col("tax_amount")) / 100, 2) * F.signum(amount_currency).cast("int")
    converted = F.round(amount_currency * F.col("fx_php_per_unit"), 2)
    php = (F.when(from_balance, balance).when(base != 0, money(derived))
           .when(F.col("fx_php_per_unit").isNotNull(), money(converted)))
    source = (F.when(from_balance, F.lit("balance")).when(base != 0, F.lit("tax_base"))
              .when(F.col("fx_php_per_unit").isNotNull(), F.lit("reference_rate")))
    return php, source


PARTNER_COLUMNS = ("partner_name", "is_company", "payee_type", "payee_key", "tin", "tin_branch", "tin_status",
                   "income_declaration", "declaration_date", "vat_registered", "seller_category")


COMPANY_COLUMNS = ("agency", "twa_since", "is_government")  # what a tax line takes from its company


def conform_tax_lines(moves: DataFrame, lines: DataFrame, partners: DataFrame, taxes: DataFrame,
                      companies: DataFrame, rates: DataFrame | None = None,
                      all_moves: DataFrame | None = None) -> DataFrame:
    """Every tax line of a usable posted move, joined with its move, partner and tax, with its PHP amount.

    A duplicate bill is looked for among ``all_moves`` (default ``moves``): a full run conforms the lines in groups of
    periods, and a bill may repeat one of another group.

    Each line gets at most one ``_reject`` (not usable: excluded) or ``_classify`` (withheld tax that cannot be put
    under an ATC: carried in the "withheld, to classify" bucket). Written once as ``silver.tax_lines``, so EWT
    lines, VAT lines and their quarantine read one table instead of joining the journal three times.
    """
    def with_company(df: DataFrame) -> DataFrame:
        return df.join(companies.select("company_id", *COMPANY_COLUMNS), "company_id", "left")

    moves = with_company(moves)
    scope = moves if all_moves is None else with_company(all_moves)
    usable = moves.join(build_move_rejects(scope).select(F.col("record_id").alias("move_id")), "move_id", "left_anti")
    usable = usable.where(F.col("state") == "posted")
    joined = (
        lines.where(F.col("tax_line_id").isNotNull())
        .join(usable.drop("period", "write_date", "_batch_id"), "move_id")
        .join(taxes, F.col("tax_line_id") == F.col("tax_id"), "left")
        .join(partners.select("partner_id", *PARTNER_COLUMNS), "partner_id", "left")
        # a partner silver does not hold (not delivered yet) is a payee of its own, as one without a TIN is
        .withColumn("payee_key", F.coalesce(F.col("payee_key"), partner_key()))
    )
    if rates is not None:  # a small per-day table: an equality join, broadcast
        joined = joined.join(F.broadcast(rates), ["currency", "date"], "left")
    else:
        joined = joined.withColumn("fx_php_per_unit", F.lit(None).cast("decimal(18,6)"))
    php, source = _php_amount()
    withholding = F.coalesce(F.col("is_withholding"), F.lit(False))
    reject = F.when(F.col("tax_id").isNull(), reasons.UNKNOWN_TAX.code)
    classify = (
        F.when(F.col("tax_id").isNull(), F.lit(None))
        .when(F.col("_php").isNull(), reasons.MISSING_CURRENCY_RATE.code)
        .when(withholding & ~F.coalesce(catalog.atc_known(), F.lit(False)), reasons.UNKNOWN_ATC.code)
        .when(withholding & ~catalog.atc_in_force(F.col("date")), reasons.ATC_NOT_IN_FORCE.code)
    )
    return joined.withColumn("_php", php).select(
        "period", "date", "agency", "company_id", "twa_since", "is_government", "move_id", "move_name", "move_type",
        "line_id", "invoice_date", "partner_id", *PARTNER_COLUMNS, "tax_line_id", "tax_id", "tax_name",
        "tax_amount", "tax_use", "is_withholding", "vat_category", "atc", "atc_source",
        catalog.family().alias("family"), catalog.regime().alias("regime"), "tax_base_amount", "balance",
        "amount_currency", "currency", F.col("_php").alias("balance_php"), source.alias("php_source"),
        "write_date", "_batch_id", reject.alias("_reject"), classify.alias("_classify"),
    )


# Functions, not module constants: classic (JVM) PySpark cannot build a Column before a session exists.
def _sales() -> Column:
    return F.col("tax_use") == "sale"


def _rate() -> Column:
    return F.abs(F.col("tax_amount"))


def _base() -> Column:
    """Signed taxable base (VAT-exclusive, as Odoo computes it): credit notes count negative. A foreign-currency line
    whose PHP amount came from the reference rate has no PHP base in Odoo (``tax_base_amount`` 0, or the document
    base Odoo converted at 1.0 for want of a rate): its base is the one its PHP tax implies, tax ÷ rate, so the
    income reported with the tax is converted at the same rate (it was 0.00: a 2307 and QAP certifying the tax
    against no income)."""
    refund = F.col("move_type").isin("in_refund", "out_refund")
    held = F.abs(F.coalesce(F.col("tax_base_amount"), F.lit(0).cast(MONEY)))
    implied = F.round(F.abs(F.col("balance_php")) * 100 / _rate(), 2)
    from_tax = (F.col("php_source") == "reference_rate") & (_rate() != 0)
    return money(F.when(from_tax, implied).otherwise(held) * F.when(refund, F.lit(-1)).otherwise(F.lit(1)))


def remittance_deadline(on: Column) -> Column:
    """When tax withheld in the month of ``on`` is due (statutory, before weekends and holidays): the 10th of the
    next month (0619-E), or for the third month of a quarter the last day of the next month (1601-EQ)."""
    following = F.add_months(on, 1)
    return F.when(F.month(on) % 3 == 0, F.last_day(following)).otherwise(
        F.make_date(F.year(following), F.month(following), F.lit(REMITTANCE_DAY)))


YTD_KEYS = ["agency", "payee_key", "year", "family"]


def _paid_this_year(wht: DataFrame, prior_ytd: DataFrame | None) -> DataFrame:
    """``paid_this_year`` on lines of threshold families: the payor's payments to the payee in the family this year
    up to and including the line (earlier periods from ``silver.payee_ytd``, this run's periods by a window)."""
    threshold = (~_sales() & F.col("_classify").isNull()
                 & F.col("family").isin(*sorted(THRESHOLD_FAMILIES)))
    flagged = wht.withColumn("_thr", F.coalesce(threshold, F.lit(False)))
    running = Window.partitionBy(*YTD_KEYS).orderBy("date", "line_id").rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    thr = flagged.where(F.col("_thr"))
    if prior_ytd is not None:
        # null-safe: lines with no partner have no payee key, and a full run's window keeps them together too
        prior = prior_ytd.groupBy(*YTD_KEYS).agg(F.sum("base").alias("_prior")).select(
            *[F.col(k).alias(f"_y_{k}") for k in YTD_KEYS], "_prior")
        thr = thr.join(prior, [F.col(k).eqNullSafe(F.col(f"_y_{k}")) for k in YTD_KEYS], "left").drop(
            *[f"_y_{k}" for k in YTD_KEYS])
    else:
        thr = thr.withColumn("_prior", F.lit(None).cast(MONEY))
    thr = thr.withColumn("paid_this_year", money(F.coalesce(F.col("_prior"), F.lit(0).cast(MONEY))
                                                 + F.sum(_base()).over(running))).drop("_prior")
    rest = flagged.where(~F.col("_thr")).withColumn("paid_this_year", F.lit(None).cast(MONEY))
    return thr.unionByName(rest).drop("_thr")


def ewt_lines(tax_lines: DataFrame, prior_ytd: DataFrame | None = None) -> DataFrame:
    """Usable withholding tax lines with payee, ATC, regime, amounts, the expected ATC and their flags.

    Lines in the "withheld, to classify" bucket (``atc_status`` = ``to_classify``) are kept: their tax counts in
    every remittance total. Purchase-side lines without a usable ATC are remitted with the EWT (``regime`` EWT)
    until classified; sales-side lines are always CWT (tax withheld *from* the company).
    """
    wht = tax_lines.where(F.col("_reject").isNull() & F.col("is_withholding")).withColumn("year", F.year("date"))
    wht = _paid_this_year(wht, prior_ytd)
    withheld = money(F.when(_sales(), F.col("balance_php")).otherwise(-F.col("balance_php")))
    classified = F.col("_classify").isNull()
    purchase = ~_sales()
    # the expected code is the payor's concern: purchase-side lines with a usable ATC only
    condition = F.when(purchase & classified, catalog.payee_condition(F.col("paid_this_year")))
    checked = F.col("payee_condition").isNotNull()
    expected_atc = F.when(checked, catalog.expected_atc(F.col("payee_condition"), F.col("date")))
    expected_rate = F.when(checked, catalog.expected_rate(F.col("payee_condition"), F.col("date")))
    wrong_payee = ((F.col("atc").startswith("WI") & F.col("is_company"))
                   | (F.col("atc").startswith("WC") & ~F.coalesce(F.col("is_company"), F.lit(True))))
    rate_ok = catalog.rate_in_force(F.col("date"), _rate())
    at_rate = F.abs(F.col("base")) * _rate() / 100
    flags = {
        reasons.MISSING_TIN: F.col("tin_status") == "MISSING",
        reasons.MALFORMED_TIN: F.col("tin_status") == "MALFORMED",
        reasons.ATC_FROM_NAME: classified & (F.col("atc_source") == "name"),
        reasons.WRONG_ATC_FOR_PAYEE: purchase & classified & wrong_payee,
        reasons.RATE_NOT_IN_FORCE: classified & ~rate_ok,
        reasons.WRONG_RATE_FOR_PAYEE: (
            purchase & classified & ~F.coalesce(wrong_payee, F.lit(False)) & rate_ok
            & F.col("expected_atc").isNotNull()
            & ((F.col("atc") != F.col("expected_atc")) | (_rate() != F.col("expected_rate")))),
        reasons.PAYOR_NOT_ELIGIBLE: purchase & classified & ~catalog.payor_eligible(F.col("date")),
        reasons.TAX_NOT_RATE_X_BASE: classified & (
            F.abs(F.abs(F.col("tax_withheld")) - at_rate) > F.greatest(F.lit(1), at_rate * F.lit(0.005).cast(RATE))),
        reasons.BACKDATED_POSTING: purchase & (F.to_date(F.col("write_date")) > remittance_deadline(F.col("date"))),
        reasons.PHP_FROM_TAX_BASE: F.col("php_source") == "tax_base",
        reasons.PHP_FROM_REFERENCE_RATE: F.col("php_source") == "reference_rate",
    }
    staged = wht.select(
        "*", withheld.alias("tax_withheld"), _base().alias("base"), condition.alias("payee_condition"),
    ).withColumn("expected_atc", expected_atc).withColumn("expected_rate", expected_rate)
    return staged.select(
        "period", "year", F.month("date").alias("month"), "agency", "company_id",
        "move_id", "move_name", "move_type", "line_id", "date", "invoice_date", "partner_id",
        F.col("partner_name").alias("payee_name"), "is_company", "payee_type", "payee_key",
        F.col("tin").alias("payee_tin"), F.col("tin_branch").alias("payee_branch"), "tin_status",
        "atc", "atc_source", F.when(classified, "ok").otherwise("to_classify").alias("atc_status"),
        F.col("_classify").alias("classify_reason"), "family",
        F.when(_sales(), F.lit("CWT")).otherwise(F.coalesce(F.col("regime"), F.lit("EWT"))).alias("regime"),
        "tax_id", "tax_name", _rate().alias("rate"), "base", "tax_withheld", "paid_this_year", "payee_condition",
        "expected_atc", "expected_rate", "currency", "php_source", F.col("write_date").alias("posted_at"),
        F.concat_ws(",", *[F.when(cond, F.lit(r.code)) for r, cond in flags.items()]).alias("dq_flags"),
        "_batch_id",
    )


def payee_ytd(ewt: DataFrame) -> DataFrame:
    """Per period, what the payor paid each payee in each threshold family (the running totals' earlier months), by
    partner: a partner whose TIN changes takes its part of the year's total to its new payee (``prior_ytd``)."""
    return (ewt.where(F.col("paid_this_year").isNotNull())
            .groupBy("period", "partner_id", *YTD_KEYS).agg(money(F.sum("base")).alias("base")))


def vat_lines(tax_lines: DataFrame) -> DataFrame:
    """Usable output and input VAT lines by category (importations apart: side ``import``)."""
    side = F.when(_sales(), "sale").when(F.col("vat_category") == "imports", "import").otherwise("purchase")
    return tax_lines.where(F.col("_reject").isNull() & F.col("_classify").isNull() & ~F.col("is_withholding")).select(
        "period", F.year("date").alias("year"), F.month("date").alias("month"), "agency", "company_id",
        "move_id", "move_name", "move_type", "line_id", "date", "invoice_date", "partner_id",
        F.col("payee_key").alias("counterparty_key"),
        F.col("tin").alias("partner_tin"), F.col("tin_branch").alias("partner_branch"), "tin_status",
        side.alias("side"), "vat_category", "tax_id", "tax_name",
        _rate().alias("rate"), _base().alias("base"),
        money(F.when(_sales(), -F.col("balance_php")).otherwise(F.col("balance_php"))).alias("vat"),
        "_batch_id",
    )


def tax_line_rejects(tax_lines: DataFrame) -> DataFrame:
    """One quarantine row per rejected or to-classify tax line, with what is wrong and the amount in words."""
    reason = F.coalesce(F.col("_reject"), F.col("_classify"))
    held = tax_lines.where(reason.isNotNull())
    amount = F.format_number(F.abs(F.col("balance_php")).cast("double"), 2)
    detail = (
        F.when(reason == reasons.MISSING_CURRENCY_RATE.code,
               F.concat(F.lit("no PHP amount on a "), F.col("currency"), F.lit(" line ("),
                        F.col("amount_currency").cast("string"), F.lit(" "), F.col("currency"),
                        F.lit("): enter the rate for "), F.col("date").cast("string"), F.lit(" in Odoo")))
        .when(reason == reasons.UNKNOWN_TAX.code,
              F.concat(F.lit("tax id "), F.col("tax_line_id").cast("string"), F.lit(" is not in account.tax")))
        .when(reason == reasons.ATC_NOT_IN_FORCE.code,
              F.concat(F.lit("PHP "), amount, F.lit(" withheld under "), F.col("atc"), F.lit(", not valid on "),
                       F.col("date").cast("string"), F.lit(" (to classify): set the ATC in force on tax '"),
                       F.col("tax_name"), F.lit("' in Odoo")))
        .otherwise(F.concat(F.lit("PHP "), amount, F.lit(" withheld under tax '"), F.col("tax_name"),
                            F.lit("' with no known ATC (to classify): set its Philippines ATC in Odoo")))
    )
    return _quarantine(held, reason, _action_of(reason), "account.move.line", F.col("line_id"), detail)


def build_tax_lines(
    moves: DataFrame, lines: DataFrame, partners: DataFrame, taxes: DataFrame, companies: DataFrame,
    rates: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(ewt_lines, vat_lines, quarantined tax lines) straight from the journal, without materialising tax lines."""
    tax_lines = conform_tax_lines(moves, lines, partners, taxes, companies, rates)
    return ewt_lines(tax_lines), vat_lines(tax_lines), tax_line_rejects(tax_lines)


def _flag_detail(flag: Column) -> Column:
    on = F.concat(F.lit(" on "), F.coalesce(F.col("atc"), F.lit("?")), F.lit(" "),
                  F.format_number(F.col("rate").cast("double"), 2), F.lit("% line of "), F.col("move_name"))
    expected = F.concat(F.lit(": expected "), F.coalesce(F.col("expected_atc"), F.lit("?")), F.lit(" at "),
                        F.format_number(F.col("expected_rate").cast("double"), 2), F.lit("% (payee "),
                        F.lower(F.col("payee_condition")), F.lit(")"))
    paid = F.when(F.col("paid_this_year").isNotNull(), F.concat(
        F.lit("; paid this year PHP "), F.format_number(F.col("paid_this_year").cast("double"), 2)))
    return (F.when(flag == reasons.WRONG_RATE_FOR_PAYEE.code,
                   F.concat(flag, on, expected, F.coalesce(paid, F.lit(""))))
            .when(flag == reasons.BACKDATED_POSTING.code,
                  F.concat(flag, on, F.lit(": posted "), F.to_date("posted_at").cast("string"), F.lit(", due "),
                           remittance_deadline(F.col("date")).cast("string")))
            .otherwise(F.concat(flag, on)))


def build_flags(ewt_lines: DataFrame) -> DataFrame:
    """One quarantine row per data-quality flag on a kept EWT line."""
    exploded = ewt_lines.where(F.col("dq_flags") != "").withColumn("_flag", F.explode(F.split("dq_flags", ",")))
    return _quarantine(exploded, F.col("_flag"), F.lit(reasons.FLAGGED.value), "account.move.line",
                       F.col("line_id"), _flag_detail(F.col("_flag")))


def build_partner_flags(partners: DataFrame) -> DataFrame:
    """Partner-level flags (stage ``partners``, rebuilt whole): names that cannot be split, shared TINs, addresses."""
    live = partners.where(~F.col("is_deleted"))
    checks = [
        (reasons.NAME_NOT_SPLIT, ~F.col("is_company") & (F.col("name_status") == "not_split"),
         F.concat(F.lit("individual '"), F.col("partner_name"), F.lit("' has no Last/First name in Odoo"))),
        (reasons.TIN_SHARED_BY_PARTNERS, F.col("tin_shared"),
         F.concat(F.lit("TIN "), F.coalesce(F.col("tin"), F.lit("")), F.lit("-"), F.coalesce(F.col("tin_branch"),
                  F.lit("")), F.lit(" is also used by another partner; the alphalists print '"),
                  F.col("payee_name"), F.lit("'"))),
        (reasons.MISSING_ADDRESS, (F.col("address1").isNull() & F.col("address2").isNull()) | F.col("zip").isNull(),
         F.concat(F.lit("'"), F.col("partner_name"), F.lit("' has no "), F.when(
             F.col("address1").isNull() & F.col("address2").isNull(), F.lit("registered address")).otherwise(
             F.lit("ZIP code")))),
    ]
    parts = [live.where(cond).select(
        F.lit("partners").alias("stage"), F.lit(r.code).alias("reason"), F.lit(r.action.value).alias("action"),
        F.lit("res.partner").alias("model"), F.col("partner_id").cast("bigint").alias("record_id"),
        F.lit(None).cast("bigint").alias("move_id"), F.lit(None).cast("string").alias("period"),
        F.lit(None).cast("string").alias("agency"), detail.alias("detail"), F.lit(None).cast("string").alias("_batch_id"),
        F.lit(None).cast("string").alias("_source_file"), F.lit(None).cast("string").alias("raw"))
        for r, cond, detail in checks]
    return reduce(DataFrame.unionByName, parts)


# -- the stage --------------------------------------------------------------------------------------

LINES_BYTES_PER_CHUNK = 128 * 1024 * 1024
ONE_GROUP_PERIODS = 6  # a new month rebuilding at most this many periods does so in one group, without sizing bronze
# Columns whose presence and type mark the current table layout; a lake written before is rebuilt from bronze.
LAYOUT = {
    io.SILVER_LINES: {"balance": MONEY},
    io.TAX_LINES: {"balance_php": MONEY, "_classify": "string"},
    io.EWT_LINES: {"base": MONEY, "tax_withheld": MONEY, "atc_status": "string", "payee_key": "string"},
    io.VAT_LINES: {"vat": MONEY, "counterparty_key": "string"},
    io.PAYEE_YTD: {"partner_id": "bigint"},
}
REBUILT_TABLES = (io.SILVER_MOVES, io.SILVER_LINES, io.TAX_LINES, io.EWT_LINES, io.VAT_LINES, io.PAYEE_YTD)


# A full run keeps each move's newest version in groups of move ids (io.replace_by_id_bucket): at 30M lines (5.9M
# moves) the aggregate and join over every version peaked at 6.8 GiB in one group, 2.6-2.8 GiB in three.
MOVES_BYTES_PER_BUCKET = 128 * 1024 * 1024


def period_chunks(periods: list[str], bronze_lines_bytes: int) -> list[list[str]]:
    """Consecutive groups of periods, one per LINES_BYTES_PER_CHUNK of bronze lines (one group below that)."""
    groups = max(1, min(len(periods), io.groups_for(bronze_lines_bytes, LINES_BYTES_PER_CHUNK)))
    size = -(-len(periods) // groups) if periods else 1
    return [periods[i:i + size] for i in range(0, len(periods), size)]


def years_of(periods: list[str]) -> list[list[str]]:
    """Sorted ``yyyy-MM`` periods grouped by year."""
    return [list(group) for _, group in groupby(periods, key=lambda period: period[:4])]


def logged_periods(spark: SparkSession) -> set[str]:
    """Every period silver has built, from its batch log (a few rows, not a scan of the journal)."""
    if not io.table_exists(spark, io.SILVER_LOG):
        return set()
    return {p for r in spark.table(io.SILVER_LOG).select("periods").collect() for p in (r[0] or "").split(",") if p}


def later_periods_of_same_year(periods: set[str], known: set[str]) -> set[str]:
    """Periods after the earliest of ``periods`` in the same year: their payees' running totals (and so the
    threshold checks) depend on it. A new month is the latest, so this adds nothing to an ordinary month-end."""
    first: dict[str, str] = {}
    for p in periods:
        first[p[:4]] = min(first.get(p[:4], p), p)
    return {k for k in known if k[:4] in first and k > first[k[:4]]}


def periods_of_new_rates(spark: SparkSession, batches: list[str], known: set[str]) -> set[str]:
    """Periods whose foreign-currency lines a newly delivered exchange rate can convert: from the month of the
    earliest new rate on (a rate holds until the next one). Odoo's rates arrive with the month they are for, so an
    ordinary month-end adds nothing here. A rate delivered again counts from the earliest date any of its versions had
    (a tombstone carries none): the lines a deleted rate, or one moved to a later date, converted are converted again
    without it."""
    if not batches or not io.table_exists(spark, RES_CURRENCY_RATE.bronze_table):
        return set()
    rates = valid_rows(spark, RES_CURRENCY_RATE)
    new = rates.where(F.col("_batch_id").isin(batches))
    # every version of a rate delivered again: one moved to a later date (or deleted) leaves the months it converted
    dated = rates.join(new.select("id").distinct(), "id").select("name")
    earliest = dated.agg(F.min(F.substring("name", 1, 7))).first()
    first = earliest[0] if earliest is not None else None
    return {k for k in known if first and k >= first}


REACHING_BACK = (ACCOUNT_TAX, RES_COMPANY, RES_CURRENCY_RATE)  # delivered again: earlier months change (Redelivered)


def unprocessed_rows(batches: list[str], done: dict[str, datetime | None]) -> Column:
    """The bronze rows of ``batches`` silver has not processed: all of a batch it never processed, and those that
    arrived after it did (a batch taken again)."""
    def part(batch: str) -> Column:
        of_batch = F.col("_batch_id") == batch
        when = done.get(batch)
        return of_batch & (F.col("_ingested_at") > F.lit(when)) if when is not None else of_batch
    return reduce(Column.__or__, [part(b) for b in batches])


def company_values(spark: SparkSession, leave_out: Column | None = None) -> dict[int, tuple]:
    """Each company's ``COMPANY_COLUMNS`` as bronze gives them, without the rows ``leave_out`` selects (a few rows).
    From bronze, not silver.companies: a run stopped after rebuilding the dimensions would leave the new values
    there, and the next run would see no change."""
    if not io.table_exists(spark, RES_COMPANY.bronze_table):
        return {}
    rows = valid_rows(spark, RES_COMPANY)
    if leave_out is not None:
        rows = rows.where(~leave_out)
    return _values_by_company(build_companies(rows))


def _values_by_company(companies: DataFrame) -> dict[int, tuple]:
    return {r[0]: tuple(r[1:]) for r in companies.select("company_id", *COMPANY_COLUMNS).collect()}


class Redelivered:
    """The dimensions whose values apply to every month of their lines (taxes, companies, exchange rates) as a new
    month's batches deliver them again, and the earlier periods a full rebuild, which conforms every month with them
    as they are now, would build differently: those are rebuilt. Made before ``rebuild_dimensions`` (it keeps the
    companies' values from before the batches), asked after it. A partner, changed somewhere in most months, applies
    to the months built after it (``prior_ytd``; docs/data-model.md)."""

    def __init__(self, spark: SparkSession, todo: list[str], models_of: dict[str, set[str]],
                 done: dict[str, datetime | None]) -> None:
        self.spark = spark
        self.batches = {raw.name: [b for b in todo if raw.name in models_of.get(b, set())] for raw in REACHING_BACK}
        companies = self.batches[RES_COMPANY.name]
        self.companies_before = company_values(spark, unprocessed_rows(companies, done)) if companies else None

    def periods(self, known: set[str]) -> set[str]:
        held = [df for df in (self._of_taxes(), self._of_companies()) if df is not None]
        found = {r[0] for r in reduce(DataFrame.unionByName, held).distinct().collect() if r[0]} if held else set()
        return found | periods_of_new_rates(self.spark, self.batches[RES_CURRENCY_RATE.name], known)

    def _of_taxes(self) -> DataFrame | None:
        """The periods of a tax delivered again (an ATC set in Odoo as the quarantine asks, a rate or family
        changed)."""
        batches = self.batches[ACCOUNT_TAX.name]
        if not batches or not io.table_exists(self.spark, io.TAX_LINES):
            return None
        taxes = [r[0] for r in valid_rows(self.spark, ACCOUNT_TAX).where(F.col("_batch_id").isin(batches))
                 .select("id").distinct().collect()]
        return self.spark.table(io.TAX_LINES).where(F.col("tax_line_id").isin(taxes)).select("period") if taxes \
            else None

    def _of_companies(self) -> DataFrame | None:
        """The periods of a company whose ``COMPANY_COLUMNS`` changed since the earlier batches (renamed: its agency;
        or new: delivered after moves of its own). A company delivered again with those unchanged (Odoo's lock dates
        are set on it each month) rebuilds nothing."""
        before = self.companies_before
        if before is None:
            return None
        now = _values_by_company(self.spark.table(io.SILVER_COMPANIES))  # rebuilt from bronze by now
        changed = sorted(c for c in set(now) | set(before) if before.get(c) != now.get(c))
        return self.spark.table(io.SILVER_MOVES).where(F.col("company_id").isin(changed)).select("period") \
            if changed else None


def prior_ytd(spark: SparkSession, periods: set[str]) -> DataFrame | None:
    """Running-total rows of the years being rebuilt, for the periods not being rebuilt (the earlier months), each
    under its partner's payee as it is now: a full rebuild gives a partner's earlier lines its new TIN's key, so the
    year's total goes on under the new TIN instead of starting again."""
    if not io.table_exists(spark, io.PAYEE_YTD):
        return None
    years = sorted({int(p[:4]) for p in periods})
    prior = spark.table(io.PAYEE_YTD).where(F.col("year").isin(years) & ~F.col("period").isin(sorted(periods)))
    now = spark.table(io.SILVER_PARTNERS).select("partner_id", F.col("payee_key").alias("_now"))
    return prior.join(now, "partner_id", "left").withColumn(
        "payee_key", F.coalesce(F.col("_now"), F.col("payee_key"))).drop("_now")


DIMENSIONS = ((RES_PARTNER, io.SILVER_PARTNERS, build_partners), (ACCOUNT_TAX, io.SILVER_TAXES, build_taxes),
              (RES_COMPANY, io.SILVER_COMPANIES, build_companies))


def dimension_current(spark: SparkSession, raw: RawModel, table: str, built: DataFrame) -> bool:
    """Whether ``table`` already holds what ``built`` would write: it was committed after the last commit to its
    bronze table (its only input) and has ``built``'s layout. A month-end's extract rarely changes partners, taxes
    or companies, and rebuilding them costs a new month's run about a tenth of its time at 1M lines."""
    built_at, received_at = io.last_commit_at(spark, table), io.last_commit_at(spark, raw.bronze_table)
    if built_at is None or received_at is None or built_at <= received_at:
        return False
    return io.same_layout(spark, table, built)


def rebuild_dimensions(spark: SparkSession, always: bool = False) -> set[str]:
    """Rebuild whole each dimension table whose bronze changed since it was built (every one when ``always``);
    returns the tables rewritten."""
    rebuilt = set()
    for raw, table, build in DIMENSIONS:
        built = build(valid_rows(spark, raw))
        if always or not dimension_current(spark, raw, table, built):
            io.overwrite(built, table)
            rebuilt.add(table)
    return rebuilt


@io.stage
def run(spark: SparkSession, batches: list[str] | None = None, full_refresh: bool = False) -> SilverResult:
    io.ensure_schemas(spark)
    bronze_moves = valid_rows(spark, ACCOUNT_MOVE)
    bronze_lines = valid_rows(spark, ACCOUNT_MOVE_LINE)
    # A batch may hold moves, lines (a line changed, its move not) or rates alone (a late or deleted rate). Its files
    # may reach bronze in two ingests (the extractor commits a batch's lines before its moves, and an ingest lists
    # moves first): a batch with rows appended after silver processed it is processed again.
    # A tax, a company or a rate delivered again applies to every month of its lines, as a full rebuild applies it: a
    # batch of any is processed too (``Redelivered``).
    arrival = ["_batch_id", "_ingested_at"]
    sources = [(ACCOUNT_MOVE, bronze_moves), (ACCOUNT_MOVE_LINE, bronze_lines)] + [
        (raw, valid_rows(spark, raw)) for raw in REACHING_BACK
        if io.table_exists(spark, raw.bronze_table)]
    delivered = reduce(DataFrame.unionByName, [rows.select(*arrival, F.lit(raw.name).alias("_model"))
                                               for raw, rows in sources])
    arrived: dict[str, datetime | None] = {}
    models_of: dict[str, set[str]] = {}
    for batch, model, at in delivered.groupBy("_batch_id", "_model").agg(F.max("_ingested_at")).collect():
        arrived[batch] = max((t for t in (arrived.get(batch), at) if t is not None), default=None)
        models_of.setdefault(batch, set()).add(model)
    all_batches = set(arrived)
    stale = io.outdated(spark, LAYOUT)
    if stale:  # written by an earlier version (e.g. DOUBLE amounts): rebuild silver whole from bronze
        io.drop_tables(spark, [*REBUILT_TABLES, io.SILVER_LOG])
    # The log is written last: a first run stopped part-way (between two groups) is finished as a full run.
    full = full_refresh or bool(stale) or not io.table_exists(spark, io.SILVER_MOVES) \
        or not io.table_exists(spark, io.SILVER_LOG)
    done = {} if full else io.processed_at(spark, io.SILVER_LOG)
    todo = sorted(all_batches if full else set(batches) if batches is not None
                  else io.pending_batches(arrived, done))
    result = SilverResult(batches=todo)

    redelivered = None if full else Redelivered(spark, todo, models_of, done)
    rebuilt = rebuild_dimensions(spark, always=full)
    if io.table_exists(spark, RES_CURRENCY_RATE.bronze_table):  # rebuilt every run: it reaches past today
        io.overwrite(build_currency_rates(valid_rows(spark, RES_CURRENCY_RATE)), io.SILVER_RATES)
    if io.SILVER_PARTNERS in rebuilt:
        io.replace_where(build_partner_flags(spark.table(io.SILVER_PARTNERS)), io.QUARANTINE, "stage = 'partners'")
    if not todo:
        return result

    in_batch = F.col("_batch_id").isin(todo)
    touched = (
        bronze_moves.where(in_batch).select("id")
        .unionByName(bronze_lines.where(in_batch).select(m2o_id("move_id").alias("id")))
        .distinct()
    )
    moves_src = bronze_moves if full else bronze_moves.join(touched, "id", "left_semi")
    # Every period any version of a touched move was in (a superset of what changes; rebuilding is idempotent).
    dated = moves_src.select(F.substring("date", 1, 7).alias("period")).distinct()
    periods = {r[0] for r in dated.collect() if r[0]}
    if not full:
        previous = spark.table(io.SILVER_MOVES).join(touched.withColumnRenamed("id", "move_id"), "move_id", "left_semi")
        # A bill's flag as a later copy depends on the other bills of its document, in any period: their periods are
        # rebuilt too, so each copy is compared with its original (every version of a touched move counts: a bill
        # whose reference changed frees its old document's copy).
        documents = previous.select(*BILL_DOCUMENT).unionByName(moves_src.select(
            m2o_id("company_id").alias("company_id"), m2o_id("partner_id").alias("partner_id"), "move_type",
            blank_to_null("ref").alias("ref"))).where(F.col("ref").isNotNull()).select(
            *[F.col(c).alias(f"_d_{c}") for c in BILL_DOCUMENT])
        same_document = spark.table(io.SILVER_MOVES).join(
            documents, [F.col(c).eqNullSafe(F.col(f"_d_{c}")) for c in BILL_DOCUMENT], "left_semi")
        periods |= {r[0] for r in previous.select("period").unionByName(same_document.select("period")).distinct()
                    .collect() if r[0]}
        known = logged_periods(spark)
        periods |= redelivered.periods(known) if redelivered else set()
        periods |= later_periods_of_same_year(periods, known)  # their running totals go on from these
    result.periods = sorted(periods)
    where_p = io.in_list("period", periods)

    # A full run builds lines and tax lines in groups of periods, one per LINES_BYTES_PER_CHUNK of bronze lines
    # (bounded memory); a new month's few periods are one group.
    # (A new month rebuilding many periods, after a tax or company changed, is grouped the same way.)
    grouped = full or len(periods) > ONE_GROUP_PERIODS
    lines_bytes = io.table_bytes(spark, ACCOUNT_MOVE_LINE.bronze_table) if grouped else 0
    chunks = period_chunks(sorted(periods), lines_bytes)
    if full:
        buckets = io.id_buckets(io.table_bytes(spark, ACCOUNT_MOVE.bronze_table), MOVES_BYTES_PER_BUCKET)
        # A move with no period (deleted before any dated version reached bronze) has nothing to report.
        io.replace_by_id_bucket(lambda moves: with_period(current_moves(moves)).where(where_p), moves_src,
                                io.SILVER_MOVES, where_p, "move_id", buckets, ["period"])
        anchor = spark.table(io.SILVER_MOVES)
        # The newest version of every line is a window over all of bronze: at 10M lines it alone took the engine
        # past 4 GiB. Lines belong to their move's period, so groups of periods are independent; each group's
        # window sees only its lines (bronze is scanned once per group).
        for chunk in chunks:
            where_c = io.in_list("period", chunk)
            group = anchor.where(where_c)
            io.replace_where(current_lines(lines_since(bronze_lines, group), group), io.SILVER_LINES, where_c,
                             ["period"])
    else:
        touched_ids = touched.withColumnRenamed("id", "move_id")
        keep_moves = spark.table(io.SILVER_MOVES).where(where_p).join(touched_ids, "move_id", "left_anti")
        moves_now = with_period(current_moves(moves_src)).where(where_p)
        io.replace_where(keep_moves.unionByName(moves_now), io.SILVER_MOVES, where_p, ["period"])
        anchor = spark.table(io.SILVER_MOVES).where(where_p).join(touched_ids, "move_id", "left_semi")
        keep_lines = spark.table(io.SILVER_LINES).where(where_p).join(touched_ids, "move_id", "left_anti")
        io.replace_where(keep_lines.unionByName(current_lines(lines_since(bronze_lines, anchor), anchor)),
                         io.SILVER_LINES, where_p, ["period"])

    moves_p = spark.table(io.SILVER_MOVES).where(where_p)
    # A copy is a duplicate of an original in any period: a period rebuilt for another reason (a new month, a later
    # month of the year) is checked against every bill of its documents, not only those of the periods rebuilt.
    # Only other months' posted bills count (the others are flagged in their own months), matched on the reference
    # by plain equality (it is never null in a bill), which the engine joins by hash.
    posted_bill = (F.col("state") == "posted") & F.col("ref").isNotNull()
    documents_p = moves_p.where(posted_bill).select(*[F.col(c).alias(f"_d_{c}") for c in BILL_DOCUMENT]).distinct()
    document_match = [F.col("ref") == F.col("_d_ref"), *[F.col(c).eqNullSafe(F.col(f"_d_{c}"))
                                                         for c in BILL_DOCUMENT if c != "ref"]]
    # Such bills are few (a copy across months is rare): fetched once, they join the checks as a small local table
    # instead of a scan of silver.moves planned into each statement that checks.
    bills_p = moves_p
    if not full:
        elsewhere = spark.table(io.SILVER_MOVES).where(posted_bill & ~F.expr(where_p)).join(
            documents_p, document_match, "left_semi")
        found = elsewhere.collect()
        if found:
            bills_p = moves_p.unionByName(spark.createDataFrame(found, elsewhere.schema))
    lines_p = spark.table(io.SILVER_LINES).where(where_p)
    companies_now = spark.table(io.SILVER_COMPANIES)
    rates = spark.table(io.SILVER_RATES) if io.table_exists(spark, io.SILVER_RATES) else None
    for chunk in chunks:
        where_c = io.in_list("period", chunk)
        conformed = conform_tax_lines(moves_p.where(where_c), lines_p.where(where_c), spark.table(io.SILVER_PARTNERS),
                                      spark.table(io.SILVER_TAXES), companies_now, rates, all_moves=bills_p)
        io.replace_where(conformed, io.TAX_LINES, where_c, ["period"])
    tax_lines = spark.table(io.TAX_LINES).where(where_p)
    # Copies of the lines delivered in these batches: every delivery of those line ids, and no others.
    dup_src = bronze_lines if full else bronze_lines.join(bronze_lines.where(in_batch).select("id").distinct(), "id",
                                                          "left_semi")
    # The running totals start again each year, so a chunked run builds the withholding lines year by year (at 30M
    # lines, all years at once peaked at 4.8 GiB); a run in one group keeps one write.
    for ytd_group in (years_of(sorted(periods)) if len(chunks) > 1 else [sorted(periods)]):
        where_y = io.in_list("period", ytd_group)
        io.replace_where(ewt_lines(tax_lines.where(where_y), prior_ytd(spark, set(ytd_group))), io.EWT_LINES,
                         where_y, ["period"])
    io.replace_where(payee_ytd(spark.table(io.EWT_LINES).where(where_p)), io.PAYEE_YTD, where_p)
    io.replace_where(vat_lines(tax_lines), io.VAT_LINES, where_p, ["period"])
    move_rejects = build_move_rejects(bills_p.join(companies_now.select("company_id", "agency"), "company_id",
                                                   "left")).where(where_p)
    rules = move_rejects.unionByName(tax_line_rejects(tax_lines)).unionByName(
        build_flags(spark.table(io.EWT_LINES).where(where_p)))
    io.replace_where(rules, io.QUARANTINE, f"stage = 'rules' AND {where_p}")
    dedup_buckets = io.id_buckets(lines_bytes, io.KEYS_BYTES_PER_BUCKET) if full else 1
    io.replace_by_id_bucket(lambda lines: dedup_quarantine(lines, in_batch), dup_src, io.QUARANTINE,
                            f"stage = 'dedup' AND {io.in_list('_batch_id', todo)}", "record_id", dedup_buckets)
    log = spark.createDataFrame([(b, ",".join(result.periods)) for b in todo], "batch_id string, periods string")
    log = log.withColumn("processed_at", F.current_timestamp())
    if full:
        io.overwrite(log, io.SILVER_LOG)
    else:
        io.replace_where(log, io.SILVER_LOG, io.in_list("batch_id", todo))
    return result
