"""``odoolake odoo …``: check the connection, extract into the raw drops, write predictions back.

Connection settings come from ``ODOO_URL``, ``ODOO_DB``, ``ODOO_LOGIN`` (16-18) and ``ODOO_API_KEY``; the key
is deliberately not an option, so it never lands in shell history or the process list.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from odoolake.cli.common import HomeOpt, console, handle_errors, lake_session
from odoolake.cli.demo import RAW_ROOT
from odoolake.config import WorkspacePaths

app = typer.Typer(no_args_is_help=True)
UrlOpt = typer.Option(None, "--url", help="Odoo base URL (default ODOO_URL).")
DbOpt = typer.Option(None, "--db", help="Database (default ODOO_DB; needed for JSON-RPC, 16-18).")
LoginOpt = typer.Option(None, "--login", help="Login (default ODOO_LOGIN; needed for JSON-RPC, 16-18).")


def _client(url: str | None, db: str | None, login: str | None):
    from odoolake.odoo import OdooClient, OdooSettings

    return OdooClient(OdooSettings.from_env(url=url, database=db, login=login))


@app.command("check")
@handle_errors
def check_cmd(url: str = UrlOpt, db: str = DbOpt, login: str = LoginOpt) -> None:
    """Connect, authenticate and read the accounting models' fields."""
    from odoolake.odoo.extract import MODELS

    client = _client(url, db, login)
    console.print(f"{client.url}: Odoo {client.version or '?'} over {client.protocol}")
    for spec in MODELS:
        console.print(f"  {spec.odoo}: {len(client.fields_get(spec.odoo))} fields")


@app.command("extract")
@handle_errors
def extract_cmd(
    since: str = typer.Option(None, "--since", help="Re-read records changed since this UTC time (YYYY-MM-DD or "
                                                    "ISO), instead of the checkpoint; the checkpoint only moves on."),
    page_size: int = typer.Option(2000, min=1, help="Records per search_read page."),
    lookback: int = typer.Option(300, "--lookback", min=0, help="Seconds before the checkpoint each run reads again: "
                                 "a transaction that commits later than this after it started is not seen."),
    url: str = UrlOpt, db: str = DbOpt, login: str = LoginOpt, home: str = HomeOpt,
) -> None:
    """Extract what changed in Odoo since the checkpoint into dbfs:/raw/odoo (bronze ingests it on the next run)."""
    from odoolake.odoo.extract import Extractor

    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(f"--since {since!r} is not a date or ISO time (e.g. 2026-11-01)") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    paths = WorkspacePaths.from_env(home).ensure()
    client = _client(url, db, login)
    with lake_session(paths) as spark, console.status(f"extracting from {client.url} ({client.protocol})…") as status:
        raw_dir = paths.dbfs_to_local(RAW_ROOT)
        extractor = Extractor(client, raw_dir, page_size=page_size, lookback_seconds=lookback,
                              progress=lambda model, n: status.update(f"{model}: {n:,} records…"))
        result = extractor.run_against_lake(spark, since=start)
    for model, rows in result.rows.items():
        gone = result.deleted.get(model)
        console.print(f"  {model}: {rows:,} record(s)" + (f" incl. {gone} deletion(s)" if gone else ""))
    if result.repointed:
        console.print(f"  {result.repointed:,} move(s) read again: a partner they named was merged away in Odoo")
    console.print(f"Batch {result.batch}: {len(result.files)} file(s) in {RAW_ROOT}" if result.files
                  else "Nothing changed since the last extraction.")


@app.command("writeback")
@handle_errors
def writeback_cmd(url: str = UrlOpt, db: str = DbOpt, login: str = LoginOpt, home: str = HomeOpt) -> None:
    """Write gold.bir_forecast into ipai.finance.bir_schedule.lake_predicted_tax (only what changed)."""
    from odoolake.odoo.writeback import predictions_from_lake, push_predictions, skipped_lines

    paths = WorkspacePaths.from_env(home)
    client = _client(url, db, login)
    with lake_session(paths) as spark:
        predictions = predictions_from_lake(spark)
    result = push_predictions(client, predictions, now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"))
    console.print(f"written {len(result.written)}, unchanged {len(result.unchanged)}, skipped {len(result.skipped)}")
    for line in skipped_lines(result):
        console.print(line, soft_wrap=True, markup=False)
