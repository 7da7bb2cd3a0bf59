"""The honest DuckDB floor: the month-end's whole logical work in DuckDB SQL, every table written to Delta with
delta-rs.

What it does, as the pipeline does it (``odoolake.pipeline``): every raw line parsed, rejected lines kept in bronze
with a reason (MALFORMED_JSON, MISSING_FIELD) and quarantined; the newest version of every record; partners with
TINs, split names, addresses and the payee identity of shared TINs; taxes with ATCs; exchange rates per day; moves
(tombstones filled) and their lines; ``tax_lines`` with PHP amounts and reject/to-classify reasons; EWT lines with the
payee's running total, the expected ATC and every data-quality flag; VAT lines; the quarantine (ingest, partners,
rules, flags, duplicate deliveries) with reason codes and details; payee running totals; gold (monthly totals, EWT
by ATC, forecast features); the BIR form tables (2307, QAP, SAWT, SLSP, remittances, filing calendar) and their
check against gold. The rules are written here again, in SQL, from the same constants (reason codes, the ATC
catalog): this is a second implementation, and its row counts and totals are compared with the pipeline's.

Where it is easier than the pipeline's job: it builds everything in one process from the raw files (no incremental
state, no reading back its own tables: intermediate results stay in DuckDB's memory), and each table is one
delta-rs commit. That is the floor: what a single-node engine needs for the same outputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from odoolake.bir import reasons
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
from odoolake.bir.calendar import REMITTANCE_DAY
from odoolake.pipeline.schemas import RAW_MODELS, RawModel

MONEY = "DECIMAL(18,2)"
RATE = "DECIMAL(9,4)"
PARTITIONED = ("moves", "move_lines", "tax_lines", "ewt_lines", "vat_lines")

# -- the ATC catalog as SQL CASE expressions (the same rows the pipeline's catalog module turns into Spark) ---------


def _lit(value: object) -> str:
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _in_force(rule, on: str) -> str:
    return f"({on} >= {_lit(rule.valid_from)} AND {on} <= {_lit(rule.valid_to)})"


def per_code(attribute: str) -> str:
    values: dict[str, str] = {}
    for rule in CATALOG:
        values.setdefault(rule.atc, str(getattr(rule, attribute)))
    return "CASE " + " ".join(f"WHEN atc = {_lit(code)} THEN {_lit(v)}" for code, v in values.items()) + " END"


def _any(terms: list[str]) -> str:
    return "(" + " OR ".join(["false", *terms]) + ")"


def atc_in_force(on: str) -> str:
    return _any([f"(atc = {_lit(r.atc)} AND {_in_force(r, on)})" for r in CATALOG])


def rate_in_force(on: str, rate: str) -> str:
    return _any([f"(atc = {_lit(r.atc)} AND {_in_force(r, on)} AND {rate} = CAST({r.rate} AS {RATE}))"
                 for r in CATALOG])


def expected(value: str, condition: str, on: str) -> str:
    whens = []
    for r in CATALOG:
        payee = "true" if r.payee_type == PayeeType.ANY else f"payee_type = {_lit(r.payee_type.value)}"
        matches = "true" if r.condition == Condition.ANY else f"{condition} = {_lit(r.condition.value)}"
        out = _lit(r.atc) if value == "atc" else f"CAST({r.rate} AS {RATE})"
        whens.append(f"WHEN family = {_lit(r.family)} AND {payee} AND {_in_force(r, on)} AND {matches} THEN {out}")
    return "CASE " + " ".join(whens) + " END"


def nature() -> str:
    whens = " ".join(f"WHEN atc = {_lit(r.atc)} AND {_in_force(r, 'date')} THEN {_lit(r.nature)}" for r in CATALOG)
    return f"coalesce(CASE {whens} END, {per_code('nature')})"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in sorted(values)) + ")"


def payee_condition(paid: str) -> str:
    ind = GROSS_INCOME_THRESHOLD[PayeeType.INDIVIDUAL]
    jur = GROSS_INCOME_THRESHOLD[PayeeType.JURIDICAL]
    limit = f"CASE WHEN payee_type = {_lit(PayeeType.INDIVIDUAL.value)} THEN CAST({ind} AS {MONEY}) " \
            f"ELSE CAST({jur} AS {MONEY}) END"
    declared = "(income_declaration = 'not_over' AND declaration_date <= date)"
    vat_blocks = f"(vat_registered AND payee_type = {_lit(PayeeType.INDIVIDUAL.value)})"
    within = f"coalesce({declared} AND NOT {vat_blocks} AND {paid} <= {limit}, false)"
    listed = f"coalesce(seller_category IN {_in(LISTED_SELLER_CATEGORIES)}, false)"
    return (f"CASE WHEN family IN {_in(THRESHOLD_FAMILIES)} THEN CASE WHEN {within} THEN "
            f"{_lit(Condition.INCOME_NOT_OVER_THRESHOLD.value)} ELSE {_lit(Condition.INCOME_OVER_THRESHOLD.value)} END "
            f"WHEN family IN {_in(SELLER_FAMILIES)} THEN CASE WHEN {listed} THEN {_lit(Condition.LISTED_SELLER.value)} "
            f"ELSE {_lit(Condition.OTHER_SELLER.value)} END ELSE {_lit(Condition.ANY.value)} END")


def payor_eligible(on: str) -> str:
    payor = per_code("payor")
    return (f"CASE WHEN {payor} = {_lit(Payor.TOP_WITHHOLDING_AGENT.value)} THEN coalesce(twa_since <= {on}, false) "
            f"WHEN {payor} = {_lit(Payor.GOVERNMENT.value)} THEN coalesce(is_government, false) ELSE true END")


def remittance_deadline(on: str) -> str:
    following = f"({on} + INTERVAL 1 MONTH)"
    return (f"CAST(CASE WHEN month({on}) % 3 = 0 THEN last_day({following}) "
            f"ELSE make_date(year({following}), month({following}), {REMITTANCE_DAY}) END AS DATE)")


def action_of(reason: str) -> str:
    return "CASE " + " ".join(f"WHEN {reason} = {_lit(r.code)} THEN {_lit(r.action.value)}"
                              for r in reasons.ALL_REASONS) + " END"


# -- bronze ---------------------------------------------------------------------------------------------------------

_JSON_TYPES: dict[str, object] = {"bigint": "BIGINT", "string": "VARCHAR", "double": "DOUBLE", "boolean": "BOOLEAN",
               "array<string>": ["VARCHAR"], "array<bigint>": ["BIGINT"]}


def _structure(model: RawModel) -> str:
    import json

    return json.dumps({name: _JSON_TYPES[kind] for name, kind in model.fields}).replace("'", "''")


def bronze_sql(model: RawModel, raw: Path) -> str:
    fields = ", ".join(f"r.{name} AS {name}" for name, _ in model.fields)
    absent = [f"CASE WHEN r.{n} IS NULL THEN '{n}' END" for n in model.required if n != "id"]
    missing = f"concat_ws(',', {', '.join(absent)})" if absent else "''"
    return f"""
    CREATE TABLE bronze_{model.name} AS
    WITH text AS (
      SELECT value, filename AS _source_file FROM read_csv('{raw}/{model.name}/*.jsonl', columns={{'value': 'VARCHAR'}},
        header=false, delim=chr(1), quote='', escape='', filename=true, auto_detect=false, max_line_size=100000000)
      WHERE trim(value) <> ''
    ), parsed AS (
      SELECT value, _source_file, try(json_transform(value, '{_structure(model)}')) AS r FROM text
    ), judged AS (
      SELECT *, {missing} AS _missing FROM parsed
    )
    SELECT {fields}, _source_file, regexp_extract(_source_file, '([^/]+?)(\\.jsonl|\\.json)?$', 1) AS _batch_id,
      current_timestamp AS _ingested_at,
      CASE WHEN r.id IS NULL THEN '{reasons.MALFORMED_JSON.code}' WHEN _missing <> '' THEN '{reasons.MISSING_FIELD.code}'
           END AS _reject,
      CASE WHEN r.id IS NULL THEN 'line does not parse as a JSON object'
           WHEN _missing <> '' THEN 'missing or null required field(s): ' || _missing END AS _detail,
      CASE WHEN r.id IS NULL OR _missing <> '' THEN value END AS _raw
    FROM judged;
    CREATE VIEW v_{model.name} AS SELECT * FROM bronze_{model.name} WHERE _reject IS NULL;
    """


def ingest_quarantine_sql(model: RawModel) -> str:
    return f"""
    SELECT 'ingest' AS stage, _reject AS reason, 'rejected' AS action, '{model.odoo_model}' AS model,
      id AS record_id, NULL::BIGINT AS move_id, NULL::VARCHAR AS period, NULL::VARCHAR AS agency, _detail AS detail,
      _batch_id, _source_file, substr(_raw, 1, 2000) AS raw
    FROM bronze_{model.name} WHERE _reject IS NOT NULL"""


# -- silver ---------------------------------------------------------------------------------------------------------

MACROS = f"""
CREATE MACRO btn(x) AS CASE WHEN trim(x) = '' OR lower(trim(x)) = 'false' THEN NULL ELSE trim(x) END;
CREATE MACRO money(x) AS CAST(x AS {MONEY});
"""


def _tin(vat: str, branch: str, prefix: str = "") -> str:
    """TIN, branch and status columns (odoolake.bir.tin's rules), from a subquery computing the pieces."""
    return f"""
      CASE WHEN {prefix}ok THEN {prefix}number END AS {prefix}tin,
      CASE WHEN {prefix}ok THEN lpad(CASE WHEN {prefix}trimmed = '' THEN '0' ELSE {prefix}trimmed END, 4, '0')
           END AS {prefix}tin_branch,
      CASE WHEN {prefix}missing THEN 'MISSING' WHEN {prefix}malformed THEN 'MALFORMED'
           WHEN regexp_matches({prefix}raw, '^[0-9]{{3}}-[0-9]{{3}}-[0-9]{{3}}(-[0-9]{{3,5}})?$') THEN 'VALID'
           ELSE 'NORMALISED' END AS {prefix}tin_status"""


def _tin_pieces(vat: str, branch: str, prefix: str = "") -> str:
    return f"""
      trim({vat}) AS {prefix}raw,
      regexp_replace(trim({vat}), '[^0-9]', '', 'g') AS {prefix}digits"""


def _tin_stage2(branch: str, prefix: str = "") -> str:
    return f"""
      substr({prefix}digits, 1, 9) AS {prefix}number,
      regexp_replace(CASE WHEN substr({prefix}digits, 10, 10) = ''
                          THEN regexp_replace(coalesce({branch}, ''), '[^0-9]', '', 'g')
                          ELSE substr({prefix}digits, 10, 10) END, '^0+', '') AS {prefix}trimmed"""


def _tin_stage3(prefix: str = "") -> str:
    p = prefix
    return f"""
      ({p}raw IS NULL OR {p}raw = '') AS {p}missing,
      (regexp_matches({p}raw, '[A-Za-z]') OR length({p}digits) NOT IN (9, 12, 13, 14)
       OR {p}number = repeat(substr({p}number, 1, 1), 9) OR length({p}trimmed) > 4) AS {p}malformed"""


def _address() -> str:
    return """
      CASE WHEN concat_ws(' ', btn(street), btn(street2)) <> '' THEN concat_ws(' ', btn(street), btn(street2))
           END AS address1,
      CASE WHEN concat_ws(', ', btn(city), state_id[2], CASE WHEN country_id[2] IS NOT NULL
                                                            AND country_id[2] <> 'Philippines' THEN country_id[2] END) <> ''
           THEN concat_ws(', ', btn(city), state_id[2], CASE WHEN country_id[2] IS NOT NULL
                                                            AND country_id[2] <> 'Philippines' THEN country_id[2] END)
           END AS address2,
      btn(zip) AS zip"""


LATEST = "QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY write_date DESC, _batch_id DESC) = 1"


def partners_sql() -> str:
    pick = """CASE WHEN name_status = 'fields' THEN {field}
                   WHEN name_status = 'comma' THEN CASE WHEN len(parts) > {i}
                        AND trim(parts[{j}]) <> '' THEN trim(parts[{j}]) END END"""
    identity = ("payee_name", "is_company", "last_name", "first_name", "middle_name", "name_status", "address1",
                "address2", "zip")
    return f"""
    CREATE TABLE p1 AS SELECT *, btn(vat) AS vat_c, coalesce(is_company, company_type = 'company') AS is_co,
        btn(last_name) AS f_last, btn(first_name) AS f_first, btn(middle_name) AS f_middle,
        trim(coalesce(name, '')) AS nm
      FROM v_res_partner {LATEST.format(key='id')};
    CREATE TABLE p2 AS SELECT *, string_split(nm, ',') AS parts,
        CASE WHEN is_co THEN 'company' WHEN f_last IS NOT NULL AND f_first IS NOT NULL THEN 'fields'
             WHEN regexp_matches(nm, '^[^,]+,[^,]+(,[^,]*)?$') THEN 'comma' ELSE 'not_split' END AS name_status,
        {_tin_pieces('vat_c', 'branch_code')}
      FROM p1;
    CREATE TABLE p3 AS SELECT *, {_tin_stage2('btn(branch_code)')} FROM p2;
    CREATE TABLE p4 AS SELECT *, {_tin_stage3()} FROM p3;
    CREATE TABLE own AS SELECT
        id AS partner_id, name AS partner_name, is_co AS is_company,
        CASE WHEN is_co THEN 'corporation' ELSE 'individual' END AS payee_type,
        {pick.format(field='f_last', i=0, j=1)} AS last_name,
        {pick.format(field='f_first', i=1, j=2)} AS first_name,
        {pick.format(field='f_middle', i=2, j=3)} AS middle_name,
        name_status, vat_c AS vat, {_tin('vat_c', 'branch_code').replace('ok', '(NOT missing AND NOT malformed)')},
        {_address()}, country_id[2] AS country,
        lower(btn(x_ph_gross_income_declaration)) AS income_declaration,
        try_cast(btn(x_ph_declaration_date) AS DATE) AS declaration_date,
        coalesce(x_ph_vat_registered, false) AS vat_registered, lower(btn(x_ph_seller_category)) AS seller_category,
        coalesce(_deleted, false) AS is_deleted
      FROM p4;
    CREATE TABLE own2 AS SELECT *,
        coalesce(tin || tin_branch, 'partner:' || CAST(partner_id AS VARCHAR)) AS payee_key,
        CASE WHEN name_status IN ('fields', 'comma') THEN concat_ws(', ', last_name, first_name, middle_name)
             ELSE partner_name END AS payee_name
      FROM own;
    CREATE TABLE partners AS
      WITH groups AS (
        SELECT payee_key, min(partner_id) AS canonical_id, count(DISTINCT upper(trim(partner_name))) AS _names
        FROM own2 WHERE NOT is_deleted GROUP BY payee_key
      ), canonical AS (
        SELECT partner_id AS canonical_id, {', '.join(f'{c} AS _c_{c}' for c in identity)} FROM own2
      )
      SELECT o.partner_id, partner_name, is_company, payee_type, last_name, first_name, middle_name, name_status,
        vat, tin, tin_branch, tin_status, address1, address2, zip, country, income_declaration, declaration_date,
        vat_registered, seller_category, is_deleted, o.payee_key, coalesce(_names, 1) > 1 AS tin_shared,
        coalesce(g.canonical_id, o.partner_id) AS canonical_partner_id,
        {', '.join(f"coalesce(_c_{c}, {c}) AS {c if c == 'payee_name' else 'payee_' + c}" for c in identity)}
      FROM own2 o LEFT JOIN groups g USING (payee_key) LEFT JOIN canonical c ON c.canonical_id = g.canonical_id;
    """


def taxes_sql() -> str:
    return f"""
    CREATE TABLE taxes AS
      WITH cur AS (SELECT *, upper(btn(l10n_ph_atc)) AS field_atc,
                     regexp_extract(upper(coalesce(name, '')), '(W[ICV][0-9]{{3}})', 1) AS name_atc,
                     lower(coalesce(name, '')) AS _lname
                   FROM v_account_tax {LATEST.format(key='id')})
      SELECT id AS tax_id, name AS tax_name, CAST(amount AS {RATE}) AS tax_amount, type_tax_use AS tax_use,
        amount < 0 AS is_withholding,
        coalesce(field_atc, CASE WHEN name_atc <> '' THEN name_atc END) AS atc,
        CASE WHEN field_atc IS NOT NULL THEN 'field' WHEN name_atc <> '' THEN 'name' END AS atc_source,
        CASE WHEN amount < 0 THEN NULL WHEN contains(_lname, 'zero') THEN 'zero_rated'
             WHEN contains(_lname, 'exempt') THEN 'exempt' WHEN contains(_lname, 'capital') THEN 'capital_goods'
             WHEN contains(_lname, 'import') THEN 'imports' WHEN contains(_lname, 'service') THEN 'services'
             WHEN type_tax_use = 'sale' THEN 'taxable' ELSE 'goods' END AS vat_category
      FROM cur;
    """


def companies_sql() -> str:
    return f"""
    CREATE TABLE c1 AS SELECT *, btn(vat) AS vat_c FROM v_res_company {LATEST.format(key='id')};
    CREATE TABLE c2 AS SELECT *, {_tin_pieces('vat_c', 'NULL')} FROM c1;
    CREATE TABLE c3 AS SELECT *, {_tin_stage2('NULL')} FROM c2;
    CREATE TABLE c4 AS SELECT *, {_tin_stage3()} FROM c3;
    CREATE TABLE companies AS SELECT id AS company_id, name AS agency,
        coalesce(btn(x_ph_registered_name), name) AS registered_name,
        {_tin('vat_c', 'NULL').replace('ok', '(NOT missing AND NOT malformed)').replace(' AS tin,', ' AS agency_tin,')
          .replace(' AS tin_branch', ' AS agency_branch').replace(' AS tin_status', ' AS agency_tin_status')},
        btn(l10n_ph_rdo) AS rdo, {_address()},
        try_cast(btn(x_ph_twa_since) AS DATE) AS twa_since, coalesce(x_ph_is_government, false) AS is_government,
        upper(btn(x_ph_efps_group)) AS efps_group
      FROM c4;
    """


RATES_SQL = f"""
CREATE TABLE currency_rates AS
  WITH cur AS (SELECT * FROM v_res_currency_rate {LATEST.format(key='id')}),
  rates AS (
    SELECT currency_id[2] AS currency, try_cast(name AS DATE) AS rate_date,
      CAST(CASE WHEN inverse_company_rate > 0 THEN inverse_company_rate WHEN rate > 0 THEN 1 / rate END
           AS DECIMAL(18,6)) AS php_per_unit, id
    FROM cur WHERE NOT coalesce(_deleted, false)
  ), one_a_day AS (
    SELECT * FROM rates QUALIFY row_number() OVER (PARTITION BY concat_ws('|', currency, CAST(rate_date AS VARCHAR))
                                                   ORDER BY id DESC) = 1
  ), with_next AS (
    SELECT *, lead(rate_date) OVER (PARTITION BY currency ORDER BY rate_date) AS _next
    FROM one_a_day WHERE php_per_unit IS NOT NULL
  )
  SELECT currency, CAST(unnest(generate_series(rate_date, coalesce(_next - 1, greatest(rate_date, current_date) + 62),
                                               INTERVAL 1 DAY)) AS DATE) AS date,
    php_per_unit AS fx_php_per_unit
  FROM with_next;
"""

PARTNER_FLAGS_SQL = f"""
CREATE TABLE q_partners AS
  WITH live AS (SELECT * FROM partners WHERE NOT is_deleted)
  SELECT 'partners' AS stage, reason, action, 'res.partner' AS model, partner_id AS record_id,
    NULL::BIGINT AS move_id, NULL::VARCHAR AS period, NULL::VARCHAR AS agency, detail, NULL::VARCHAR AS _batch_id,
    NULL::VARCHAR AS _source_file, NULL::VARCHAR AS raw
  FROM (
    SELECT partner_id, '{reasons.NAME_NOT_SPLIT.code}' AS reason, '{reasons.NAME_NOT_SPLIT.action.value}' AS action,
      'individual ''' || partner_name || ''' has no Last/First name in Odoo' AS detail
    FROM live WHERE NOT is_company AND name_status = 'not_split'
    UNION ALL
    SELECT partner_id, '{reasons.TIN_SHARED_BY_PARTNERS.code}', '{reasons.TIN_SHARED_BY_PARTNERS.action.value}',
      'TIN ' || coalesce(tin, '') || '-' || coalesce(tin_branch, '')
        || ' is also used by another partner; the alphalists print ''' || payee_name || ''''
    FROM live WHERE tin_shared
    UNION ALL
    SELECT partner_id, '{reasons.MISSING_ADDRESS.code}', '{reasons.MISSING_ADDRESS.action.value}',
      '''' || partner_name || ''' has no '
        || CASE WHEN address1 IS NULL AND address2 IS NULL THEN 'registered address' ELSE 'ZIP code' END
    FROM live WHERE (address1 IS NULL AND address2 IS NULL) OR zip IS NULL
  );
"""

JOURNAL_SQL = f"""
CREATE TABLE moves AS
  WITH tomb AS (SELECT DISTINCT id FROM v_account_move WHERE coalesce(_deleted, false)),
  earlier AS (
    SELECT id, first(date) AS _p_date, first(name) FILTER (WHERE name IS NOT NULL) AS _p_name,
      first(company_id) FILTER (WHERE company_id IS NOT NULL) AS _p_company_id,
      first(partner_id) FILTER (WHERE partner_id IS NOT NULL) AS _p_partner_id,
      first(move_type) FILTER (WHERE move_type IS NOT NULL) AS _p_move_type
    FROM v_account_move SEMI JOIN tomb USING (id) WHERE date IS NOT NULL GROUP BY id
  ), cur AS (SELECT * FROM v_account_move {LATEST.format(key='id')})
  SELECT c.id AS move_id, coalesce(name, _p_name) AS move_name, btn(ref) AS ref,
    coalesce(move_type, _p_move_type) AS move_type,
    CASE WHEN coalesce(_deleted, false) THEN 'deleted' ELSE state END AS state,
    try_cast(coalesce(date, _p_date) AS DATE) AS date, try_cast(btn(invoice_date) AS DATE) AS invoice_date,
    CAST(coalesce(partner_id, _p_partner_id)[1] AS BIGINT) AS partner_id,
    CAST(coalesce(company_id, _p_company_id)[1] AS BIGINT) AS company_id,
    coalesce(currency_id[2], 'PHP') AS currency, CAST(origin_payment_id[1] AS BIGINT) AS origin_payment_id,
    try_cast(write_date AS TIMESTAMP) AS write_date, _batch_id,
    strftime(try_cast(coalesce(date, _p_date) AS DATE), '%Y-%m') AS period
  FROM cur c LEFT JOIN earlier e USING (id);
CREATE TABLE move_lines AS
  WITH cand AS (
    SELECT l.id AS line_id, CAST(l.move_id[1] AS BIGINT) AS move_id, display_type,
      CAST(tax_line_id[1] AS BIGINT) AS tax_line_id, tax_ids, tax_base_amount, balance, amount_currency,
      account_id[2] AS account, parent_state, l.write_date, l._batch_id, m.period
    FROM v_account_move_line l JOIN moves m ON CAST(l.move_id[1] AS BIGINT) = m.move_id AND l._batch_id >= m._batch_id
  )
  SELECT line_id, move_id, period, display_type, tax_line_id, tax_ids, money(tax_base_amount) AS tax_base_amount,
    money(balance) AS balance, money(amount_currency) AS amount_currency, account, parent_state,
    try_cast(write_date AS TIMESTAMP) AS write_date, _batch_id
  FROM cand {LATEST.format(key='line_id')};
"""

MOVE_REJECTS_SQL = f"""
CREATE TABLE moves_c AS SELECT m.*, c.agency, c.twa_since, c.is_government
  FROM moves m LEFT JOIN companies c USING (company_id);
CREATE TABLE move_rejects AS
  WITH bills AS (SELECT move_id, company_id, partner_id, move_type, ref FROM moves_c
                 WHERE state = 'posted' AND ref IS NOT NULL),
  repeated AS (SELECT company_id, partner_id, move_type, ref, min(move_id) AS _first FROM bills
               GROUP BY ALL HAVING count(*) > 1),
  later AS (SELECT b.move_id, true AS _later_copy FROM bills b JOIN repeated r
            ON b.company_id IS NOT DISTINCT FROM r.company_id AND b.partner_id IS NOT DISTINCT FROM r.partner_id
               AND b.move_type IS NOT DISTINCT FROM r.move_type AND b.ref IS NOT DISTINCT FROM r.ref
            WHERE b.move_id > r._first),
  flagged AS (
    SELECT m.*, CASE WHEN state = 'draft' THEN '{reasons.DRAFT.code}' WHEN state = 'cancel' THEN '{reasons.CANCELLED.code}'
                     WHEN state = 'deleted' THEN '{reasons.DELETED.code}'
                     WHEN _later_copy THEN '{reasons.DUPLICATE_BILL.code}' END AS _reason
    FROM moves_c m LEFT JOIN later USING (move_id)
  )
  SELECT 'rules' AS stage, _reason AS reason, {action_of('_reason')} AS action, 'account.move' AS model,
    move_id AS record_id, move_id, period, agency,
    CASE WHEN _reason = '{reasons.DUPLICATE_BILL.code}'
         THEN 'same vendor and reference as an earlier posted bill: ' || ref
         ELSE 'move is ' || state || ': ' || coalesce(move_name, '') END AS detail,
    _batch_id, NULL::VARCHAR AS _source_file, NULL::VARCHAR AS raw
  FROM flagged WHERE _reason IS NOT NULL;
"""

PARTNER_COLUMNS = ("partner_name", "is_company", "payee_type", "payee_key", "tin", "tin_branch", "tin_status",
                   "income_declaration", "declaration_date", "vat_registered", "seller_category")


# A line Odoo booked at 1.0 for want of any rate: its balance is the document amount, not pesos
AT_ONE = "coalesce(u.currency <> 'PHP' AND l.amount_currency <> 0 AND l.balance = l.amount_currency, false)"


def tax_lines_sql() -> str:
    php = """CASE WHEN from_balance THEN balance WHEN base <> 0 THEN money(round(base * abs(tax_amount) / 100, 2)
                   * CAST(sign(amount_currency) AS INTEGER))
                   WHEN fx_php_per_unit IS NOT NULL THEN money(round(amount_currency * fx_php_per_unit, 2)) END"""
    return f"""
    CREATE TABLE tax_lines AS
      WITH usable AS (
        SELECT * EXCLUDE (period, write_date, _batch_id) FROM moves_c ANTI JOIN move_rejects USING (move_id)
        WHERE state = 'posted'
      ), joined AS (
        SELECT l.*, u.* EXCLUDE (move_id), t.*, {', '.join('p.' + c for c in PARTNER_COLUMNS)}, r.fx_php_per_unit,
          NOT {AT_ONE} AND (u.currency = 'PHP' OR l.balance <> 0 OR coalesce(l.amount_currency = 0, true))
            AS from_balance,
          CASE WHEN {AT_ONE} THEN CAST(0 AS {MONEY}) ELSE abs(coalesce(l.tax_base_amount, CAST(0 AS {MONEY}))) END
            AS base
        FROM move_lines l JOIN usable u USING (move_id)
        LEFT JOIN taxes t ON l.tax_line_id = t.tax_id
        LEFT JOIN partners p ON p.partner_id = u.partner_id
        LEFT JOIN currency_rates r ON r.currency = u.currency AND r.date = u.date
        WHERE l.tax_line_id IS NOT NULL
      ), priced AS (
        SELECT *, {php} AS _php,
          CASE WHEN from_balance THEN 'balance' WHEN base <> 0 THEN 'tax_base'
               WHEN fx_php_per_unit IS NOT NULL THEN 'reference_rate' END AS php_source
        FROM joined
      )
      SELECT period, date, agency, company_id, twa_since, is_government, move_id, move_name, move_type, line_id,
        invoice_date, partner_id, {', '.join(PARTNER_COLUMNS)}, tax_line_id, tax_id, tax_name, tax_amount, tax_use,
        is_withholding, vat_category, atc, atc_source, {per_code('family')} AS family, {per_code('regime')} AS regime,
        tax_base_amount, balance, amount_currency, currency, _php AS balance_php, php_source, write_date, _batch_id,
        CASE WHEN tax_id IS NULL THEN '{reasons.UNKNOWN_TAX.code}' END AS _reject,
        CASE WHEN tax_id IS NULL THEN NULL
             WHEN _php IS NULL THEN '{reasons.MISSING_CURRENCY_RATE.code}'
             WHEN coalesce(is_withholding, false) AND NOT coalesce(atc IN {_in(KNOWN_ATCS)}, false)
               THEN '{reasons.UNKNOWN_ATC.code}'
             WHEN coalesce(is_withholding, false) AND NOT {atc_in_force('date')} THEN '{reasons.ATC_NOT_IN_FORCE.code}'
             END AS _classify
      FROM priced;
    """


def ewt_sql() -> str:
    refund = "CASE WHEN move_type IN ('in_refund', 'out_refund') THEN -1 ELSE 1 END"
    rate = "abs(tax_amount)"
    # a line converted at the reference rate has no PHP base in Odoo: the base its PHP tax implies (tax / rate)
    held = f"abs(coalesce(tax_base_amount, CAST(0 AS {MONEY})))"
    base = (f"money(CASE WHEN php_source = 'reference_rate' AND {rate} <> 0 "
            f"THEN round(abs(balance_php) * 100 / {rate}, 2) ELSE {held} END * {refund})")
    thr = f"coalesce(tax_use <> 'sale' AND _classify IS NULL AND family IN {_in(THRESHOLD_FAMILIES)}, false)"
    flags = [
        (reasons.MISSING_TIN, "tin_status = 'MISSING'"),
        (reasons.MALFORMED_TIN, "tin_status = 'MALFORMED'"),
        (reasons.ATC_FROM_NAME, "classified AND atc_source = 'name'"),
        (reasons.WRONG_ATC_FOR_PAYEE, "purchase AND classified AND wrong_payee"),
        (reasons.RATE_NOT_IN_FORCE, "classified AND NOT rate_ok"),
        (reasons.WRONG_RATE_FOR_PAYEE, "purchase AND classified AND NOT coalesce(wrong_payee, false) AND rate_ok "
                                       "AND expected_atc IS NOT NULL AND (atc <> expected_atc OR rate <> expected_rate)"),
        (reasons.PAYOR_NOT_ELIGIBLE, f"purchase AND classified AND NOT ({payor_eligible('date')})"),
        (reasons.TAX_NOT_RATE_X_BASE, "classified AND abs(abs(tax_withheld) - at_rate) > "
                                      f"greatest(1, at_rate * CAST(0.005 AS {RATE}))"),
        (reasons.BACKDATED_POSTING, f"purchase AND CAST(posted_at AS DATE) > {remittance_deadline('date')}"),
        (reasons.PHP_FROM_TAX_BASE, "php_source = 'tax_base'"),
        (reasons.PHP_FROM_REFERENCE_RATE, "php_source = 'reference_rate'"),
    ]
    dq = "concat_ws(',', " + ", ".join(f"CASE WHEN {cond} THEN '{r.code}' END" for r, cond in flags) + ")"
    return f"""
    CREATE TABLE ewt_lines AS
      WITH wht AS (
        SELECT *, year(date) AS year, {thr} AS _thr, {base} AS base FROM tax_lines
        WHERE _reject IS NULL AND is_withholding
      ), paid AS (
        SELECT *, CASE WHEN _thr THEN money(CAST(0 AS {MONEY}) + sum(base) OVER (
            PARTITION BY agency, payee_key, year, family, _thr ORDER BY date, line_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) END AS paid_this_year
        FROM wht
      ), staged AS (
        SELECT *, money(CASE WHEN tax_use = 'sale' THEN balance_php ELSE -balance_php END) AS tax_withheld,
          CASE WHEN tax_use <> 'sale' AND _classify IS NULL THEN {payee_condition('paid_this_year')} END
            AS payee_condition,
          _classify IS NULL AS classified, NOT (tax_use = 'sale') AS purchase, {rate} AS rate,
          ((atc LIKE 'WI%' AND is_company) OR (atc LIKE 'WC%' AND NOT coalesce(is_company, true))) AS wrong_payee,
          {rate_in_force('date', rate)} AS rate_ok, abs(base) * {rate} / 100 AS at_rate, write_date AS posted_at
        FROM paid
      ), expect AS (
        SELECT *, CASE WHEN payee_condition IS NOT NULL THEN {expected('atc', 'payee_condition', 'date')} END
            AS expected_atc,
          CASE WHEN payee_condition IS NOT NULL THEN {expected('rate', 'payee_condition', 'date')} END AS expected_rate
        FROM staged
      )
      SELECT period, year, month(date) AS month, agency, company_id, move_id, move_name, move_type, line_id, date,
        invoice_date, partner_id, partner_name AS payee_name, is_company, payee_type, payee_key, tin AS payee_tin,
        tin_branch AS payee_branch, tin_status, atc, atc_source,
        CASE WHEN classified THEN 'ok' ELSE 'to_classify' END AS atc_status, _classify AS classify_reason, family,
        CASE WHEN tax_use = 'sale' THEN 'CWT' ELSE coalesce(regime, 'EWT') END AS regime, tax_id, tax_name, rate, base,
        tax_withheld, paid_this_year, payee_condition, expected_atc, expected_rate, currency, php_source, posted_at,
        {dq} AS dq_flags, _batch_id, twa_since, is_government
      FROM expect;
    CREATE TABLE payee_ytd AS SELECT period, partner_id, agency, payee_key, year, family, money(sum(base)) AS base
      FROM ewt_lines WHERE paid_this_year IS NOT NULL GROUP BY ALL;
    CREATE TABLE vat_lines AS
      SELECT period, year(date) AS year, month(date) AS month, agency, company_id, move_id, move_name, move_type,
        line_id, date, invoice_date, partner_id, payee_key AS counterparty_key, tin AS partner_tin,
        tin_branch AS partner_branch, tin_status,
        CASE WHEN tax_use = 'sale' THEN 'sale' WHEN vat_category = 'imports' THEN 'import' ELSE 'purchase' END AS side,
        vat_category, tax_id, tax_name, abs(tax_amount) AS rate, {base} AS base,
        money(CASE WHEN tax_use = 'sale' THEN -balance_php ELSE balance_php END) AS vat, _batch_id
      FROM tax_lines WHERE _reject IS NULL AND _classify IS NULL AND NOT is_withholding;
    """


def rules_quarantine_sql() -> str:
    reason = "coalesce(_reject, _classify)"
    amount = "format('{:,.2f}', CAST(abs(balance_php) AS DOUBLE))"
    detail = f"""CASE WHEN {reason} = '{reasons.MISSING_CURRENCY_RATE.code}'
        THEN 'no PHP amount on a ' || currency || ' line (' || CAST(amount_currency AS VARCHAR) || ' ' || currency
             || '): enter the rate for ' || CAST(date AS VARCHAR) || ' in Odoo'
      WHEN {reason} = '{reasons.UNKNOWN_TAX.code}' THEN 'tax id ' || CAST(tax_line_id AS VARCHAR) || ' is not in account.tax'
      WHEN {reason} = '{reasons.ATC_NOT_IN_FORCE.code}'
        THEN 'PHP ' || {amount} || ' withheld under ' || atc || ', not valid on ' || CAST(date AS VARCHAR)
             || ' (to classify): set the ATC in force on tax ''' || tax_name || ''' in Odoo'
      ELSE 'PHP ' || {amount} || ' withheld under tax ''' || tax_name
             || ''' with no known ATC (to classify): set its Philippines ATC in Odoo' END"""
    on = "' on ' || coalesce(atc, '?') || ' ' || format('{:.2f}', CAST(rate AS DOUBLE)) || '% line of ' || move_name"
    expected_text = ("': expected ' || coalesce(expected_atc, '?') || ' at ' "
                     "|| format('{:.2f}', CAST(expected_rate AS DOUBLE)) || '% (payee ' || lower(payee_condition) || ')'")
    paid = ("CASE WHEN paid_this_year IS NOT NULL THEN '; paid this year PHP ' "
            "|| format('{:,.2f}', CAST(paid_this_year AS DOUBLE)) END")
    flag_detail = f"""CASE WHEN _flag = '{reasons.WRONG_RATE_FOR_PAYEE.code}'
        THEN _flag || {on} || {expected_text} || coalesce({paid}, '')
      WHEN _flag = '{reasons.BACKDATED_POSTING.code}'
        THEN _flag || {on} || ': posted ' || CAST(CAST(posted_at AS DATE) AS VARCHAR) || ', due '
             || CAST({remittance_deadline('date')} AS VARCHAR)
      ELSE _flag || {on} END"""
    return f"""
    CREATE TABLE q_rules AS
      SELECT * FROM move_rejects
      UNION ALL
      SELECT 'rules', {reason}, {action_of(reason)}, 'account.move.line', line_id, move_id, period, agency, {detail},
        _batch_id, NULL, NULL
      FROM tax_lines WHERE {reason} IS NOT NULL
      UNION ALL
      SELECT 'rules', _flag, '{reasons.FLAGGED.value}', 'account.move.line', line_id, move_id, period, agency,
        {flag_detail}, _batch_id, NULL, NULL
      FROM (SELECT *, unnest(string_split(dq_flags, ',')) AS _flag FROM ewt_lines WHERE dq_flags <> '');
    CREATE TABLE q_dedup AS
      WITH repeated AS (SELECT id, write_date FROM v_account_move_line GROUP BY ALL HAVING count(*) > 1),
      copies AS (
        SELECT l.* FROM v_account_move_line l SEMI JOIN repeated r
          ON l.id = r.id AND l.write_date IS NOT DISTINCT FROM r.write_date
        QUALIFY row_number() OVER (PARTITION BY id, write_date ORDER BY _batch_id, _source_file) > 1
      )
      SELECT 'dedup' AS stage, '{reasons.DUPLICATE_RECORD.code}' AS reason,
        '{reasons.DUPLICATE_RECORD.action.value}' AS action, 'account.move.line' AS model, id AS record_id,
        CAST(move_id[1] AS BIGINT) AS move_id, strftime(try_cast(date AS DATE), '%Y-%m') AS period,
        company_id[2] AS agency, 'same id and write_date delivered again in ' || _batch_id AS detail, _batch_id,
        _source_file, NULL::VARCHAR AS raw
      FROM copies;
    """


# -- gold and forms -------------------------------------------------------------------------------------------------

GOLD_SQL = f"""
CREATE TABLE ewt_by_atc AS SELECT period, year, month, agency, regime, atc_status, atc, rate,
    money(coalesce(sum(base), 0)) AS base, money(coalesce(sum(tax_withheld), 0)) AS tax_withheld, count(*) AS lines
  FROM ewt_lines GROUP BY ALL;
CREATE TABLE bir_transactions AS
  WITH w AS (
    SELECT period, year, month, agency,
      money(coalesce(sum(tax_withheld) FILTER (WHERE regime = 'EWT'), 0)) AS withholding_tax,
      money(coalesce(sum(tax_withheld) FILTER (WHERE regime = 'EWT' AND atc_status = 'to_classify'), 0))
        AS withholding_to_classify,
      money(coalesce(sum(tax_withheld) FILTER (WHERE regime = 'FWT'), 0)) AS final_withholding_tax,
      money(coalesce(sum(tax_withheld) FILTER (WHERE regime = 'FWT' AND atc_status = 'to_classify'), 0))
        AS final_withholding_to_classify,
      money(coalesce(sum(tax_withheld) FILTER (WHERE regime = 'WVAT'), 0)) AS withholding_vat,
      money(coalesce(sum(tax_withheld) FILTER (WHERE regime = 'CWT'), 0)) AS income_tax,
      money(coalesce(sum(tax_withheld) FILTER (WHERE regime = 'CWT' AND atc_status = 'to_classify'), 0))
        AS income_tax_to_classify,
      money(coalesce(sum(base) FILTER (WHERE regime = 'EWT'), 0)) AS ewt_base,
      CAST(count(*) FILTER (WHERE regime = 'EWT') AS BIGINT) AS lines
    FROM ewt_lines GROUP BY ALL
  ), v AS (
    SELECT period, year, month, agency,
      money(coalesce(sum(vat) FILTER (WHERE side = 'sale'), 0)) AS output_vat,
      money(coalesce(sum(vat) FILTER (WHERE side <> 'sale'), 0)) AS input_vat
    FROM vat_lines GROUP BY ALL
  )
  SELECT period, year, month, agency,
    {', '.join(f"coalesce({c}, CAST(0 AS {MONEY})) AS {c}" for c in (
        "withholding_tax", "withholding_to_classify", "final_withholding_tax", "final_withholding_to_classify",
        "withholding_vat", "income_tax", "income_tax_to_classify", "ewt_base", "output_vat", "input_vat"))},
    coalesce(lines, 0) AS lines, money(coalesce(output_vat, 0) - coalesce(input_vat, 0)) AS vat
  FROM w FULL OUTER JOIN v USING (period, year, month, agency);
CREATE TABLE bir_features AS
  WITH bounds AS (SELECT min(period) AS lo, max(period) AS hi FROM bir_transactions),
  months AS (SELECT unnest(generate_series(CAST(lo || '-01' AS DATE), CAST(hi || '-01' AS DATE), INTERVAL 1 MONTH)) AS d
             FROM bounds),
  grid AS (SELECT agency, strftime(d, '%Y-%m') AS period, year(d) AS year, month(d) AS month
           FROM (SELECT DISTINCT agency FROM bir_transactions) CROSS JOIN months),
  full_ AS (SELECT g.*, {', '.join(f'coalesce(t.{c}, CAST(0 AS {MONEY})) AS {c}'
                                   for c in ('withholding_tax', 'income_tax', 'vat'))}
            FROM grid g LEFT JOIN bir_transactions t USING (agency, period))
  SELECT agency, period, year, month, withholding_tax,
    lag(withholding_tax, 1) OVER w AS prev_month_wht, lag(withholding_tax, 12) OVER w AS prev_year_wht, income_tax, vat
  FROM full_ WINDOW w AS (PARTITION BY agency ORDER BY period);
"""

IDENTITY = ("payee_name", "individual", "last_name", "first_name", "middle_name", "name_status", "address1",
            "address2", "zip", "country", "payee_tin", "payee_branch", "tin_status")


def forms_sql() -> str:
    first_identity = ", ".join(f"first({c}) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in IDENTITY)
    quarter = "year || 'Q' || CAST(ceil(month / 3) AS INTEGER)"
    msum = "money(coalesce(sum({v}) FILTER (WHERE {w}), 0))"
    amount = lambda *cats: msum.format(v="base", w=f"vat_category IN {_in(cats)}")  # noqa: E731
    return f"""
    CREATE TABLE identity AS SELECT partner_id, payee_name, NOT coalesce(payee_is_company, false) AS individual,
        payee_last_name AS last_name, payee_first_name AS first_name, payee_middle_name AS middle_name,
        payee_name_status AS name_status, payee_address1 AS address1, payee_address2 AS address2, payee_zip AS zip,
        country, tin AS payee_tin, tin_branch AS payee_branch, tin_status
      FROM partners;
    CREATE TABLE ewt_q AS SELECT e.* EXCLUDE (payee_name, payee_tin, payee_branch, tin_status), i.* EXCLUDE (partner_id),
        {quarter} AS quarter, month - (CAST(ceil(month / 3) AS INTEGER) - 1) * 3 AS m, {nature()} AS _nature
      FROM ewt_lines e LEFT JOIN identity i USING (partner_id) WHERE atc_status = 'ok';
    CREATE TABLE form_2307 AS SELECT agency, quarter, payee_key, atc, rate, {first_identity},
        first(_nature) FILTER (WHERE _nature IS NOT NULL) AS nature,
        {msum.format(v='base', w='m = 1')} AS income_month1, {msum.format(v='base', w='m = 2')} AS income_month2,
        {msum.format(v='base', w='m = 3')} AS income_month3, {msum.format(v='base', w='true')} AS income_total,
        {msum.format(v='tax_withheld', w='true')} AS tax_withheld, count(*) AS lines
      FROM ewt_q WHERE regime = 'EWT' GROUP BY agency, quarter, payee_key, atc, rate;
    CREATE TABLE qap AS SELECT agency, quarter, regime, payee_key, atc, rate, {first_identity},
        first(_nature) FILTER (WHERE _nature IS NOT NULL) AS nature, {msum.format(v='base', w='true')} AS income,
        {msum.format(v='tax_withheld', w='true')} AS tax_withheld, CASE WHEN rate = 0 THEN 2 ELSE 1 END AS schedule
      FROM ewt_q WHERE regime IN ('EWT', 'FWT') GROUP BY agency, quarter, regime, payee_key, atc, rate;
    CREATE TABLE sawt AS SELECT agency, quarter, payee_key AS payor_key, atc, rate, {first_identity},
        first(_nature) FILTER (WHERE _nature IS NOT NULL) AS nature, {msum.format(v='base', w='true')} AS income,
        {msum.format(v='tax_withheld', w='true')} AS tax_withheld
      FROM ewt_q WHERE regime = 'CWT' GROUP BY agency, quarter, payee_key, atc, rate;
    CREATE TABLE slsp AS
      WITH v AS (SELECT v.* EXCLUDE (tin_status), i.* EXCLUDE (partner_id), {quarter} AS quarter,
                   CASE WHEN side = 'import' THEN 'move:' || CAST(move_id AS VARCHAR) ELSE counterparty_key END AS ck
                 FROM vat_lines v LEFT JOIN identity i USING (partner_id))
      SELECT agency, quarter, side, ck AS counterparty_key, {first_identity}, first(move_name) AS document,
        min(invoice_date) AS document_date, min(date) AS date, {amount('exempt')} AS exempt,
        {amount('zero_rated')} AS zero_rated, {amount('services')} AS services,
        {amount('capital_goods')} AS capital_goods, {amount('goods')} AS goods, {amount('imports')} AS imports,
        {amount('taxable')} AS taxable, {msum.format(v='vat', w='true')} AS vat
      FROM v GROUP BY agency, quarter, side, ck;
    CREATE TABLE remittances AS
      WITH tx AS (SELECT *, {quarter} AS quarter, month - (CAST(ceil(month / 3) AS INTEGER) - 1) * 3 AS m
                  FROM bir_transactions),
      r AS (
        {" UNION ALL ".join(f'''
        SELECT agency, '{monthly}' AS form, period, quarter, money({total} - {bucket}) AS classified,
          money({bucket}) AS to_classify, money({total}) AS total_withheld, CAST(0 AS {MONEY}) AS previously_remitted
        FROM tx WHERE m < 3
        UNION ALL
        SELECT agency, '{quarterly}', quarter, quarter, money(coalesce(sum({total} - {bucket}), 0)),
          money(coalesce(sum({bucket}), 0)), money(coalesce(sum({total}), 0)),
          money(coalesce(sum({total}) FILTER (WHERE m < 3), 0))
        FROM tx GROUP BY agency, quarter''' for monthly, quarterly, total, bucket in (
            ("0619-E", "1601-EQ", "withholding_tax", "withholding_to_classify"),
            ("0619-F", "1601-FQ", "final_withholding_tax", "final_withholding_to_classify")))}
      )
      SELECT *, money(total_withheld - previously_remitted) AS still_due FROM r;
    """


def filing_calendar(con, as_of: date) -> None:
    from odoolake.bir.calendar import EfpsGroup, HolidayTable, obligations_for_year

    periods = {r[0] for r in con.execute("SELECT DISTINCT period FROM bir_transactions").fetchall()}
    agencies = con.execute("SELECT agency, efps_group FROM companies ORDER BY agency").fetchall()
    years = sorted({int(p[:4]) for p in periods})
    table = HolidayTable.philippines(range(min(years) - 1, max(years) + 2))
    rows = []
    for agency, group in agencies:
        efps = EfpsGroup(group) if group is not None and group in EfpsGroup.__members__ else None
        for ob in (o for year in years for o in obligations_for_year(year, table, efps)):
            months = ob.months()
            has_data = bool(months & periods) if months else ob.period in periods
            days = (ob.due - as_of).days
            status = ("no_data" if not has_data else "deadline_passed" if days < 0 else
                      "due_soon" if days <= 7 else "upcoming")
            rows.append((agency, ob.form, ob.period, ob.statutory_due, ob.due, ob.moved, status, ob.description,
                         group, as_of))
    import pyarrow as pa

    names = ("agency", "form", "period", "statutory_due", "due", "moved", "status", "description", "efps_group",
             "as_of")
    con.register("calendar", pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}))
    con.execute("CREATE TABLE filing_calendar AS SELECT * FROM calendar")
    con.unregister("calendar")


