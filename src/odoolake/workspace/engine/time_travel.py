"""Time travel on a catalog table read at its Delta location, where the engine reads the version's own schema.

Sail 0.7.2 reads ``t VERSION AS OF n`` (and ``spark.read.option("versionAsOf", n).table("t")``) with the table's
*current* schema, so a version from before ``ALTER TABLE … ADD COLUMNS`` failed ("Column 'extra' is not available
in Delta file scan schema"), while ``delta.`<location>` VERSION AS OF n`` answered the version's rows and columns.
The proxy therefore names a time-travelled catalog table by its location (keeping the name as the alias, so
``t.col`` still resolves).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from odoolake.workspace.engine import sqltext

READ = "databricks"
OPTIONS = ("versionasof", "timestampasof")  # a DataFrame read's time travel options, lower case
_AS_OF = re.compile(r"\bAS\s+OF\b", re.IGNORECASE)


@dataclass(frozen=True)
class VersionedRef:
    """A table read with ``VERSION``/``TIMESTAMP AS OF``: its name's parts and span, and where an alias goes (after
    the version clause; None when the statement already gives one or the clause's end is not known)."""

    parts: tuple[str, ...]
    start: int
    end: int  # exclusive
    alias_at: int | None


def mentions(sql: str) -> bool:
    """The cheap test before a statement is parsed (every statement takes it): whether ``AS OF`` is in its text."""
    return _AS_OF.search(sql) is not None


def versioned_refs(sql: str) -> list[VersionedRef]:
    """Every table the statement reads at a version or timestamp, in the order of the text."""
    try:
        tree = sqlglot.parse_one(sql, read=READ)
    except (ParseError, TokenError):
        return []
    found = []
    for table in tree.find_all(exp.Table) if tree is not None else ():
        version = table.args.get("version")
        parts = [part for part in table.parts if isinstance(part, exp.Identifier)]
        if version is None or len(parts) != len(table.parts) or any("start" not in p.meta for p in parts):
            continue
        ends = [node.meta["end"] for node in version.walk() if "end" in node.meta]
        alias_at = None if table.alias or not ends else max(ends) + 1
        found.append(VersionedRef(tuple(p.name for p in parts), parts[0].meta["start"], parts[-1].meta["end"] + 1,
                                  alias_at))
    return sorted(found, key=lambda ref: ref.start)


def at_location(sql: str, location_of: Callable[[VersionedRef], str | None]) -> str:
    """``sql`` with each versioned table ``location_of`` knows named ``delta.`<location>``` and aliased by its
    own name."""
    edits: list[tuple[int, int, str]] = []
    for ref in versioned_refs(sql):
        location = location_of(ref)
        if location is None:
            continue
        edits.append((ref.start, ref.end, f"delta.{sqltext.quote_path(location, '`')}"))
        if ref.alias_at is not None:
            edits.append((ref.alias_at, ref.alias_at, f" AS {sqltext.quote_path(ref.parts[-1], '`')}"))
    return sqltext.spliced(sql, edits)
