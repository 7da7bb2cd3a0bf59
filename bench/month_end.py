"""Month-end benchmark: the odoolake pipeline on the embedded engine beside a DuckDB-SQL floor.

    python bench/month_end.py                      # 1M and 10M lines, 3 runs each
    python bench/month_end.py --sizes 200000 --runs 3

For each size the data are generated once (cached under ``bench/.data``), then the engines run in fresh
worker processes, interleaved (sail, duckdb, sail, duckdb …), so both see the same machine state. Each
worker reports its stage times and its peak RSS (sampled every 50 ms). The Sail worker also adds one
month to the 24 and times that incremental run. Both engines' monthly EWT totals are compared, so the
floor is known to compute the same thing. Results: a Markdown table on stdout and JSON in
``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
END = date(2026, 10, 1)
EXTRA = date(2026, 11, 1)
MODELS = ("res_company", "res_partner", "account_tax", "account_move", "account_move_line", "res_currency_rate")


class PeakRss:
    def __init__(self) -> None:
        self.peak = 0
        self.window = 0  # peak since the last mark()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            self.peak = max(self.peak, rss)
            self.window = max(self.window, rss)
            time.sleep(0.05)

    def mark(self) -> int:
        peak, self.window = self.window, 0
        return peak

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(stages: dict[str, float], name: str, fn, rss: PeakRss | None = None, peaks: dict | None = None):
    if rss is not None:
        rss.mark()
    started = time.perf_counter()
    result = fn()
    stages[name] = round(time.perf_counter() - started, 3)
    if rss is not None and peaks is not None:
        peaks[name] = rss.mark()
    return result


# -- workers -----------------------------------------------------------------------------------------

def _link_raw(src: Path, dest: Path) -> None:
    for model in MODELS:
        folder = dest / model
        folder.mkdir(parents=True, exist_ok=True)
        for f in sorted((src / model).glob("*.jsonl")) if (src / model).exists() else []:
            link = folder / f.name
            if not link.exists():
                link.symlink_to(f)


def worker_sail(raw: Path, extra: Path, home: Path) -> dict:
    from odoolake.cli.common import dbfs_lister
    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import bronze, gold, silver
    from odoolake.workspace.engine import LocalEngine

    paths = WorkspacePaths.from_env(home).ensure()
    local_raw = paths.dbfs_to_local("dbfs:/raw/odoo")
    _link_raw(raw, local_raw)
    stages: dict[str, float] = {}
    with PeakRss() as rss:
        engine = LocalEngine(paths)
        spark = timed(stages, "startup", engine.session)
        ls = dbfs_lister(paths)
        peaks: dict[str, int] = {}
        timed(stages, "bronze", lambda: bronze.ingest(spark, "dbfs:/raw/odoo", ls), rss, peaks)
        timed(stages, "silver", lambda: silver.run(spark), rss, peaks)
        timed(stages, "gold+features", lambda: (gold.run(spark), gold.refresh_features(spark)), rss, peaks)
        totals = {r["period"]: float(r["t"]) for r in spark.sql(
            "SELECT period, SUM(withholding_tax) AS t FROM gold.bir_transactions GROUP BY period").collect()}
        _link_raw(extra, local_raw)
        inc: dict[str, float] = {}
        timed(inc, "bronze", lambda: bronze.ingest(spark, "dbfs:/raw/odoo", ls))
        timed(inc, "silver", lambda: silver.run(spark))
        timed(inc, "gold+features", lambda: (gold.run(spark), gold.refresh_features(spark)))
        engine.close()
    return {"stages": stages, "incremental": inc, "peak_rss": rss.peak, "stage_peak_rss": peaks, "totals": totals}


FLOOR_SQL = r"""
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
    CASE WHEN u.currency = 'PHP' OR l.balance <> 0 OR l.amount_currency = 0 THEN l.balance
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


def worker_duckdb(raw: Path, out: Path) -> dict:
    import duckdb

    from odoolake.bir.atc import ALL_RATES

    out.mkdir(parents=True, exist_ok=True)
    catalog = ", ".join(sorted({f"('{r.atc}', '{r.regime.value}')" for r in ALL_RATES}))
    stages: dict[str, float] = {}
    with PeakRss() as rss:
        con = timed(stages, "startup", lambda: duckdb.connect(str(out / "floor.duckdb")))
        rates = (f"CREATE TABLE b_rates AS SELECT * FROM read_json('{raw}/res_currency_rate/*.jsonl', "
                 "format='newline_delimited', ignore_errors=true, columns={id:'BIGINT', name:'VARCHAR', "
                 "currency_id:'JSON', rate:'DOUBLE', inverse_company_rate:'DOUBLE', write_date:'VARCHAR'}) "
                 "WHERE id IS NOT NULL;" if any((raw / "res_currency_rate").glob("*.jsonl")) else
                 "CREATE TABLE b_rates (id BIGINT, name VARCHAR, currency_id JSON, rate DOUBLE, "
                 "inverse_company_rate DOUBLE, write_date VARCHAR);")
        parts = FLOOR_SQL.format(raw=raw, out=out, catalog=catalog, rates_bronze=rates).split("---")
        for name, sql in zip(("bronze", "silver", "gold+features"), parts, strict=True):
            timed(stages, name, lambda sql=sql: con.execute(sql))
        totals = {p: round(t, 2) for p, t in con.execute(
            "SELECT period, SUM(withholding_tax) FROM bir GROUP BY period").fetchall()}
        con.close()
    return {"stages": stages, "peak_rss": rss.peak, "totals": totals}


