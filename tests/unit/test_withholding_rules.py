"""Worked examples from the BIR issuances, through silver's rules (Spark) on hand-made journals.

Each expected ATC and rate below is read off the regulation, not the catalog: RR 11-2018 as amended by RR 14-2018
(professional fees and commissions: individuals 5% up to P3M gross income on a sworn declaration, else 10%;
juridical persons 10% up to P720,000, else 15%), RR 24-2025 (a top withholding agent's goods purchases from a
manufacturer or direct importer of vehicles, medicines or fuels at 0.5% from 10 Oct 2025, 1% before and for
everyone else), Tax Code Sec. 58(A) (withheld tax is held in trust: all of it is remitted).
"""

from decimal import Decimal as D

from pyspark.sql import functions as F

from odoolake.bir import reasons
from odoolake.pipeline import gold
from tests.unit.journal import COMPANY, Bill, by_move, flags, partner, silver_lines, tax

DECLARED = {"x_ph_gross_income_declaration": "not_over", "x_ph_declaration_date": "2020-01-06"}
OVER = {"x_ph_gross_income_declaration": "over", "x_ph_declaration_date": "2020-01-06"}


def test_commissions_at_5_10_and_15_percent(spark):
    partners = [partner(1, "Santos, Ana, Reyes", False, "100-000-001-00000", **DECLARED),
                partner(2, "Cruz, Jose, Lim", False, "100-000-002-00000", **OVER),
                partner(3, "Agents Inc.", True, "100-000-003-00000", **OVER)]
    taxes = [tax(10, "WI515", 5), tax(11, "WI516", 10), tax(12, "WC516", 15), tax(13, "WC516", 10)]
    bills = [Bill(1, "2026-02-10", 1, 10, "100000.00", "5000.00"),  # declared, not over P3M: WI515 5%
             Bill(2, "2026-02-10", 2, 11, "100000.00", "10000.00"),  # over P3M: WI516 10%
             Bill(3, "2026-02-10", 3, 12, "100000.00", "15000.00"),  # corporation over P720k: WC516 15%
             Bill(4, "2026-02-10", 1, 11, "100000.00", "10000.00"),  # 10% on the declared individual: too much
             Bill(5, "2026-02-10", 3, 13, "100000.00", "10000.00")]  # WC516 at 10%: not a rate of that code
    ewt, _, _ = silver_lines(spark, bills, partners, taxes)
    rows = by_move(ewt)
    assert [flags(rows[m]) for m in (1, 2, 3)] == [set(), set(), set()]
    assert flags(rows[4]) == {reasons.WRONG_RATE_FOR_PAYEE.code}
    assert (rows[4]["expected_atc"], rows[4]["expected_rate"]) == ("WI515", D("5.0000"))
    assert flags(rows[5]) == {reasons.RATE_NOT_IN_FORCE.code}


def test_wc158_before_and_after_10_october_2025(spark):
    fuel = {"x_ph_seller_category": "fuel_importer"}
    partners = [partner(1, "Fuel Importer Corp.", True, "200-000-001-00000", **fuel),
                partner(2, "Hardware Corp.", True, "200-000-002-00000")]
    taxes = [tax(20, "WC158", 1), tax(21, "WC158", 0.5)]
    bills = [Bill(1, "2025-10-09", 1, 20, "200000.00", "2000.00"),  # before RR 24-2025: 1% for everyone
             Bill(2, "2025-10-09", 1, 21, "200000.00", "1000.00"),  # 0.5% a day early: not yet a rate
             Bill(3, "2025-10-10", 1, 21, "200000.00", "1000.00"),  # listed seller from 10 Oct: 0.5%
             Bill(4, "2025-10-10", 1, 20, "200000.00", "2000.00"),  # listed seller kept at 1%: over-withheld
             Bill(5, "2025-10-10", 2, 21, "200000.00", "1000.00"),  # unlisted seller at 0.5%: under-withheld
             Bill(6, "2025-10-10", 2, 20, "200000.00", "2000.00")]  # unlisted seller at 1%
    ewt, _, _ = silver_lines(spark, bills, partners, taxes)
    rows = by_move(ewt)
    assert flags(rows[1]) == flags(rows[3]) == flags(rows[6]) == set()
    assert flags(rows[2]) == {reasons.RATE_NOT_IN_FORCE.code}
    assert flags(rows[4]) == flags(rows[5]) == {reasons.WRONG_RATE_FOR_PAYEE.code}
    assert rows[4]["expected_rate"] == D("0.5000") and rows[5]["expected_rate"] == D("1.0000")


