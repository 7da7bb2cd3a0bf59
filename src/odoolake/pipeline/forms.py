"""Gold tables for BIR filing, per quarter, and the check that they agree with gold.

All come from ``silver.ewt_lines`` / ``silver.vat_lines`` joined with the payees' identity in ``silver.partners``
(so they reconcile with ``gold.bir_transactions``), and are replaced per quarter, so re-running one is idempotent.
- ``form_2307``: agency x quarter x payee (TIN + branch) x ATC x rate, income per month of the quarter (EWT);
- ``qap``: agency x quarter x regime (EWT: 1601-EQ, FWT: 1601-FQ) x payee x ATC x rate; schedule 2 = exempt;
- ``sawt``: agency (as payee) x quarter x payor x ATC x rate, from tax withheld by customers (CWT);
- ``slsp``: agency x quarter x side (sale, purchase, import) x counterparty, net amounts by VAT category;
- ``remittances``: agency x form (0619-E, 1601-EQ, 0619-F, 1601-FQ) x period: what was withheld, the part still to
  classify, what earlier returns of the quarter remitted and what is still due;
- ``filing_calendar``: agency x obligation with its due date and a status as of a date.
Rows keep net amounts, negative ones included (a credit note larger than the quarter's bills): the writers turn them
into exceptions, never into negative DAT rows.

``run`` rebuilds the quarters whose gold changed since the forms last ran (its own batch log), so forms never lag
gold whichever entry point ran the month-end; ``check_in_step`` fails the run when they still disagree.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from odoolake.bir.calendar import EfpsGroup, HolidayTable, obligations_for_year
from odoolake.errors import PipelineError
from odoolake.pipeline import catalog, io
from odoolake.pipeline.schemas import MONEY

FORM_2307 = "gold.form_2307"
QAP = "gold.qap"
SAWT = "gold.sawt"
SLSP = "gold.slsp"
REMITTANCES = "gold.remittances"
FILING_CALENDAR = "gold.filing_calendar"
FORMS_LOG = "gold.forms_log"
QUARTER_TABLES = (FORM_2307, QAP, SAWT, SLSP, REMITTANCES)
# Each quarter in its own files: a month-end replaces one or two quarters, and unpartitioned, every file held every
# quarter, so each replace rewrote the whole table (at 1M lines 61,000 rows of 2307s to change 8,000).
BY_QUARTER = ("quarter",)
LAYOUT = {
    FORM_2307: {"income_total": MONEY, "nature": "string", "address1": "string"},
    QAP: {"income": MONEY, "regime": "string", "individual": "boolean"},
    SAWT: {"income": MONEY},
    SLSP: {"vat": MONEY, "address1": "string"},
    REMITTANCES: {"total_withheld": MONEY},
}
IDENTITY = ("payee_name", "individual", "last_name", "first_name", "middle_name", "name_status", "address1",
            "address2", "zip", "country", "payee_tin", "payee_branch", "tin_status")


class FormsOutOfStepError(PipelineError):
    """The filing tables disagree with gold (a quarter was not rebuilt after its gold changed)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} BIR form total(s) differ from gold: " + "; ".join(problems[:5])
                         + (" …" if len(problems) > 5 else "")
                         + ". Rebuild the forms (the bir_forms task, or `odoolake bir forms --period <quarter>`).")


def quarter_of(period: str) -> str:
    return f"{period[:4]}Q{(int(period[5:7]) - 1) // 3 + 1}"


def months_of(quarters: list[str]) -> list[str]:
    """The periods (``YYYY-MM``) of quarters written ``YYYYQn``; the inverse of ``quarter_of``."""
    return [f"{q[:4]}-{3 * (int(q[5]) - 1) + m:02d}" for q in quarters for m in (1, 2, 3)]


def with_quarter(df: DataFrame) -> DataFrame:
    return df.withColumn("quarter", F.concat(F.col("year").cast("string"), F.lit("Q"),
                                             F.ceil(F.col("month") / 3).cast("string")))


def _money_sum(value: Column, when: Column | None = None) -> Column:
    picked = value if when is None else F.when(when, value)
    return F.coalesce(F.sum(picked), F.lit(0)).cast(MONEY)


def payee_identity(partners: DataFrame, key: str = "payee_key") -> DataFrame:
    """partner_id -> the key the forms group a payee's lines by (as ``key``) and the identity they print (the oldest
    partner of a shared TIN; see silver.partners)."""
    return partners.select(
        "partner_id", F.col("payee_key").alias(key), "payee_name",
        (~F.coalesce(F.col("payee_is_company"), F.lit(False))).alias("individual"),
        *[F.col(f"payee_{c}").alias(c) for c in ("last_name", "first_name", "middle_name", "name_status",
                                                   "address1", "address2", "zip")], "country",
        F.col("tin").alias("payee_tin"), F.col("tin_branch").alias("payee_branch"), "tin_status",
    )