FORMS_CHECK_SQL = """
WITH g AS (SELECT agency, year || 'Q' || CAST(ceil(month / 3) AS INTEGER) AS quarter,
             sum(withholding_tax - withholding_to_classify) AS ewt, sum(final_withholding_tax
             - final_withholding_to_classify) AS fwt, sum(income_tax - income_tax_to_classify) AS cwt,
             sum(withholding_tax) AS ewt_all, sum(output_vat) AS out_vat, sum(input_vat) AS in_vat
           FROM bir_transactions GROUP BY ALL),
f AS (SELECT agency, quarter, sum(tax_withheld) AS t FROM form_2307 GROUP BY ALL),
q AS (SELECT agency, quarter, sum(tax_withheld) FILTER (WHERE regime = 'EWT') AS e,
        sum(tax_withheld) FILTER (WHERE regime = 'FWT') AS f FROM qap GROUP BY ALL),
s AS (SELECT agency, quarter, sum(tax_withheld) AS t FROM sawt GROUP BY ALL),
r AS (SELECT agency, period AS quarter, sum(total_withheld) AS t FROM remittances WHERE form = '1601-EQ' GROUP BY ALL),
l AS (SELECT agency, quarter, sum(vat) FILTER (WHERE side = 'sale') AS o, sum(vat) FILTER (WHERE side <> 'sale') AS i
      FROM slsp GROUP BY ALL)
SELECT count(*) FROM g LEFT JOIN f USING (agency, quarter) LEFT JOIN q USING (agency, quarter)
  LEFT JOIN s USING (agency, quarter) LEFT JOIN r USING (agency, quarter) LEFT JOIN l USING (agency, quarter)
WHERE coalesce(f.t, 0) <> g.ewt OR coalesce(q.e, 0) <> g.ewt OR coalesce(q.f, 0) <> g.fwt OR coalesce(s.t, 0) <> g.cwt
   OR coalesce(r.t, 0) <> g.ewt_all OR coalesce(l.o, 0) <> g.out_vat OR coalesce(l.i, 0) <> g.in_vat
"""