def test_a_payee_crossing_its_threshold_takes_the_higher_rate_from_that_payment(spark):
    """A juridical payee declared gross income not over P720,000: WC010 10% until the payor's payments this year
    pass P720,000; the payment that crosses and every later one are WC011 15%. A VAT-registered individual takes
    WI011 10% whatever it declared."""
    partners = [partner(1, "Consulting Corp.", True, "300-000-001-00000", **DECLARED),
                partner(2, "Lopez, Ramon, Cruz", False, "300-000-002-00000", x_ph_vat_registered=True, **DECLARED)]
    taxes = [tax(30, "WC010", 10), tax(31, "WI010", 5)]
    bills = [Bill(1, "2026-01-15", 1, 30, "500000.00", "50000.00"),
             Bill(2, "2026-02-15", 1, 30, "220000.00", "22000.00"),  # 720,000.00: not over
             Bill(3, "2026-03-15", 1, 30, "0.01", "0.00"),  # 720,000.01: over
             Bill(4, "2026-04-15", 1, 30, "50000.00", "5000.00"),
             Bill(5, "2027-01-15", 1, 30, "50000.00", "5000.00"),  # a new year starts from zero
             Bill(6, "2026-01-20", 2, 31, "10000.00", "500.00")]
    ewt, _, _ = silver_lines(spark, bills, partners, taxes)
    rows = by_move(ewt)
    assert rows[2]["paid_this_year"] == D("720000.00") and not flags(rows[2])
    assert rows[3]["paid_this_year"] == D("720000.01")
    for move in (3, 4):
        assert reasons.WRONG_RATE_FOR_PAYEE.code in flags(rows[move])
        assert (rows[move]["expected_atc"], rows[move]["expected_rate"]) == ("WC011", D("15.0000"))
    assert not flags(rows[1]) and not flags(rows[5])
    assert rows[6]["expected_atc"] == "WI011" and reasons.WRONG_RATE_FOR_PAYEE.code in flags(rows[6])


def test_tax_without_an_atc_is_remitted_and_carried_to_classify(spark):
    partners = [partner(1, "Builders Inc.", True)]
    taxes = [tax(40, None, 2, "2% EWT contractor"), tax(41, "WC120", 2)]
    bills = [Bill(1, "2026-03-05", 1, 40, "2000.00", "40.00"), Bill(2, "2026-03-06", 1, 41, "5000.00", "100.00")]
    ewt, vat, held = silver_lines(spark, bills, partners, taxes)
    rows = by_move(ewt)
    assert (rows[1]["atc_status"], rows[1]["regime"], rows[1]["tax_withheld"]) == ("to_classify", "EWT", D("40.00"))
    assert rows[1]["classify_reason"] == reasons.UNKNOWN_ATC.code
    quarantined = held.collect()
    assert [(q["reason"], q["action"]) for q in quarantined] == [(reasons.UNKNOWN_ATC.code, "to_classify")]
    assert "PHP 40.00 withheld under tax '2% EWT contractor'" in quarantined[0]["detail"]
    month = gold.build_bir_transactions(ewt, vat).first()
    assert (month["withholding_tax"], month["withholding_to_classify"]) == (D("140.00"), D("40.00"))