def with_identity(lines: DataFrame, partners: DataFrame, key: str = "payee_key") -> DataFrame:
    """EWT lines (or VAT lines, ``key="counterparty_key"``) with the payee's key and the identity the outputs print,
    both the partner's as it is now, joined on the line's partner. A line keeps the key silver gave it when its period
    was built, so a quarter whose months were built before and after a payee's TIN changed would hold the payee
    under two keys, in two rows of a form, where a full rebuild holds one. (``drop`` skips a name the lines do not
    have, on every engine: asking for their columns would cost an engine call.)"""
    return lines.drop(key, "payee_name", "payee_tin", "payee_branch", "tin_status").join(
        payee_identity(partners, key), "partner_id", "left")


def _identity() -> list[Column]:
    """A form row's payee identity. Every line of a payee carries the same names and address (``silver.partners``: the
    oldest partner's of a shared TIN and branch), but each partner its own ``country`` and ``tin_status`` (how its TIN
    was written); ``max`` takes the same one on every rebuild, where ``first`` took whichever line came first (and
    cost Sail more to plan)."""
    return [F.max(c).alias(c) for c in IDENTITY]


def _nature() -> Column:
    """The income description of a form row: its code's, the same on every rebuild where a quarter's lines fall under
    two rows of the catalog with different descriptions (``first`` took whichever line came first)."""
    return F.max(catalog.nature()).alias("nature")


def _classified(ewt: DataFrame, *regimes: str) -> DataFrame:
    return with_quarter(ewt.where(F.col("regime").isin(*regimes) & (F.col("atc_status") == "ok")))


def build_form_2307(ewt: DataFrame) -> DataFrame:
    lines = _classified(ewt, "EWT").withColumn("m", F.col("month") - (F.ceil(F.col("month") / 3) - 1) * 3)
    return lines.groupBy("agency", "quarter", "payee_key", "atc", "rate").agg(
        *_identity(), _nature(),
        _money_sum(F.col("base"), F.col("m") == 1).alias("income_month1"),
        _money_sum(F.col("base"), F.col("m") == 2).alias("income_month2"),
        _money_sum(F.col("base"), F.col("m") == 3).alias("income_month3"),
        _money_sum(F.col("base")).alias("income_total"),
        _money_sum(F.col("tax_withheld")).alias("tax_withheld"),
        F.count(F.lit(1)).alias("lines"),
    )


def build_qap(ewt: DataFrame) -> DataFrame:
    return _classified(ewt, "EWT", "FWT").groupBy("agency", "quarter", "regime", "payee_key", "atc", "rate").agg(
        *_identity(), _nature(),
        _money_sum(F.col("base")).alias("income"),
        _money_sum(F.col("tax_withheld")).alias("tax_withheld"),
    ).withColumn("schedule", F.when(F.col("rate") == 0, F.lit(2)).otherwise(F.lit(1)))


def build_sawt(ewt: DataFrame) -> DataFrame:
    return _classified(ewt, "CWT").groupBy("agency", "quarter", "payee_key", "atc", "rate").agg(
        *_identity(), _nature(),
        _money_sum(F.col("base")).alias("income"),
        _money_sum(F.col("tax_withheld")).alias("tax_withheld"),
    ).withColumnRenamed("payee_key", "payor_key")


def build_slsp(vat: DataFrame) -> DataFrame:
    """Per counterparty; importations per document (the SLI lists each import entry)."""
    lines = with_quarter(vat)
    key = F.when(F.col("side") == "import", F.concat(F.lit("move:"), F.col("move_id").cast("string"))).otherwise(
        F.col("counterparty_key"))

    def amount(*categories: str) -> Column:
        return _money_sum(F.col("base"), F.col("vat_category").isin(*categories))

    return lines.withColumn("counterparty_key", key).groupBy("agency", "quarter", "side", "counterparty_key").agg(
        # an importation's own document; a counterparty's row names its first document number, the same on every
        # rebuild (first() took whichever line came first)
        *_identity(), F.min("move_name").alias("document"), F.min("invoice_date").alias("document_date"),
        F.min("date").alias("date"),
        amount("exempt").alias("exempt"), amount("zero_rated").alias("zero_rated"),
        amount("services").alias("services"), amount("capital_goods").alias("capital_goods"),
        amount("goods").alias("goods"), amount("imports").alias("imports"), amount("taxable").alias("taxable"),
        _money_sum(F.col("vat")).alias("vat"),
    )


