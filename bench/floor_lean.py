"""The lean DuckDB floor: the month-end's core arithmetic only, as a lower bound.

Plain SQL over the raw files: the newest version of each move and line, posted moves, duplicate bills, ATC
resolution, PHP amounts, EWT and VAT lines, gold totals and lag features, written as parquet. It does less than the
pipeline: rejected lines are dropped (no quarantine, no reasons), no data-quality flags, no tax-lines table, no
partner identity, no forms, no Delta commits. ``floor_honest`` does all of that; this one bounds it from below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

LEAN_SQL = r"""
CREATE TEMP TABLE catalog AS SELECT * FROM (VALUES {catalog}) t(atc, regime);
CREATE TABLE b_moves AS SELECT *, regexp_extract(filename, '([^/]+)\.jsonl$', 1) AS _batch_id
  FROM read_json('{raw}/account_move/*.jsonl', format='newline_delimited', ignore_errors=true, filename=true,
    columns={{id:'BIGINT', name:'VARCHAR', ref:'VARCHAR', move_type:'VARCHAR', state:'VARCHAR', date:'VARCHAR',
             partner_id:'JSON', company_id:'JSON', currency_id:'JSON', write_date:'VARCHAR', _deleted:'BOOLEAN'}})
  WHERE id IS NOT NULL;
CREATE TABLE b_lines AS SELECT *, regexp_extract(filename, '([^/]+)\.jsonl$', 1) AS _batch_id
  FROM read_json('{raw}/account_move_line/*.jsonl', format='newline_delimited', ignore_errors=true, filename=true,
    columns={{id:'BIGINT', move_id:'JSON', name:'VARCHAR', date:'VARCHAR', parent_state:'VARCHAR', company_id:'JSON',
             partner_id:'JSON', account_id:'JSON', display_type:'VARCHAR', tax_ids:'BIGINT[]', tax_line_id:'JSON',
             tax_base_amount:'DOUBLE', balance:'DOUBLE', debit:'DOUBLE', credit:'DOUBLE', amount_currency:'DOUBLE',
             currency_id:'JSON', price_subtotal:'DOUBLE', write_date:'VARCHAR', _deleted:'BOOLEAN'}})
  WHERE id IS NOT NULL AND balance IS NOT NULL AND move_id IS NOT NULL;
CREATE TABLE b_partners AS SELECT * FROM read_json('{raw}/res_partner/*.jsonl', format='newline_delimited',
  ignore_errors=true, columns={{id:'BIGINT', name:'VARCHAR', is_company:'BOOLEAN', vat:'VARCHAR', branch_code:'VARCHAR',
  write_date:'VARCHAR'}}) WHERE id IS NOT NULL;
CREATE TABLE b_taxes AS SELECT * FROM read_json('{raw}/account_tax/*.jsonl', format='newline_delimited',
  ignore_errors=true, columns={{id:'BIGINT', name:'VARCHAR', amount:'DOUBLE', type_tax_use:'VARCHAR',
  l10n_ph_atc:'VARCHAR', write_date:'VARCHAR'}}) WHERE id IS NOT NULL;
CREATE TABLE b_companies AS SELECT * FROM read_json('{raw}/res_company/*.jsonl', format='newline_delimited',
  ignore_errors=true, columns={{id:'BIGINT', name:'VARCHAR', write_date:'VARCHAR'}}) WHERE id IS NOT NULL;
{rates_bronze}
COPY b_lines TO '{out}/bronze_lines.parquet';
COPY b_moves TO '{out}/bronze_moves.parquet';
---
CREATE TABLE moves AS SELECT id AS move_id, move_type, ref,
    CASE WHEN coalesce(_deleted, false) THEN 'deleted' ELSE state END AS state,
    CAST(coalesce(date, max(date) OVER (PARTITION BY id)) AS DATE) AS date,
    CAST(coalesce(company_id, max(company_id) OVER (PARTITION BY id))->>'$[0]' AS BIGINT) AS company_id,
    CAST(partner_id->>'$[0]' AS BIGINT) AS partner_id, coalesce(currency_id->>'$[1]', 'PHP') AS currency, _batch_id
  FROM b_moves QUALIFY row_number() OVER (PARTITION BY id ORDER BY write_date DESC, _batch_id DESC) = 1;