def test_foreign_currency_lines_take_the_php_amounts_odoo_holds(spark):
    """A USD bill posted without a rate: balance 0, but Odoo holds the base in PHP (tax_base_amount): the PHP tax
    is that base times the rate. Without a PHP base either, the rate of the date in Odoo's rate table (entered
    later) converts amount_currency; with no rate on or before the date, the line is carried to classify, named."""
    partners = [partner(1, "Cloud Corp.", True)]
    taxes = [tax(50, "WC160", 2)]
    usd = {"currency_id": [2, "USD"], "write_date": "2026-06-01 00:00:00"}
    rates = [{"id": 1, "name": "2026-05-06", "inverse_company_rate": 56.25, **usd},
             {"id": 2, "name": "2026-05-20", "rate": 1 / 50, **usd}]
    bills = [Bill(1, "2026-05-05", 1, 50, "56200.00", "0", currency="USD", balance="0", amount_currency="-20.00"),
             Bill(2, "2026-05-05", 1, 50, "0", "0", currency="USD", balance="0", amount_currency="-20.00"),
             Bill(3, "2026-05-19", 1, 50, "0", "0", currency="USD", balance="0", amount_currency="-20.00"),
             Bill(4, "2026-05-20", 1, 50, "0", "0", currency="USD", balance="0", amount_currency="-20.00")]
    ewt, _, held = silver_lines(spark, bills, partners, taxes, rates=rates)
    rows = by_move(ewt)
    assert rows[1]["tax_withheld"] == D("1124.00") and flags(rows[1]) >= {reasons.PHP_FROM_TAX_BASE.code}
    assert rows[2]["atc_status"] == "to_classify" and rows[2]["tax_withheld"] is None  # before the first rate
    assert rows[3]["tax_withheld"] == D("1125.00") and reasons.PHP_FROM_REFERENCE_RATE.code in flags(rows[3])
    assert rows[4]["tax_withheld"] == D("1000.00")  # 20 USD at 50 from 20 May
    # no PHP base in Odoo: the income is the one the converted tax implies at 2% (it was 0.00 on the 2307 and QAP)
    assert (rows[3]["base"], rows[4]["base"]) == (D("56250.00"), D("50000.00"))
    assert rows[1]["base"] == D("56200.00")  # Odoo's PHP base, as held
    missing = held.where(F.col("reason") == reasons.MISSING_CURRENCY_RATE.code).collect()
    assert len(missing) == 1 and "enter the rate for 2026-05-05 in Odoo" in missing[0]["detail"]


def test_a_foreign_currency_line_odoo_booked_at_one_is_not_read_as_pesos(spark):
    """Odoo converts a currency that has no rate at all at 1.0 (``res.currency._get_rates``: ``COALESCE(…, 1.0)``):
    a USD 1,000 bill with 2% withheld is booked with a balance of -20.00 and a tax base of 1,000.00, as if pesos.
    Read as pesos, the 2307 certified ₱20.00 on ₱1,000 of income. Worked by hand: with the BSP rate of 56.25 loaded
    later for 6 May, the bill of 19 May is ₱1,125.00 withheld on ₱56,250.00; the bill of 5 May, before any rate,
    is carried to classify (MISSING_CURRENCY_RATE), not filed at 1:1."""
    partners = [partner(1, "Cloud Corp.", True)]
    taxes = [tax(50, "WC160", 2)]
    usd = {"currency_id": [2, "USD"], "write_date": "2026-06-01 00:00:00"}
    rates = [{"id": 1, "name": "2026-05-06", "inverse_company_rate": 56.25, **usd}]
    at_one = {"currency": "USD", "balance": "-20.00", "amount_currency": "-20.00"}
    bills = [Bill(1, "2026-05-19", 1, 50, "1000.00", "20.00", **at_one),
             Bill(2, "2026-05-05", 1, 50, "1000.00", "20.00", **at_one),
             Bill(3, "2026-05-19", 1, 50, "56250.00", "1125.00", currency="USD", balance="-1125.00",
                  amount_currency="-20.00")]  # converted by Odoo: its pesos as held
    ewt, _, held = silver_lines(spark, bills, partners, taxes, rates=rates)
    rows = by_move(ewt)
    assert (rows[1]["tax_withheld"], rows[1]["base"]) == (D("1125.00"), D("56250.00"))
    assert reasons.PHP_FROM_REFERENCE_RATE.code in flags(rows[1])
    assert rows[2]["atc_status"] == "to_classify" and rows[2]["tax_withheld"] is None
    assert [r["move_id"] for r in held.where(F.col("reason") == reasons.MISSING_CURRENCY_RATE.code).collect()] == [2]
    assert (rows[3]["tax_withheld"], rows[3]["base"]) == (D("1125.00"), D("56250.00"))
    assert reasons.PHP_FROM_REFERENCE_RATE.code not in flags(rows[3])