def build_remittances(transactions: DataFrame) -> DataFrame:
    """The monthly remittances (months 1-2) and the quarterly returns, from gold.bir_transactions."""
    tx = with_quarter(transactions).withColumn("m", F.col("month") - (F.ceil(F.col("month") / 3) - 1) * 3)
    rows = []
    for monthly, quarterly, total, to_classify in (
            ("0619-E", "1601-EQ", "withholding_tax", "withholding_to_classify"),
            ("0619-F", "1601-FQ", "final_withholding_tax", "final_withholding_to_classify")):
        bucket = F.col(to_classify)
        rows.append(tx.where(F.col("m") < 3).select(
            "agency", F.lit(monthly).alias("form"), "period", "quarter",
            (F.col(total) - bucket).cast(MONEY).alias("classified"), bucket.cast(MONEY).alias("to_classify"),
            F.col(total).cast(MONEY).alias("total_withheld"), F.lit(0).cast(MONEY).alias("previously_remitted")))
        rows.append(tx.groupBy("agency", "quarter").agg(
            _money_sum(F.col(total) - bucket).alias("classified"), _money_sum(bucket).alias("to_classify"),
            _money_sum(F.col(total)).alias("total_withheld"),
            _money_sum(F.col(total), F.col("m") < 3).alias("previously_remitted"),
        ).select("agency", F.lit(quarterly).alias("form"), F.col("quarter").alias("period"), "quarter", "classified",
                 "to_classify", "total_withheld", "previously_remitted"))
    out = rows[0]
    for more in rows[1:]:
        out = out.unionByName(more)
    return out.withColumn("still_due", (F.col("total_withheld") - F.col("previously_remitted")).cast(MONEY))


def build_filing_calendar(spark: SparkSession, agencies: list[tuple[str, str | None]], years: list[int],
                          periods_with_data: set[str], as_of: date, holidays: HolidayTable | None = None) -> DataFrame:
    """One row per agency x obligation for the periods of ``years`` (annual returns fall due the year after), with
    the agency's eFPS group (``silver.companies.efps_group``) applied to the monthly remittances.

    Status: no_data, upcoming, due_soon (due within 7 days) or deadline_passed. Filings themselves are not tracked,
    so deadline_passed does not mean "not filed"."""
    table = holidays or HolidayTable.philippines(range(min(years) - 1, max(years) + 2))
    rows = []
    for agency, group in agencies:
        efps = EfpsGroup(group) if group is not None and group in EfpsGroup.__members__ else None
        for ob in (o for year in years for o in obligations_for_year(year, table, efps)):
            months = ob.months()
            has_data = bool(months & periods_with_data) if months else ob.period in periods_with_data
            days = (ob.due - as_of).days
            status = ("no_data" if not has_data else "deadline_passed" if days < 0 else
                      "due_soon" if days <= 7 else "upcoming")
            rows.append((agency, ob.form, ob.period, ob.statutory_due, ob.due, ob.moved, status, ob.description,
                         group, as_of))
    return spark.createDataFrame(rows, "agency string, form string, period string, statutory_due date, due date, "
                                       "moved boolean, status string, description string, efps_group string, "
                                       "as_of date")


def _gold_batches(spark: SparkSession) -> list[str]:
    if not io.table_exists(spark, io.GOLD_LOG):
        return []
    return sorted(r[0] for r in spark.table(io.GOLD_LOG).select("batch_id").collect())


def pending_quarters(spark: SparkSession) -> tuple[list[str], list[str]] | None:
    """(gold batches the forms have not seen, or not since gold processed them again; their quarters); None when the
    forms must be built whole (missing, or written by an earlier version)."""
    if any(not io.table_exists(spark, t) for t in (*QUARTER_TABLES, FORMS_LOG)) or io.outdated(spark, LAYOUT):
        return None
    # Written unpartitioned by an earlier version, or one of them replaced since (a restore, a notebook): Delta
    # refuses to change a table's partitioning on a replace, so all are dropped and rebuilt together.
    if any(io.partition_columns(spark, t) != list(BY_QUARTER) for t in QUARTER_TABLES):
        return None
    new = io.pending_batches(io.processed_at(spark, io.GOLD_LOG), io.processed_at(spark, FORMS_LOG))
    if not new:
        return [], []
    periods = {p for r in spark.table(io.SILVER_LOG).where(F.col("batch_id").isin(new)).collect()
               for p in (r["periods"] or "").split(",") if p}
    return new, sorted({quarter_of(p) for p in periods})