CREATE TABLE lines AS SELECT l.id AS line_id, m.move_id, CAST(l.tax_line_id->>'$[0]' AS BIGINT) AS tax_line_id,
    l.tax_base_amount, l.balance, l.amount_currency
  FROM b_lines l JOIN moves m ON CAST(l.move_id->>'$[0]' AS BIGINT) = m.move_id AND l._batch_id >= m._batch_id
  QUALIFY row_number() OVER (PARTITION BY l.id ORDER BY l.write_date DESC, l._batch_id DESC) = 1;
CREATE TABLE partners AS SELECT id AS partner_id, is_company,
    CASE WHEN vat IS NULL OR vat = 'false' THEN 'MISSING'
         WHEN regexp_matches(vat, '[A-Za-z]') OR length(regexp_replace(vat, '[^0-9]', '', 'g')) NOT IN (9, 12, 13, 14)
           THEN 'MALFORMED' ELSE 'VALID' END AS tin_status,
    substr(regexp_replace(vat, '[^0-9]', '', 'g'), 1, 9) AS tin
  FROM b_partners QUALIFY row_number() OVER (PARTITION BY id ORDER BY write_date DESC) = 1;
CREATE TABLE taxes AS SELECT id AS tax_id, name, amount, type_tax_use,
    coalesce(nullif(upper(l10n_ph_atc), 'FALSE'), nullif(regexp_extract(upper(name), '(W[ICV][0-9]{{3}})', 1), '')) AS atc
  FROM b_taxes QUALIFY row_number() OVER (PARTITION BY id ORDER BY write_date DESC) = 1;
CREATE TABLE usable AS SELECT m.*, c.name AS agency FROM moves m JOIN b_companies c ON c.id = m.company_id
  WHERE state = 'posted'
  QUALIFY ref IS NULL OR row_number() OVER (PARTITION BY m.company_id, partner_id, move_type, ref ORDER BY move_id) = 1;
CREATE TABLE rates AS SELECT currency_id->>'$[1]' AS currency, CAST(name AS DATE) AS rate_date,
    round(CASE WHEN inverse_company_rate > 0 THEN inverse_company_rate ELSE 1 / rate END, 6) AS php_per_unit
  FROM b_rates QUALIFY row_number() OVER (PARTITION BY currency_id->>'$[1]', name ORDER BY id DESC) = 1;
CREATE TABLE tax_lines AS SELECT l.*, u.agency, u.date, u.move_type, u.currency, t.amount, t.type_tax_use, t.atc,
    k.regime, p.tin_status,
    CASE WHEN coalesce(u.currency <> 'PHP' AND l.amount_currency <> 0 AND l.balance = l.amount_currency, false)
           THEN round(l.amount_currency * r.php_per_unit, 2)  -- booked at 1.0 by Odoo: no rate when posted
         WHEN u.currency = 'PHP' OR l.balance <> 0 OR l.amount_currency = 0 THEN l.balance
         WHEN coalesce(l.tax_base_amount, 0) <> 0
           THEN round(abs(l.tax_base_amount) * abs(t.amount) / 100, 2) * sign(l.amount_currency)
         ELSE round(l.amount_currency * r.php_per_unit, 2) END AS php
  FROM lines l JOIN usable u USING (move_id) JOIN taxes t ON t.tax_id = l.tax_line_id
  LEFT JOIN catalog k ON k.atc = t.atc LEFT JOIN partners p ON p.partner_id = u.partner_id
  ASOF LEFT JOIN rates r ON r.currency = u.currency AND u.date >= r.rate_date;