# -- running it -----------------------------------------------------------------------------------------------------

BRONZE_TABLES = tuple(f"bronze_{m.name}" for m in RAW_MODELS)
SILVER_TABLES = ("partners", "taxes", "companies", "currency_rates", "moves", "move_lines", "tax_lines",
                 "ewt_lines", "payee_ytd", "vat_lines", "quarantine", "batch_log")
GOLD_TABLES = ("ewt_by_atc", "bir_transactions", "bir_features")
FORM_TABLES = ("form_2307", "qap", "sawt", "slsp", "remittances", "filing_calendar")


def write_delta(con, table: str, out: Path, columns: str = "*") -> None:
    from deltalake import write_deltalake

    reader = con.sql(f"SELECT {columns} FROM {table}").to_arrow_reader(1 << 17)
    write_deltalake(str(out / table), reader, mode="overwrite",
                    partition_by=["period"] if table in PARTITIONED else None)


def run(raw: Path, out: Path, timed: Callable[[str, Callable[[], object]], object], threads: int | None = None,
        as_of: date = date(2026, 11, 15)) -> dict:
    """The whole month-end, stage by stage (``timed(stage, fn)`` measures each); returns totals and row counts."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()  # in memory; what does not fit spills to out/spill
    con.execute(f"SET temp_directory = '{out / 'spill'}'")
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute(MACROS)

    def bronze() -> None:
        for model in RAW_MODELS:
            if any((raw / model.name).glob("*.jsonl")):
                con.execute(bronze_sql(model, raw))
            else:  # an empty table of the model's columns
                cols = ", ".join(f"NULL::{_duck_type(kind)} AS {name}" for name, kind in model.fields)
                con.execute(f"CREATE TABLE bronze_{model.name} AS SELECT {cols}, NULL::VARCHAR AS _source_file, "
                            "NULL::VARCHAR AS _batch_id, NULL::TIMESTAMP AS _ingested_at, NULL::VARCHAR AS _reject, "
                            "NULL::VARCHAR AS _detail, NULL::VARCHAR AS _raw WHERE false; "
                            f"CREATE VIEW v_{model.name} AS SELECT * FROM bronze_{model.name}")
        con.execute("CREATE TABLE q_ingest AS " + " UNION ALL ".join(ingest_quarantine_sql(m) for m in RAW_MODELS))
        for table in BRONZE_TABLES:
            write_delta(con, table, out)

    def silver() -> None:
        for sql in (partners_sql(), taxes_sql(), companies_sql(), RATES_SQL, PARTNER_FLAGS_SQL, JOURNAL_SQL,
                    MOVE_REJECTS_SQL, tax_lines_sql(), ewt_sql(), rules_quarantine_sql()):
            con.execute(sql)
        con.execute("CREATE TABLE quarantine AS SELECT * FROM q_ingest UNION ALL SELECT * FROM q_partners "
                    "UNION ALL SELECT * FROM q_rules UNION ALL SELECT * FROM q_dedup")
        periods = ",".join(r[0] for r in con.execute(
            "SELECT DISTINCT period FROM moves WHERE period IS NOT NULL ORDER BY 1").fetchall())
        con.execute(f"CREATE TABLE batch_log AS SELECT DISTINCT _batch_id AS batch_id, '{periods}' AS periods, "
                    "current_timestamp AS processed_at FROM bronze_account_move")
        for table in SILVER_TABLES:
            write_delta(con, table, out, "* EXCLUDE (twa_since, is_government)" if table == "ewt_lines" else "*")

    def gold() -> None:
        con.execute(GOLD_SQL)
        for table in GOLD_TABLES:
            write_delta(con, table, out)

    def forms() -> None:
        con.execute(forms_sql())
        filing_calendar(con, as_of)
        for table in FORM_TABLES:
            write_delta(con, table, out)
        off = con.execute(FORMS_CHECK_SQL).fetchone()[0]
        if off:
            raise RuntimeError(f"honest floor: {off} quarter(s) of the form tables disagree with gold")

    timed("bronze", bronze)
    timed("silver", silver)
    timed("gold+features", gold)
    timed("forms", forms)
    started = time.perf_counter()
    result = {"totals": {p: float(t) for p, t in con.execute(
        "SELECT period, sum(withholding_tax) FROM bir_transactions GROUP BY period").fetchall()},
        "counts": counts(con)}
    result["count_seconds"] = round(time.perf_counter() - started, 3)
    con.close()
    return result


def _duck_type(kind: str) -> str:
    return {"bigint": "BIGINT", "string": "VARCHAR", "double": "DOUBLE", "boolean": "BOOLEAN",
            "array<string>": "VARCHAR[]", "array<bigint>": "BIGINT[]"}[kind]


COUNTED = ("moves", "move_lines", "tax_lines", "ewt_lines", "vat_lines", "partners", "ewt_by_atc", "form_2307", "qap",
           "sawt", "slsp")


def counts(con) -> dict[str, int]:
    """Row counts to compare with the pipeline's: tables, and the quarantine by stage and reason."""
    out = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}
    for model in RAW_MODELS:
        out[f"bronze.{model.name}"] = con.execute(f"SELECT count(*) FROM bronze_{model.name}").fetchone()[0]
    for stage, reason, n in con.execute("SELECT stage, reason, count(*) FROM quarantine GROUP BY ALL").fetchall():
        out[f"quarantine.{stage}.{reason}"] = n
    return out