def test_backdated_posting_uses_the_return_that_covers_the_month(spark):
    """Months 1-2 of a quarter are due on the 10th (0619-E); month 3 at the end of the next month (1601-EQ)."""
    partners = [partner(1, "Supplier Corp.", True)]
    taxes = [tax(60, "WC160", 2)]
    bills = [Bill(1, "2026-02-20", 1, 60, "1000.00", "20.00", written="2026-03-10 17:00:00"),  # on the 10th
             Bill(2, "2026-02-20", 1, 60, "1000.00", "20.00", written="2026-03-11 08:00:00"),  # a day late
             Bill(3, "2026-03-20", 1, 60, "1000.00", "20.00", written="2026-04-20 08:00:00"),  # before 30 Apr
             Bill(4, "2026-03-20", 1, 60, "1000.00", "20.00", written="2026-05-01 08:00:00")]  # after 30 Apr
    ewt, _, _ = silver_lines(spark, bills, partners, taxes)
    backdated = {m for m, r in by_move(ewt).items() if reasons.BACKDATED_POSTING.code in flags(r)}
    assert backdated == {2, 4}


def test_a_credit_note_reduces_its_own_period(spark):
    partners = [partner(1, "Supplier Corp.", True)]
    ewt, _, _ = silver_lines(spark, [Bill(1, "2026-02-15", 1, 70, "1000.00", "10.00", move_type="in_refund")],
                             partners, [tax(70, "WC158", 1)])
    row = ewt.first()
    assert (row["period"], row["base"], row["tax_withheld"]) == ("2026-02", D("-1000.00"), D("-10.00"))


def test_a_vat_inclusive_base_is_flagged(spark):
    """Tax computed on the VAT-inclusive amount (5% of 252,000 on a 225,000 rent) differs from rate x base."""
    ewt, _, _ = silver_lines(spark, [Bill(1, "2026-02-15", 1, 80, "225000.00", "12600.00")],
                             [partner(1, "Lessor Corp.", True)], [tax(80, "WC100", 5)])
    assert flags(ewt.first()) == {reasons.TAX_NOT_RATE_X_BASE.code}


def test_partner_names_addresses_and_shared_tins(spark):
    """Names come from Odoo's Last/First/Middle fields or a 'Last, First, Middle' name; anything else is not
    guessed. Partners sharing a TIN print the oldest one's identity and are flagged when the names differ."""
    from odoolake.pipeline import silver
    from odoolake.pipeline.schemas import RES_PARTNER
    from tests.unit.journal import raw_frame

    rows = [partner(1, "Juan Santos Dela Cruz", False, "400-000-001-00000", first_name="Juan",
                    middle_name="Santos", last_name="Dela Cruz"),
            partner(2, "De los Reyes, Maria Anna, Lim", False, "400-000-002-00000"),
            partner(3, "Jose Rizal Mercado", False, "400-000-003-00000", first_name="Jose"),  # no last name
            partner(4, "ABC Trading Inc.", True, "400-000-004-00000", zip=False),
            partner(5, "ABC Trading Corporation", True, "400000004"),  # same TIN, another name
            partner(6, "No Address Co.", True, "400-000-006-00000", street=False, city=False)]
    got = {r["partner_id"]: r.asDict() for r in silver.build_partners(raw_frame(spark, RES_PARTNER, rows)).collect()}
    assert [got[1][k] for k in ("last_name", "first_name", "middle_name", "name_status")] == [
        "Dela Cruz", "Juan", "Santos", "fields"]
    assert [got[2][k] for k in ("last_name", "first_name", "middle_name", "name_status")] == [
        "De los Reyes", "Maria Anna", "Lim", "comma"]
    assert (got[3]["name_status"], got[3]["last_name"]) == ("not_split", None)
    assert got[5]["payee_key"] == got[4]["payee_key"] == "4000000040000"
    assert got[5]["payee_name"] == "ABC Trading Inc." and got[4]["tin_shared"] and got[5]["tin_shared"]
    assert (got[1]["address1"], got[1]["address2"], got[1]["zip"]) == ("1 Ayala Avenue", "Makati City", "1226")
    partner_flags = silver.build_partner_flags(silver.build_partners(raw_frame(spark, RES_PARTNER, rows)))
    found = sorted((r["reason"], r["record_id"]) for r in partner_flags.collect())
    assert found == [(reasons.MISSING_ADDRESS.code, 4), (reasons.MISSING_ADDRESS.code, 6),
                     (reasons.NAME_NOT_SPLIT.code, 3), (reasons.TIN_SHARED_BY_PARTNERS.code, 4),
                     (reasons.TIN_SHARED_BY_PARTNERS.code, 5)]