CREATE TABLE ewt AS SELECT strftime(date, '%Y-%m') AS period, agency,
    CASE WHEN type_tax_use = 'sale' THEN 'CWT' ELSE coalesce(regime, 'EWT') END AS regime, atc, abs(amount) AS rate,
    round(abs(tax_base_amount) * CASE WHEN move_type IN ('in_refund', 'out_refund') THEN -1 ELSE 1 END, 2) AS base,
    round(CASE WHEN type_tax_use = 'sale' THEN php ELSE -php END, 2) AS tax_withheld
  FROM tax_lines WHERE amount < 0 AND php IS NOT NULL;
CREATE TABLE vat AS SELECT strftime(date, '%Y-%m') AS period, agency,
    CASE WHEN type_tax_use = 'sale' THEN 'sale' ELSE 'purchase' END AS side,
    round(CASE WHEN type_tax_use = 'sale' THEN -php ELSE php END, 2) AS vat
  FROM tax_lines WHERE amount >= 0 AND php IS NOT NULL;
COPY ewt TO '{out}/ewt_lines.parquet';
COPY vat TO '{out}/vat_lines.parquet';
---
CREATE TABLE bir AS SELECT period, agency,
    round(sum(CASE WHEN regime = 'EWT' THEN tax_withheld ELSE 0 END), 2) AS withholding_tax,
    round(sum(CASE WHEN regime = 'CWT' THEN tax_withheld ELSE 0 END), 2) AS income_tax
  FROM ewt GROUP BY ALL;
CREATE TABLE by_atc AS SELECT period, agency, regime, atc, rate, round(sum(base), 2) AS base,
  round(sum(tax_withheld), 2) AS tax_withheld, count(*) AS lines FROM ewt GROUP BY ALL;
CREATE TABLE features AS SELECT agency, period, withholding_tax,
    lag(withholding_tax, 1) OVER w AS prev_month_wht, lag(withholding_tax, 12) OVER w AS prev_year_wht
  FROM bir WINDOW w AS (PARTITION BY agency ORDER BY period);
COPY bir TO '{out}/bir_transactions.parquet';
COPY by_atc TO '{out}/ewt_by_atc.parquet';
COPY features TO '{out}/bir_features.parquet';
"""


def run(raw: Path, out: Path, timed: Callable[[str, Callable[[], object]], object], threads: int | None = None) -> dict:
    import duckdb

    from odoolake.bir.atc import ALL_RATES

    out.mkdir(parents=True, exist_ok=True)
    catalog = ", ".join(sorted({f"('{r.atc}', '{r.regime.value}')" for r in ALL_RATES}))
    con = duckdb.connect(str(out / "floor.duckdb"))
    if threads:
        con.execute(f"SET threads = {threads}")
    rates = (f"CREATE TABLE b_rates AS SELECT * FROM read_json('{raw}/res_currency_rate/*.jsonl', "
             "format='newline_delimited', ignore_errors=true, columns={id:'BIGINT', name:'VARCHAR', "
             "currency_id:'JSON', rate:'DOUBLE', inverse_company_rate:'DOUBLE', write_date:'VARCHAR'}) "
             "WHERE id IS NOT NULL;" if any((raw / "res_currency_rate").glob("*.jsonl")) else
             "CREATE TABLE b_rates (id BIGINT, name VARCHAR, currency_id JSON, rate DOUBLE, "
             "inverse_company_rate DOUBLE, write_date VARCHAR);")
    parts = LEAN_SQL.format(raw=raw, out=out, catalog=catalog, rates_bronze=rates).split("---")
    for name, sql in zip(("bronze", "silver", "gold+features"), parts, strict=True):
        timed(name, lambda sql=sql: con.execute(sql))
    totals = {p: round(float(t), 2) for p, t in con.execute(
        "SELECT period, SUM(withholding_tax) FROM bir GROUP BY period").fetchall()}
    counts = {"ewt_lines": con.execute("SELECT count(*) FROM ewt").fetchone()[0],
              "vat_lines": con.execute("SELECT count(*) FROM vat").fetchone()[0]}
    con.close()
    return {"totals": totals, "counts": counts}