@io.stage
def run(spark: SparkSession, periods: list[str] | None = None, as_of: date | None = None) -> list[str]:
    """Rebuild the form tables for the quarters whose gold changed since the forms last ran (every quarter when the
    forms do not exist yet), plus the quarters of ``periods`` if given; then the filing calendar."""
    io.ensure_schemas(spark)
    all_periods = {r[0] for r in spark.table(io.BIR_TRANSACTIONS).select("period").distinct().collect() if r[0]}
    pending = pending_quarters(spark)
    if pending is None:
        io.drop_tables(spark, [*QUARTER_TABLES, FORMS_LOG])
        batches, quarters = _gold_batches(spark), sorted({quarter_of(p) for p in all_periods})
    else:
        batches, quarters = pending
    quarters = sorted(set(quarters) | {quarter_of(p) for p in periods or [] if p})
    if quarters:
        where_q = io.in_list("quarter", quarters)
        where_p = io.in_list("period", months_of(quarters))  # the lines' partition column: only these are read
        partners = spark.table(io.SILVER_PARTNERS)
        ewt = with_identity(spark.table(io.EWT_LINES).where(where_p), partners)
        vat = with_identity(spark.table(io.VAT_LINES).where(where_p), partners, "counterparty_key")
        io.replace_where(build_form_2307(ewt), FORM_2307, where_q, BY_QUARTER)
        io.replace_where(build_qap(ewt), QAP, where_q, BY_QUARTER)
        io.replace_where(build_sawt(ewt), SAWT, where_q, BY_QUARTER)
        io.replace_where(build_slsp(vat), SLSP, where_q, BY_QUARTER)
        io.replace_where(build_remittances(spark.table(io.BIR_TRANSACTIONS).where(where_p)), REMITTANCES, where_q,
                         BY_QUARTER)
    if batches or not io.table_exists(spark, FORMS_LOG):
        log = spark.createDataFrame([(b,) for b in batches], "batch_id string").withColumn(
            "processed_at", F.current_timestamp())
        io.replace_where(log, FORMS_LOG, io.in_list("batch_id", batches))
    companies = [(r["agency"], r["efps_group"]) for r in spark.table(io.SILVER_COMPANIES).orderBy("agency").collect()]
    years = sorted({int(p[:4]) for p in all_periods})
    if years:
        io.overwrite(build_filing_calendar(spark, companies, years, all_periods, as_of or date.today()),
                     FILING_CALENDAR)
    return quarters


@io.stage
def check_in_step(spark: SparkSession) -> None:
    """Fail when any quarter's filing tables disagree with gold (to the centavo): the 2307s and the QAP with the
    classified EWT, the 1601-FQ QAP with the final tax, the 1601-EQ remittance with all EWT withheld, and the SLSP
    with the VAT. One grouped query per table, over the small gold tables."""
    gold = {(r["agency"], r["quarter"]): r for r in with_quarter(spark.table(io.BIR_TRANSACTIONS)).groupBy(
        "agency", "quarter").agg(*[F.sum(c).alias(c) for c in (
            "withholding_tax", "withholding_to_classify", "final_withholding_tax", "final_withholding_to_classify",
            "income_tax", "income_tax_to_classify", "output_vat", "input_vat")]).collect()}

    def totals(table: str, value: str, where: str = "true", key: str = "quarter") -> dict[tuple[str, str], Decimal]:
        if not io.table_exists(spark, table):
            return {}
        rows = spark.table(table).where(where).groupBy("agency", key).agg(F.sum(value).alias("t")).collect()
        return {(r["agency"], r[key]): r["t"] for r in rows}

    zero = Decimal("0.00")
    checks = [
        ("gold.form_2307 tax", totals(FORM_2307, "tax_withheld"),
         lambda g: g["withholding_tax"] - g["withholding_to_classify"]),
        ("gold.qap 1601-EQ tax", totals(QAP, "tax_withheld", "regime = 'EWT'"),
         lambda g: g["withholding_tax"] - g["withholding_to_classify"]),
        ("gold.qap 1601-FQ tax", totals(QAP, "tax_withheld", "regime = 'FWT'"),
         lambda g: g["final_withholding_tax"] - g["final_withholding_to_classify"]),
        ("gold.sawt tax", totals(SAWT, "tax_withheld"), lambda g: g["income_tax"] - g["income_tax_to_classify"]),
        ("1601-EQ remittance", totals(REMITTANCES, "total_withheld", "form = '1601-EQ'", "period"),
         lambda g: g["withholding_tax"]),
        ("SLS output VAT", totals(SLSP, "vat", "side = 'sale'"), lambda g: g["output_vat"]),
        ("SLP/SLI input VAT", totals(SLSP, "vat", "side <> 'sale'"), lambda g: g["input_vat"]),
    ]
    problems = []
    for label, found, expected in checks:
        # (an agency may be null: lines of a company silver does not hold yet)
        for key in sorted(set(found) | set(gold), key=lambda k: tuple(str(part or "") for part in k)):
            want = expected(gold[key]) if key in gold else zero
            got = found.get(key) or zero
            if got != want:
                problems.append(f"{label} for {key[0]} {key[1]} is PHP {got:,.2f}, gold says PHP {want:,.2f}")
    if problems:
        raise FormsOutOfStepError(problems)