def test_a_credit_note_in_a_later_quarter_is_an_exception_not_a_negative_row(spark):
    """A P100,000 bill in Q1 (WC120 2%: P2,000 withheld) and a P30,000 credit note in Q2 with nothing else from the
    payee: Q1's QAP row stands, Q2's nets negative, so it is not written (amounts are unsigned) and is listed;
    the payee gets no Q2 certificate; the year's 1604-E row nets to P70,000 / P1,400.00."""
    from odoolake.bir import dat, filing
    from odoolake.bir.certificate import Party
    from odoolake.pipeline import forms, silver
    from odoolake.pipeline.schemas import RES_PARTNER
    from tests.unit.journal import raw_frame

    partners = [partner(1, "Builders Inc.", True, "500-000-001-00000")]
    bills = [Bill(1, "2026-02-10", 1, 90, "100000.00", "2000.00"),
             Bill(2, "2026-05-10", 1, 90, "30000.00", "600.00", move_type="in_refund")]
    ewt, _, _ = silver_lines(spark, bills, partners, [tax(90, "WC120", 2)])
    identity = silver.build_partners(raw_frame(spark, RES_PARTNER, partners))
    lines = forms.with_identity(ewt, identity)
    qap_rows = [r.asDict() for r in forms.build_qap(lines).collect()]
    by_quarter = {r["quarter"]: r for r in qap_rows}
    assert (by_quarter["2026Q1"]["income"], by_quarter["2026Q2"]["income"]) == (D("100000.00"), D("-30000.00"))
    agent = dat.Agent(tin="111-222-333-00000", registered_name="RIM Advertising Corporation", rdo="050")
    q2 = dat.qap(agent, 2026, 2, *filing.qap_schedules([by_quarter["2026Q2"]]))
    assert q2.rows == 0 and [e.problem for e in q2.exceptions] == [dat.Problem.NET_NEGATIVE]
    assert "\r\nD1," not in q2.content and "-" not in q2.content.split("\r\n")[1]
    annual = dat.form1604e(agent, 2026, filing.qap_schedules(filing.annual_rows(qap_rows))[0])
    assert ",WC120,70000.00,2.00,1400.00\r\n" in annual.content
    certificates = [r.asDict() for r in forms.build_form_2307(lines).where("quarter = '2026Q2'").collect()]
    certs, issues, _ = filing.certificates(certificates, Party("RIM", "111-222-333-00000"), 2026, 2)
    assert certs == [] and [i.problem for i in issues] == ["NET_NEGATIVE"]


def test_a_credit_note_month_inside_a_positive_quarter_is_certified_as_the_qap_reports_it(spark):
    """Bills of P100,000 in July and P50,000 in August, a P60,000 credit note in September (WC158 1%): the quarter
    nets P90,000 / P900.00 on the QAP, so the payee's 2307 certifies the same line, September's excess taken from
    August, then July (the whole line was left off the certificate while the QAP reported it: the payee's SAWT
    could not match), and the exceptions list names it."""
    from odoolake.bir import dat, filing
    from odoolake.bir.certificate import Party
    from odoolake.pipeline import forms, silver
    from odoolake.pipeline.schemas import RES_PARTNER
    from tests.unit.journal import raw_frame

    partners = [partner(1, "Services Supplier Inc.", True, "818-658-529-00000")]
    bills = [Bill(1, "2026-07-10", 1, 91, "100000.00", "1000.00"), Bill(2, "2026-08-10", 1, 91, "50000.00", "500.00"),
             Bill(3, "2026-09-10", 1, 91, "60000.00", "600.00", move_type="in_refund")]
    ewt, _, _ = silver_lines(spark, bills, partners, [tax(91, "WC158", 1)])
    lines = forms.with_identity(ewt, silver.build_partners(raw_frame(spark, RES_PARTNER, partners)))
    qap_row = forms.build_qap(lines).where("quarter = '2026Q3'").first().asDict()
    agent = dat.Agent(tin="111-222-333-00000", registered_name="RIM Advertising Corporation", rdo="050")
    qap = dat.qap(agent, 2026, 3, *filing.qap_schedules([qap_row]))
    assert qap.rows == 1 and ",WC158,1.00,90000.00,900.00\r\n" in qap.content
    rows = [r.asDict() for r in forms.build_form_2307(lines).where("quarter = '2026Q3'").collect()]
    certs, issues, _ = filing.certificates(rows, Party("RIM", "111-222-333-00000"), 2026, 3)
    assert [(i.problem, i.certificate_issued) for i in issues if i.atc] == [("CREDIT_NOTES_NETTED", True)]
    (line,) = certs[0].lines
    assert (line.atc, line.month1, line.month2, line.month3) == ("WC158", D("90000.00"), D("0.00"), D("0.00"))
    assert (line.total, line.tax) == (D("90000.00"), D("900.00"))
    first_month = {**rows[0], "income_month1": D("-20000.00"), "income_month2": D("50000.00"),
                   "income_month3": D("60000.00"), "income_total": D("90000.00")}
    (line,) = filing.certificates([first_month], Party("RIM", "111-222-333-00000"), 2026, 3)[0][0].lines
    assert (line.month1, line.month2, line.month3) == (D("0.00"), D("30000.00"), D("60000.00"))