# -- orchestration -----------------------------------------------------------------------------------

def ensure_data(size: int, data_dir: Path) -> tuple[Path, Path]:
    from odoolake.datagen import GenConfig, generate

    root = data_dir / f"{size}"
    raw, extra = root / "raw", root / "extra"
    cfg = GenConfig(lines=size, end=END, seed=42)
    if not (root / "done").exists():
        print(f"generating {size:,} lines …", file=sys.stderr, flush=True)
        generate(cfg, raw)
        generate(cfg, extra, months=[EXTRA])
        (root / "done").write_text("ok")
    return raw, extra


def run_worker(kind: str, *args: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", kind, *args]
    env = dict(os.environ, RUST_LOG="error")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_stages(results: list[dict], key: str = "stages") -> dict[str, float]:
    names = results[0][key].keys()
    return {n: statistics.median(r[key][n] for r in results) for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    args = parser.parse_args()
    import tempfile

    report = {"machine": {"cpus": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
                          "python": platform.python_version(), "platform": platform.platform()},
              "date": date.today().isoformat(), "sizes": {}}
    for size in [int(s) for s in args.sizes.split(",")]:
        raw, extra = ensure_data(size, args.data_dir)
        sail, floor = [], []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
                print(f"{size:,} lines, run {run + 1}/{args.runs}: sail …", file=sys.stderr, flush=True)
                sail.append(run_worker("sail", str(raw), str(extra), str(Path(tmp) / "home")))
                print(f"{size:,} lines, run {run + 1}/{args.runs}: duckdb …", file=sys.stderr, flush=True)
                floor.append(run_worker("duckdb", str(raw), str(Path(tmp) / "floor")))
        mismatched = {p: (sail[0]["totals"].get(p), t) for p, t in floor[0]["totals"].items()
                      if abs((sail[0]["totals"].get(p) or 0) - t) > 0.02}
        s, f, inc = median_stages(sail), median_stages(floor), median_stages(sail, "incremental")
        s_total = sum(v for k, v in s.items() if k != "startup")
        f_total = sum(v for k, v in f.items() if k != "startup")
        report["sizes"][size] = {
            "sail": s, "duckdb": f, "sail_incremental": inc,
            "sail_total": round(s_total, 2), "duckdb_total": round(f_total, 2),
            "ratio": round(s_total / f_total, 2), "incremental_share": round(sum(inc.values()) / s_total, 3),
            "sail_peak_rss_gib": round(max(r["peak_rss"] for r in sail) / 2**30, 2),
            "duckdb_peak_rss_gib": round(max(r["peak_rss"] for r in floor) / 2**30, 2),
            "ewt_totals_match": not mismatched, "mismatches": mismatched, "runs": args.runs,
        }
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"month_end-{date.today().isoformat()}.json").write_text(json.dumps(report, indent=2))
    print(render(report))


def render(report: dict) -> str:
    rows = ["| lines | engine | startup | bronze | silver | gold+features | total (excl. startup) | peak RSS |",
            "|---|---|---|---|---|---|---|---|"]
    for size, r in report["sizes"].items():
        for engine in ("sail", "duckdb"):
            st = r[engine]
            rows.append(f"| {int(size):,} | {'odoolake (Sail + Delta)' if engine == 'sail' else 'DuckDB SQL floor'} | "
                        f"{st['startup']:.2f} s | {st['bronze']:.2f} s | {st['silver']:.2f} s | "
                        f"{st['gold+features']:.2f} s | {r[engine + '_total']:.2f} s | {r[engine + '_peak_rss_gib']} GiB |")
    rows.append("")
    rows.append("| lines | odoolake / floor | one new month / full run | EWT totals equal |")
    rows.append("|---|---|---|---|")
    for size, r in report["sizes"].items():
        rows.append(f"| {int(size):,} | {r['ratio']}× | {r['incremental_share'] * 100:.1f}% | {r['ewt_totals_match']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        result = worker_sail(Path(rest[0]), Path(rest[1]), Path(rest[2])) if kind == "sail" else \
            worker_duckdb(Path(rest[0]), Path(rest[1]))
        print(json.dumps(result))
    else:
        main()
