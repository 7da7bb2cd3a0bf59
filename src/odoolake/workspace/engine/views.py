"""Persistent views in SQL text: reading ``CREATE VIEW``, and finding where a statement reads a table by name.

Sail's Unity Catalog provider neither creates nor reads views (0.7.2: "Open source Unity Catalog does not support
creating views"), so the catalog keeps each view's query (``CatalogStore.create_view``) and the proxy puts the query
in place of the view's name wherever a statement reads it (``PlanRewriter._expand_views``). The positions of the
names come from sqlglot's parse of the statement (each identifier keeps where it was in the text), and only the
names are replaced: the rest of the text reaches the engine as written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from odoolake.workspace.engine import sqltext

READ = "databricks"
MAX_DEPTH = 16  # views over views: deeper is refused (a view that names itself would never end)


@dataclass(frozen=True)
class CreateView:
    """``CREATE [OR REPLACE] VIEW [IF NOT EXISTS] name [(columns)] [COMMENT '…'] [TBLPROPERTIES (…)] AS query``."""

    name: str
    replace: bool
    if_not_exists: bool
    columns: tuple[str, ...] | None
    comment: str | None
    query: str


def create_view(sql: str) -> CreateView | None:
    """The parts of a persistent CREATE VIEW (None for a temporary view or another statement)."""
    toks = sqltext.tokens(sql)
    words = [t.text.upper() for t in toks[:6]]
    at = 1
    replace = words[1:3] == ["OR", "REPLACE"]
    at += 2 if replace else 0
    if len(words) <= at or words[at] != "VIEW":
        return None  # TEMP/TEMPORARY/GLOBAL TEMPORARY views are the session's (Sail's), MATERIALIZED ones refused
    at += 1
    if_not_exists = [t.text.upper() for t in toks[at:at + 3]] == ["IF", "NOT", "EXISTS"]
    at += 3 if if_not_exists else 0
    name, at = sqltext.name_at(list(toks), at)
    if name is None:
        return None
    listed = toks[at].token_type == TokenType.L_PAREN if at < len(toks) else False
    names: list[str] = []
    comment = None
    depth = 0
    start = None
    for i in range(at, len(toks)):
        tok = toks[i]
        if tok.token_type in (TokenType.L_PAREN, TokenType.R_PAREN):
            depth += 1 if tok.token_type == TokenType.L_PAREN else -1
            continue
        if listed and depth == 1 and toks[i - 1].token_type in (TokenType.L_PAREN, TokenType.COMMA):
            names.append(tok.text)  # a column of the list: the first word after "(" or ","
        if depth == 0 and tok.text.upper() == "COMMENT" and i + 1 < len(toks):
            comment = toks[i + 1].text
        if depth == 0 and tok.token_type == TokenType.ALIAS:
            start = tok.end + 1
            break
    if start is None:
        return None
    columns = tuple(names) if listed else None
    return CreateView(name, replace, if_not_exists, columns, comment, sql[start:].strip().rstrip(";").strip())


def alter_view_as(sql: str) -> tuple[str, str] | None:
    """``ALTER VIEW name AS query``: the name and the new query (None for another statement)."""
    toks = list(sqltext.tokens(sql))
    if [t.text.upper() for t in toks[:2]] != ["ALTER", "VIEW"]:
        return None
    name, at = sqltext.name_at(toks, 2)
    if name is None or at >= len(toks) or toks[at].token_type != TokenType.ALIAS:
        return None
    return name, sql[toks[at].end + 1:].strip().rstrip(";").strip()


@dataclass(frozen=True)
class TableRef:
    """A table named where a statement reads rows (FROM, JOIN), with where its name is in the text."""

    parts: tuple[str, ...]  # as the catalog spells them (quotes off)
    start: int
    end: int  # exclusive
    aliased: bool
    # the name carries a clause of its own (VERSION/TIMESTAMP AS OF, PIVOT, UNPIVOT, TABLESAMPLE): a subquery put in
    # its place would leave the clause without a table to apply to
    clauses: bool = False


def table_refs(sql: str) -> list[TableRef]:
    """Every table a statement reads by name (FROM, JOIN, MERGE's USING), in the order of the text; none when sqlglot
    cannot read it (the engine then names what is wrong). Names a WITH clause defines are not tables."""
    try:
        tree = sqlglot.parse_one(sql, read=READ)
    except (ParseError, TokenError):
        return []
    if tree is None:
        return []
    defined = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found = []
    for table in tree.find_all(exp.Table):
        merged_from = isinstance(table.parent, exp.Merge) and table.arg_key == "using"  # MERGE … USING name
        if not isinstance(table.this, exp.Identifier) or \
                (table.find_ancestor(exp.From, exp.Join) is None and not merged_from):
            continue
        parts = [part for part in table.parts if isinstance(part, exp.Identifier)]
        if len(parts) != len(table.parts) or any("start" not in part.meta for part in parts):
            continue
        if len(parts) == 1 and parts[0].name.lower() in defined:
            continue
        found.append(TableRef(tuple(part.name for part in parts), parts[0].meta["start"], parts[-1].meta["end"] + 1,
                              bool(table.alias), any(table.args.get(k) for k in ("version", "pivots", "sample"))))
    return sorted(found, key=lambda ref: ref.start)


def mentions_any(sql: str, names: frozenset[str]) -> bool:
    """Whether a word of ``sql`` is one of ``names`` (lower case): the cheap test before a statement is parsed."""
    return any(tok.text.lower() in names for tok in sqltext.tokens(sql)
               if tok.token_type in (TokenType.VAR, TokenType.IDENTIFIER) or tok.text.isidentifier())


def replace_refs(sql: str, refs: list[TableRef], query_of: Callable[[TableRef], str | None]) -> str:
    """``sql`` with each name ``query_of`` answers a query for replaced by that query as a subquery (named as the
    view was, unless the text gives it an alias)."""
    def subquery(ref: TableRef) -> str | None:
        query = query_of(ref)
        alias = "" if ref.aliased else f" AS {sqltext.quote_path(ref.parts[-1], '`')}"
        return None if query is None else f"({query}){alias}"

    return replace_names(sql, refs, subquery)


def qualified(query: str, schema: str) -> str:
    """``query`` with every table it names by one part named ``schema.table``: a view reads the tables of the schema
    it was made in, whatever schema its reader uses."""
    return replace_names(query, [ref for ref in table_refs(query) if len(ref.parts) == 1],
                         lambda ref: f"{sqltext.quote_path(schema, '`')}.{sqltext.quote_path(ref.parts[0], '`')}")


def replace_names(sql: str, refs: list[TableRef], text_of: Callable[[TableRef], str | None]) -> str:
    """``sql`` with each name ``text_of`` answers a text for replaced by that text (the others as they were)."""
    return sqltext.spliced(sql, [(ref.start, ref.end, text) for ref in refs if (text := text_of(ref)) is not None])