def test_codes_a_company_may_not_use_codes_out_of_force_and_unknown_taxes(spark):
    """A TWA code before the company became a TWA is flagged; WC760 after RR 5-2025 replaced it (13 Mar 2025) is
    carried to classify; a tax missing from account.tax is rejected, named."""
    company = {**COMPANY, "x_ph_twa_since": "2026-03-01"}
    partners = [partner(1, "Supplier Corp.", True)]
    taxes = [tax(100, "WC158", 1), tax(101, "WC760", 0.5)]
    bills = [Bill(1, "2026-02-27", 1, 100, "1000.00", "10.00"), Bill(2, "2026-03-02", 1, 100, "1000.00", "10.00"),
             Bill(3, "2026-03-02", 1, 101, "1000.00", "5.00"), Bill(4, "2026-03-02", 1, 999, "1000.00", "5.00")]
    ewt, _, held = silver_lines(spark, bills, partners, taxes, company)
    rows = by_move(ewt)
    assert flags(rows[1]) == {reasons.PAYOR_NOT_ELIGIBLE.code} and not flags(rows[2])
    assert (rows[3]["atc_status"], rows[3]["classify_reason"], rows[3]["tax_withheld"]) == (
        "to_classify", reasons.ATC_NOT_IN_FORCE.code, D("5.00"))
    assert 4 not in rows
    found = {(r["reason"], r["action"], r["move_id"]) for r in held.collect()}
    assert found == {(reasons.ATC_NOT_IN_FORCE.code, "to_classify", 3), (reasons.UNKNOWN_TAX.code, "rejected", 4)}


def test_a_payee_of_two_partners_prints_the_same_identity_whatever_order_its_lines_come_in(spark):
    """Two partners share a TIN (one payee) and differ in name and country: the payee's 2307 and QAP rows print the
    oldest partner's name whichever partner's line comes first. ``country`` and ``tin_status`` are each partner's own
    (no form prints them for a shared TIN); the rows take the greatest, so they too are the same whatever the order."""
    from odoolake.pipeline import forms, silver
    from odoolake.pipeline.schemas import RES_PARTNER
    from tests.unit.journal import raw_frame

    partners = [partner(4, "ABC Trading Inc.", True, "400-000-004-00000", country_id=[173, "Philippines"]),
                partner(5, "ABC Trading Corporation", True, "400000004", country_id=[113, "Japan"])]
    bills = [Bill(1, "2026-02-10", 4, 90, "100000.00", "2000.00"),
             Bill(2, "2026-03-10", 5, 90, "50000.00", "1000.00")]
    ewt, _, _ = silver_lines(spark, bills, partners, [tax(90, "WC120", 2)])
    lines = forms.with_identity(ewt, silver.build_partners(raw_frame(spark, RES_PARTNER, partners)))
    fours, fives = lines.where("partner_id = 4"), lines.where("partner_id = 5")
    printed = []
    for ordered in (fours.unionByName(fives), fives.unionByName(fours)):
        for build in (forms.build_form_2307, forms.build_qap):
            rows = [r.asDict() for r in build(ordered).collect()]
            assert len(rows) == 1 and rows[0]["income_total" if build is forms.build_form_2307 else "income"] == (
                D("150000.00"))
            printed.append((rows[0]["payee_name"], rows[0]["payee_tin"], rows[0]["country"], rows[0]["tin_status"]))
    assert printed == [("ABC Trading Inc.", "400000004", "Philippines", "VALID")] * 4
