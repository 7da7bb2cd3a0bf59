"""Spark SQL as Databricks users write it, rewritten (with sqlglot's Databricks dialect) into what Sail runs.

- ``QUALIFY`` (Sail 0.7.2: a syntax error) becomes a subquery filtered on its window column, as sqlglot's Spark
  generator writes it.
- ``PIVOT (… FOR col IN (v AS a, …))`` is respelled ``FOR (col) IN ((v) AS a, …)``, the form Sail parses.
- ``ORDER BY ALL`` (likewise) orders by every projection in turn, with the direction given.
- ``GROUP BY ALL`` (Sail 0.7.2: ``ALL`` read as a column) groups by the ordinals of the projections that hold no
  aggregate, as Databricks defines it (nor a window function: evaluated after grouping); none is a global aggregate.
- Lateral column aliases (``SELECT v * 2 AS d, d + 1 AS e``: Sail cannot resolve ``d``) are replaced by the
  expression they name, only where the name is no column of the query's sources (a column wins, as in Spark). When a
  source's columns are unknown here, nothing is replaced.

A text is parsed only when its tokens show one of these constructs, and re-generated only when something changed,
so every other statement reaches Sail byte for byte as written. ``rewrite()`` is called from the one place every
path goes through (``PlanRewriter.prepare_sql``).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.helper import find_new_name
from sqlglot.tokens import TokenType

from odoolake.workspace.engine import sqltext

READ, WRITE = "databricks", "spark"

# The columns of a table named in a query (``schema.table`` as written), or None when unknown.
ColumnsOf = Callable[[str], list[str] | None]


# Where a SELECT's projection list ends (at the SELECT's own parenthesis depth).
_PROJECTION_ENDS = frozenset({TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING,
                              TokenType.ORDER_BY, TokenType.LIMIT, TokenType.UNION, TokenType.INTERSECT,
                              TokenType.SORT_BY, TokenType.CLUSTER_BY, TokenType.DISTRIBUTE_BY})


def _groups_by_all(sql: str) -> list[tuple[int, int]]:
    """Where each ``GROUP BY ALL`` is in the text: (start of GROUP BY, end of ALL, inclusive)."""
    toks = sqltext.tokens(sql)
    return [(a.start, b.end) for a, b in itertools.pairwise(toks)
            if a.token_type == TokenType.GROUP_BY and b.token_type == TokenType.ALL]


_ORDERING_WORDS = frozenset({"ASC", "DESC", "NULLS", "FIRST", "LAST"})


def _orders_by_all(sql: str) -> list[tuple[int, int, str]]:
    """Where each ``ORDER BY ALL [ASC|DESC] [NULLS FIRST|LAST]`` is in the text: (start of ALL, end of the clause,
    inclusive, the ordering words as written)."""
    toks = sqltext.tokens(sql)
    found = []
    for i, (a, b) in enumerate(itertools.pairwise(toks)):
        if a.token_type == TokenType.ORDER_BY and b.token_type == TokenType.ALL:
            end = i + 1
            while end + 1 < len(toks) and toks[end + 1].text.upper() in _ORDERING_WORDS:
                end += 1
            found.append((b.start, toks[end].end, " ".join(t.text for t in toks[i + 2:end + 1])))
    return found


def _hints(sql: str) -> tuple[bool, bool, bool]:
    """(QUALIFY, PIVOT, a possible lateral alias) from the tokens alone.

    A lateral alias is a name defined with ``AS`` in a SELECT's projection list and used later in that same list.
    Names used after the list (``GROUP BY``/``HAVING``/``ORDER BY`` an alias, as BI tools write) are Spark's own
    alias resolution and need no parse: about 0.7 ms of a small query's time through the engine."""
    toks = sqltext.tokens(sql)
    words = {t.text.upper() for t in toks if t.token_type != TokenType.STRING}
    lists: list[tuple[int, set[str]]] = []  # the open projection lists: (parenthesis depth, names defined so far)
    depth = 0
    lateral = False
    for i, tok in enumerate(toks):
        kind = tok.token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
            while lists and lists[-1][0] > depth:
                lists.pop()
        elif kind == TokenType.SELECT:
            lists.append((depth, set()))
        elif lists and kind in _PROJECTION_ENDS and lists[-1][0] == depth and not (
                kind == TokenType.FROM and i and toks[i - 1].token_type == TokenType.DISTINCT):  # IS DISTINCT FROM
            lists.pop()
        elif lists and kind in (TokenType.VAR, TokenType.IDENTIFIER):
            text, defined = tok.text.lower(), lists[-1][1]
            if i and toks[i - 1].text.upper() == "AS":
                defined.add(text)
            elif text in defined:
                lateral = True
    return "QUALIFY" in words, "PIVOT" in words, lateral


def rewrite(sql: str, columns_of: ColumnsOf) -> str | None:
    """The text Sail should run instead of ``sql``, or None to run it as it is."""
    qualify, pivot, lateral = _hints(sql)
    group_all, order_all = _groups_by_all(sql), _orders_by_all(sql)
    if not (qualify or pivot or lateral or group_all or order_all):
        return None
    try:
        tree = sqlglot.parse_one(sql, read=READ)
    except ParseError:
        return None  # Sail reports the syntax error in its own terms (translated to PARSE_SYNTAX_ERROR)
    changed = qualify and tree.find(exp.Qualify) is not None
    if changed:
        _filter_before_order_and_limit(tree, columns_of)
    groupings = _group_by_ordinals(tree) if group_all else []
    orderings = _order_by_ordinals(tree) if order_all else []
    if len(groupings) == len(group_all) <= 1 and len(orderings) == len(order_all) <= 1 and \
            not (qualify or pivot or lateral):
        # each clause replaced in the text: everything else reaches Sail as written (names of columns too)
        edits = [(start, end, f"GROUP BY {', '.join(map(str, ordinals))}" if ordinals else "")
                 for (start, end), ordinals in zip(group_all, groupings, strict=True)]
        edits += [(start, end, ", ".join(f"{i} {words}".rstrip() for i in range(1, count + 1)))
                  for (start, end, words), count in zip(order_all, orderings, strict=True)]
        for start, end, text in sorted(edits, reverse=True):
            sql = sql[:start] + text + sql[end + 1:]
        return sql
    changed |= bool(groupings) or bool(orderings)
    if pivot:
        changed |= _respell_pivots(tree)
    if lateral:
        changed |= _inline_lateral_aliases(tree, columns_of)
    return tree.sql(dialect=WRITE) if changed else None


# What SQL applies after QUALIFY's filter: DISTINCT, then ORDER BY, LIMIT and OFFSET.
AFTER_QUALIFY = ("distinct", "order", "limit", "offset")


def _filter_before_order_and_limit(tree: exp.Expr, columns_of: ColumnsOf) -> None:
    """Each SELECT with QUALIFY as a subquery filtered on its window column, as sqlglot writes it, with two things
    sqlglot's form got wrong. QUALIFY filters before DISTINCT, ORDER BY, LIMIT and OFFSET apply, but they stayed
    inside the subquery, before its filter (``… QUALIFY row_number() … = 1 ORDER BY agency LIMIT 3`` kept 3 rows, then
    filtered them to 1): they move to the outer query, and an ordering by anything but an output column (or an
    ordinal) is carried out of the subquery as a hidden column. And ``SELECT *`` answered the window column too
    (``x.*, y.c`` over a join answered ``c`` twice besides): stars over tables whose columns are known are written
    out first (``_expand_stars``), and names answered twice are told apart inside the subquery. The SELECT is
    replaced in ``tree`` (the root stays the root)."""
    from sqlglot.transforms import eliminate_qualify

    ctes = {cte.alias_or_name.lower(): cte.this for cte in tree.find_all(exp.CTE)}
    for select in list(tree.find_all(exp.Select)):
        if not select.args.get("qualify"):
            continue
        _expand_stars(select, columns_of, ctes)
        renamed = _unique_names(select)
        after = {key: select.args.get(key) for key in AFTER_QUALIFY}
        for key in AFTER_QUALIFY:
            select.set(key, None)
        order = after["order"]
        outputs = {s.alias_or_name.lower() for s in select.selects}
        hidden: list[str] = []
        for ordered in order.expressions if order is not None else []:
            key = ordered.this
            if select.is_star:  # the subquery's columns are the outer query's: only qualifiers are dropped
                for column in key.find_all(exp.Column):
                    column.set("table", None)
            elif not ((isinstance(key, exp.Column) and not key.table and key.name.lower() in outputs) or
                      (isinstance(key, exp.Literal) and key.is_int)):
                name = find_new_name(outputs | set(hidden), f"_o{len(hidden)}")
                select.append("expressions", exp.alias_(key.copy(), name))
                ordered.set("this", exp.column(name))
                hidden.append(name)
        outer = eliminate_qualify(select.copy())
        assert isinstance(outer, exp.Select)  # a SELECT with QUALIFY always becomes one
        outer.set("expressions", [exp.alias_(e, renamed[e.alias_or_name], quoted=True) if e.alias_or_name in renamed
                                  else e for e in outer.selects if e.alias_or_name not in hidden])
        for key, value in after.items():
            if value is not None:
                outer.set(key, value)
        if select is tree:  # the root: its args take the outer query's (the caller keeps its reference)
            for key in list(select.args):
                select.set(key, None)
            for key, value in outer.args.items():
                select.set(key, value)
        else:
            select.replace(outer)


def _expand_stars(select: exp.Select, columns_of: ColumnsOf, ctes: dict[str, exp.Expr]) -> None:
    """Each ``*`` and ``t.*`` of ``select`` as the columns it stands for, in Spark's order, where every source's
    columns are known here (``_columns_of_source``): ``*`` is each source's columns in turn (the joins' order), ``t.*``
    the columns of the source named or aliased ``t``; one join USING answers its keys first, once (an inner or left
    join: the left side's). Left as it is (the window column then shows): a ``*`` over a NATURAL, RIGHT or FULL join
    USING, several joins with one USING, a LEFT SEMI or ANTI join; ``* EXCEPT``, LATERAL VIEW, PIVOT; two sources
    answering to one name; a source whose columns are not known."""
    if not select.is_star or select.args.get("from_") is None or select.args.get("laterals"):
        return
    if any(s.args.get(k) for s in select.find_all(exp.Star) for k in ("except_", "except", "replace", "rename")):
        return
    sources: dict[str, list[str]] = {}  # the name each source is referred to by: its columns
    written: dict[str, str] = {}  # that name: the source's schema, for a star qualified with it (``s.t.*``)
    joins = select.args.get("joins") or []
    for source in [select.args["from_"].this, *[j.this for j in joins]]:
        columns = _columns_of_source(source, columns_of, ctes)
        key = source.alias_or_name.lower()
        if not columns or key in sources or source.args.get("pivots"):
            return
        sources[key] = columns
        written[key] = source.db.lower() if isinstance(source, exp.Table) and not source.alias else ""
    using = [j for j in joins if j.args.get("using")]
    plain = not any(j.method or j.kind in ("SEMI", "ANTI") for j in joins) and \
        (not using or (len(joins) == 1 and joins[0].side not in ("RIGHT", "FULL")))
    keys = [k.name for k in using[0].args["using"]] if using else []
    projections: list[exp.Expr] = []
    for projection in select.selects:
        if isinstance(projection, exp.Star):
            if not plain:
                return
            # USING's keys first, once (the left side's: an inner or left join), then each side's other columns
            named = [("", key) for key in keys] + [(name, column) for name, columns in sources.items()
                                                   for column in columns if column.lower() not in
                                                   {k.lower() for k in keys}]
        elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            table = projection.table.lower()
            if table not in sources or projection.args.get("catalog") or \
                    (projection.db and projection.db.lower() != written[table]):
                return
            named = [(table, column) for column in sources[table]]
        else:
            projections.append(projection)
            continue
        qualify = len(sources) > 1
        projections += [exp.column(column, table=name if qualify and name else None, quoted=True)
                        for name, column in named]
    select.set("expressions", projections)


def _columns_of_source(source: exp.Expr, columns_of: ColumnsOf, ctes: dict[str, exp.Expr]) -> list[str] | None:
    """The columns a FROM or JOIN source answers, in order: those its alias names (``AS s(p, q)``); else a CTE's or
    a subquery's own projections (a UNION's first query's) when all are named, without a ``*`` and none twice; a
    table's from the catalog. None when they are not known here."""
    alias = source.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return [c.name for c in alias.columns]
    if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
        if not source.db and source.name.lower() in ctes:
            return _named_projections(ctes[source.name.lower()])
        return columns_of(".".join(p.name for p in source.parts))
    if isinstance(source, exp.Subquery) and source.alias:
        return _named_projections(source.this)
    return None


def _named_projections(query: exp.Expr) -> list[str] | None:
    while isinstance(query, exp.SetOperation):  # a UNION's columns are named by its first query
        query = query.this
    if not isinstance(query, exp.Select) or query.is_star or not all(s.alias_or_name for s in query.selects):
        return None
    names = [s.alias_or_name for s in query.selects]
    return names if len({n.lower() for n in names}) == len(names) else None


def _unique_names(select: exp.Select) -> dict[str, str]:
    """Projections answering a name another one answers too (``x.id`` and ``y.id``) get names of their own, so the
    query around them can tell them apart; returns each new name with the name it stands for."""
    seen: dict[str, int] = {}
    for projection in select.selects:
        seen[projection.alias_or_name.lower()] = seen.get(projection.alias_or_name.lower(), 0) + 1
    taken = set(seen)
    renamed: dict[str, str] = {}
    for i, projection in enumerate(select.selects):
        name = projection.alias_or_name
        if seen.get(name.lower(), 0) > 1:
            unique = find_new_name(taken, f"_c{i}")
            taken.add(unique)
            renamed[unique] = name
            target = projection.this if isinstance(projection, exp.Alias) else projection
            projection.replace(exp.alias_(target.copy(), unique))
    return renamed


def _order_by_ordinals(tree: exp.Expr) -> list[int]:
    """Each ``ORDER BY ALL`` as an ordering by every projection in turn (``1 DESC, 2 DESC…``), as Databricks defines
    it; returns the number of projections of each clause replaced. A ``*`` projection is left to Sail."""
    done = []
    for node in list(tree.find_all(exp.Select, exp.SetOperation)):
        order = node.args.get("order")
        if order is None or len(order.expressions) != 1:
            continue
        only = order.expressions[0]
        if not (isinstance(only.this, exp.Var) and only.this.name.upper() == "ALL") or \
                any(isinstance(s, exp.Star) or s.is_star for s in node.selects):
            continue
        count = len(node.selects)
        order.set("expressions", [exp.Ordered(this=exp.Literal.number(i), desc=only.args.get("desc"),
                                              nulls_first=only.args.get("nulls_first")) for i in range(1, count + 1)])
        done.append(count)
    return done


def _group_by_ordinals(tree: exp.Expr) -> list[list[int]]:
    """Each ``GROUP BY ALL`` as ``GROUP BY <ordinals>`` of the projections with neither an aggregate nor a window
    function of their own SELECT (Spark groups by ordinals); with none, no GROUP BY (a global aggregate). A ``*``
    projection is left to Sail. Returns the ordinals of each clause replaced."""
    done = []
    for select in list(tree.find_all(exp.Select)):
        group = select.args.get("group")
        if group is None or not group.args.get("all") or any(isinstance(s, exp.Star) or s.is_star
                                                                for s in select.selects):
            continue
        ordinals = [i for i, projection in enumerate(select.selects, 1)
                    if not any(node.find_ancestor(exp.Select) is select  # not one of a subquery's
                               for node in projection.find_all(exp.AggFunc, exp.Window))]
        select.set("group", exp.Group(expressions=[exp.Literal.number(i) for i in ordinals]) if ordinals else None)
        done.append(ordinals)
    return done


def _respell_pivots(tree: exp.Expr) -> bool:
    changed = False
    for node in tree.find_all(exp.Pivot):
        if node.args.get("unpivot"):
            continue  # Sail parses UNPIVOT as Spark writes it
        for field in node.args.get("fields") or []:
            if not isinstance(field, exp.In) or isinstance(field.this, exp.Paren):
                continue
            field.set("this", exp.Paren(this=field.this))
            values = []
            for value in field.expressions:
                if isinstance(value, exp.PivotAlias):
                    value.set("this", exp.Paren(this=value.this))
                else:
                    value = exp.Paren(this=value)
                values.append(value)
            field.set("expressions", values)
            changed = True
    return changed


def _source_columns(select: exp.Select, columns_of: ColumnsOf) -> set[str] | None:
    """Every column name the SELECT's FROM and JOINs provide, or None when one of them is unknown."""
    sources = []
    if select.args.get("from_") is not None:
        sources.append(select.args["from_"].this)
    sources.extend(join.this for join in select.args.get("joins") or [])
    names: set[str] = set()
    for source in sources:
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
            found = columns_of(".".join(p.name for p in source.parts))
            if found is None:
                return None
            names.update(c.lower() for c in found)
        elif isinstance(source, exp.Subquery) and isinstance(source.this, exp.Select):
            selected = [s.alias_or_name for s in source.this.selects]
            if "*" in selected:
                return None
            names.update(s.lower() for s in selected)
        else:
            return None
    return names


def _inline_lateral_aliases(tree: exp.Expr, columns_of: ColumnsOf) -> bool:
    changed = False
    for select in list(tree.find_all(exp.Select)):
        known = _source_columns(select, columns_of)
        if known is None:
            continue
        defined: dict[str, exp.Expression] = {}
        for projection in select.selects:
            for column in list(projection.find_all(exp.Column)):
                name = column.name.lower()
                if column.table or name in known or name not in defined or column.find_ancestor(exp.Select) is not select:
                    continue
                column.replace(exp.Paren(this=defined[name].copy()))
                changed = True
            if isinstance(projection, exp.Alias):
                defined[projection.alias.lower()] = projection.this
    return changed


@functools.lru_cache(maxsize=64)
def _parsed(sql: str) -> Any:
    """``sql`` read by sqlglot once for the INSERT readers below (an INSERT is read by several of them on its way);
    None when it cannot be read. The tree is shared: the readers never change it."""
    try:
        return sqlglot.parse_one(sql, read=READ)
    except ParseError:
        return None


def fill_insert_columns(sql: str, columns_of: ColumnsOf) -> str | None:
    """``INSERT INTO|OVERWRITE t (a, c) <rows>`` naming some of ``t``'s columns, or naming them in another order or
    case, as an INSERT of every column in the table's order (the others NULL), which Sail runs: it refuses a column
    list shorter than the table ("input schema for INSERT has 2 fields, but table schema has 6 fields"), where Spark
    fills the rest with NULL (SQLAlchemy's ``insert()`` names only the columns given). The rows are kept as written.
    None to run ``sql`` as it is."""
    toks = sqltext.tokens(sql)
    if not any(t.token_type == TokenType.L_PAREN for t in toks[:8]):  # no column list right after the name
        return None
    tree = _parsed(sql)
    if tree is None:
        return None
    if not isinstance(tree, exp.Insert) or not isinstance(tree.this, exp.Schema) or \
            {key for key, value in tree.args.items() if value not in (None, False)} - {"overwrite"} != \
            {"this", "expression"}:
        return None  # BY NAME, a PARTITION clause, REPLACE …: as written
    table = tree.this.this
    listed = [column.name for column in tree.this.expressions]
    columns = columns_of(".".join(part.name for part in table.parts)) if isinstance(table, exp.Table) else None
    if columns is None or listed == columns:  # (spelled in another case: Sail would not match the names)
        return None
    given = {c.lower() for c in listed}
    text = sqltext.insert_text(sql)
    if not given <= {c.lower() for c in columns} or len(given) != len(listed) or text is None:
        return None  # Sail names the unknown or repeated column
    # the rows as written (sqlglot would write some functions as others), their columns named as listed
    spelled = {c.lower(): c for c in listed}  # a quoted name is matched in its case: the list's spelling
    projection = ", ".join(f"{sqltext.quote_path(spelled[c.lower()], '`')} AS {sqltext.quote_path(c, '`')}"
                           if c.lower() in given else f"NULL AS {sqltext.quote_path(c, '`')}" for c in columns)
    aliases = ", ".join(sqltext.quote_path(c, "`") for c in listed)
    verb = "INSERT OVERWRITE" if tree.args.get("overwrite") else "INSERT INTO"
    return f"{verb} {table.sql(dialect=WRITE)} SELECT {projection} FROM ({text.query}) AS inserted({aliases})"


@dataclass(frozen=True)
class InsertedLiterals:
    """An ``INSERT INTO t [(columns)] VALUES (…), …`` of literals: the column list if one is given, and each
    value's type as Delta names it (``"integer"``, ``"decimal(2,1)"``, ``"string"``, ``"void"`` for NULL), None
    for a value whose type the text alone does not say (an expression)."""

    columns: tuple[str, ...] | None
    rows: tuple[tuple[str | None, ...], ...]


# the types a CAST (or a typed literal: DATE '…', 10L, 1.5D) names, as Delta names them
_CAST_TYPES = {exp.DataType.Type.TINYINT: "byte", exp.DataType.Type.SMALLINT: "short",
               exp.DataType.Type.INT: "integer", exp.DataType.Type.BIGINT: "long", exp.DataType.Type.FLOAT: "float",
               exp.DataType.Type.DOUBLE: "double", exp.DataType.Type.DATE: "date",
               exp.DataType.Type.TIMESTAMP: "timestamp", exp.DataType.Type.TIMESTAMPTZ: "timestamp",
               exp.DataType.Type.TIMESTAMPLTZ: "timestamp",
               exp.DataType.Type.TIMESTAMPNTZ: "timestamp_ntz", exp.DataType.Type.BOOLEAN: "boolean",
               exp.DataType.Type.TEXT: "string", exp.DataType.Type.VARCHAR: "string", exp.DataType.Type.CHAR: "string",
               exp.DataType.Type.BINARY: "binary"}


def _literal_type(value: exp.Expression) -> str | None:
    if isinstance(value, exp.Neg):
        value = value.this
        if not (isinstance(value, exp.Literal) and not value.is_string):
            return None
    if isinstance(value, exp.Null):
        return "void"
    if isinstance(value, exp.Boolean):
        return "boolean"
    if isinstance(value, exp.Literal):
        if value.is_string:
            return "string"
        text = str(value.this)
        if re.fullmatch(r"\d{1,19}", text):  # longer: a DECIMAL, or an error the engine names
            return "integer" if int(text) < 2**31 else "long" if int(text) < 2**63 else None
        decimal = re.fullmatch(r"(\d*)\.(\d*)", text)
        if decimal:  # 2.5 is DECIMAL(2,1), as Spark types it
            digits = (decimal.group(1).lstrip("0") + decimal.group(2)) or "0"
            return f"decimal({max(len(digits), len(decimal.group(2)), 1)},{len(decimal.group(2))})"
        return "double"  # 1e3
    if isinstance(value, exp.Cast) and isinstance(value.to, exp.DataType):
        if value.to.this == exp.DataType.Type.DECIMAL:
            params = [str(e.this.this) for e in value.to.expressions
                      if isinstance(e, exp.DataTypeParam) and isinstance(e.this, exp.Literal)]
            if not all(re.fullmatch(r"\d{1,2}", param) for param in params) or len(params) > 2:
                return None  # DECIMAL(10.5, 2): the engine names what is wrong
            return f"decimal({params[0]},{params[1] if len(params) > 1 else 0})" if params else "decimal(10,0)"
        return _CAST_TYPES.get(value.to.this)
    return None  # an expression, or X'…'/0x… (sqlglot reads 0x1F as binary, Spark as a column name)


def inserted_literals(sql: str) -> InsertedLiterals | None:
    """The literal rows of ``INSERT INTO t [(columns)] VALUES (…), …``, or None for any other text (a query,
    ``BY NAME``, a PARTITION clause, OVERWRITE, REPLACE)."""
    if "VALUES" not in sql.upper():
        return None
    tree = _parsed(sql)
    if tree is None:
        return None
    if not isinstance(tree, exp.Insert) or not isinstance(tree.expression, exp.Values) or \
            {key for key, value in tree.args.items() if value not in (None, False)} != {"this", "expression"}:
        return None
    target = tree.this
    columns = tuple(c.name for c in target.expressions) if isinstance(target, exp.Schema) else None
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table) or table.args.get("partition") is not None:
        return None
    rows = tuple(tuple(_literal_type(value) for value in row.expressions)
                 for row in tree.expression.expressions if isinstance(row, exp.Tuple))
    return InsertedLiterals(columns, rows) if len(rows) == len(tree.expression.expressions) else None


@functools.lru_cache(maxsize=64)  # a DML statement asks twice: the writable check, then the DML path
def dml_target(sql: str) -> str | None:
    """The table an ``INSERT``/``DELETE``/``UPDATE``/``MERGE``/``TRUNCATE TABLE``/``DROP TABLE``/``ALTER TABLE``
    changes, as written, or None."""
    try:
        tree = sqlglot.parse_one(sql, read=READ)
    except ParseError:
        return None
    target = tree.this if isinstance(tree, exp.Insert | exp.Delete | exp.Update | exp.Merge) else None
    if isinstance(target, exp.Schema):  # INSERT INTO t (a, b) …
        target = target.this
    if isinstance(tree, exp.TruncateTable) and tree.expressions:
        target = tree.expressions[0]
    if isinstance(tree, exp.Drop) and tree.args.get("kind") == "TABLE" and tree.args.get("tables"):
        target = tree.args["tables"][0]
    if isinstance(tree, exp.Alter) and tree.args.get("kind") == "TABLE":
        target = tree.this
    if not isinstance(target, exp.Table):
        return None
    return ".".join(sqltext.quote_path(part.name, "`") for part in target.parts)


_CATALOG_OBJECTS = frozenset({"SCHEMA", "DATABASE", "TABLE", "VIEW", "CATALOG"})


def created_names(sql: str) -> list[str]:
    """The parts of the name a ``CREATE SCHEMA|DATABASE|TABLE|VIEW|CATALOG`` statement gives the catalog, unquoted
    (``cat.`my-schema``` gives ``["cat", "my-schema"]``); empty for any other statement or a temporary view."""
    try:
        tree = sqlglot.parse_one(sql, read=READ)
    except ParseError:
        return []
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind") or "").upper() not in _CATALOG_OBJECTS:
        return []
    properties = tree.args.get("properties")
    if properties is not None and properties.find(exp.TemporaryProperty) is not None:
        return []
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    if isinstance(target, exp.Table):
        return [part.name for part in target.parts]
    return [target.name] if isinstance(target, exp.Identifier) else []


@dataclass(frozen=True)
class ColumnListTable:
    """What ``CREATE … TABLE name (columns) …`` makes, as a query: no rows, the listed columns' names and types."""

    query: str  # SELECT CAST(NULL AS type) AS `column`, … WHERE false
    partition_by: tuple[str, ...]
    not_null: tuple[str, ...]  # columns declared NOT NULL, which a query's columns cannot carry
    provider: str | None = None  # USING's, lower case
    has_location: bool = False


def column_list_table(sql: str) -> ColumnListTable | None:
    """The table a ``CREATE [OR REPLACE] TABLE name (columns) …`` statement declares, or None when the text has no
    column list sqlglot reads (an unknown type is a parse error there). Table constraints (``CONSTRAINT … PRIMARY
    KEY``) are left out: Databricks keeps them as information only."""
    try:
        tree = sqlglot.parse_one(sql, read=READ)
    except ParseError:
        return None
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema) or tree.expression is not None:
        return None
    items, not_null = [], []
    for column in tree.this.expressions:
        if not isinstance(column, exp.ColumnDef):
            continue
        kind = column.args.get("kind")
        if not isinstance(kind, exp.DataType):
            return None
        items.append(f"CAST(NULL AS {kind.sql(dialect=WRITE)}) AS {sqltext.quote_path(column.name, '`')}")
        if any(isinstance(c.args.get("kind"), exp.NotNullColumnConstraint) for c in column.args.get("constraints") or []):
            not_null.append(column.name)
    if not items:
        return None
    partitioned = tree.find(exp.PartitionedByProperty)
    partition_by = tuple(part.name for part in partitioned.this.expressions) \
        if partitioned is not None and isinstance(partitioned.this, exp.Schema) else ()
    using = tree.find(exp.FileFormatProperty)
    return ColumnListTable("SELECT " + ", ".join(items) + " WHERE false", partition_by, tuple(not_null),
                           using.this.name.lower() if using is not None else None,
                           tree.find(exp.LocationProperty) is not None)


@dataclass(frozen=True)
class InsertRows:
    """An ``INSERT INTO t [BY NAME] REPLACE WHERE condition query`` or ``INSERT OVERWRITE [TABLE] t [PARTITION (p,
    …)] [BY NAME] query``, its parts as Sail's Spark SQL writes them."""

    target: str
    query: str
    by_name: bool
    condition: str | None  # REPLACE WHERE's; None for INSERT OVERWRITE
    static_partition: bool = False  # PARTITION (p = value): rows for one named partition
    replace_on: tuple[str, ...] = ()  # REPLACE ON (t.c <=> s.c AND …): the columns whose values the rows replace
    columns: tuple[str, ...] | None = None  # INSERT … t (a, b) …: the columns the rows are written to, in order


def insert_rows(sql: str) -> InsertRows | None:
    """The parts of an INSERT that replaces rows (Delta's ``REPLACE WHERE``, which Sail does not parse, or ``INSERT
    OVERWRITE``), or None for any other text."""
    if not any(t.token_type in (TokenType.REPLACE, TokenType.OVERWRITE) for t in sqltext.tokens(sql)[:12]):
        return None
    tree = _parsed(sql)
    if tree is None:
        return None
    if not isinstance(tree, exp.Insert) or not isinstance(_target_table(tree), exp.Table):
        return None
    where, overwrite = tree.args.get("where"), bool(tree.args.get("overwrite"))
    if (where is None) == (not overwrite):  # exactly one of the two forms
        return None
    return _insert_parts(tree, sql, where is not None)


def appended_rows(sql: str) -> InsertRows | None:
    """The parts of a plain ``INSERT INTO [TABLE] t [BY NAME] query`` (no column list, PARTITION clause or REPLACE),
    or None for any other text."""
    tree = _parsed(sql)
    if tree is None:
        return None
    if not isinstance(tree, exp.Insert) or not isinstance(_target_table(tree), exp.Table) or \
            tree.args.get("overwrite") or tree.args.get("where") is not None or \
            _target_table(tree).args.get("partition") is not None:
        return None
    return _insert_parts(tree, sql, False)


def _target_table(tree: exp.Insert) -> Any:
    """The table an INSERT writes (an ``exp.Table`` unless the text is odd), with or without a column list."""
    return tree.this.this if isinstance(tree.this, exp.Schema) else tree.this


def _insert_parts(tree: exp.Insert, sql: str, replaces: bool) -> InsertRows | None:
    """The parts of a parsed INSERT; its query and condition as written (``sqltext.insert_text``)."""
    text = sqltext.insert_text(sql)
    if text is None or (replaces and text.condition is None):
        return None
    query, condition = text.query, text.condition
    table = _target_table(tree)
    columns = tuple(c.name for c in tree.this.expressions) if isinstance(tree.this, exp.Schema) else None
    partition = table.args.get("partition")
    static = partition is not None and any(not isinstance(e, exp.Column) for e in partition.expressions)
    return InsertRows(".".join(sqltext.quote_path(part.name, "`") for part in table.parts), query,
                      bool(tree.args.get("by_name")), condition, static, columns=columns)


def _closing(toks: list, at: int) -> int:
    """The index of the parenthesis that closes the one at ``at``, or -1."""
    depth = 0
    for i in range(at, len(toks)):
        if toks[i].token_type == TokenType.L_PAREN:
            depth += 1
        elif toks[i].token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                return i
    return -1


def replace_on(sql: str) -> InsertRows | None:
    """``INSERT INTO [TABLE] t [AS] a REPLACE ON (a.c <=> s.c [AND …]) (query) [AS] s``, Databricks' SQL for "replace
    the target's rows whose columns ``c`` match a row of the query" (dbt-databricks' ``insert_overwrite`` strategy
    writes it for a partitioned model), read when its condition is only such null-safe column matches; else None."""
    toks = list(sqltext.tokens(sql))
    while toks and toks[-1].token_type == TokenType.SEMICOLON:
        toks.pop()
    upper = [t.text.upper() for t in toks]
    i = 3 if upper[:3] == ["INSERT", "INTO", "TABLE"] else 2 if upper[:2] == ["INSERT", "INTO"] else 0
    if not i or "REPLACE" not in upper[i:i + 12]:
        return None
    names = [toks[i].text]
    i += 1
    while i + 1 < len(toks) and toks[i].token_type == TokenType.DOT:
        names.append(toks[i + 1].text)
        i += 2
    if upper[i:i + 1] == ["AS"]:
        i += 1
    if i + 3 >= len(toks) or upper[i + 1:i + 3] != ["REPLACE", "ON"] or toks[i + 3].token_type != TokenType.L_PAREN:
        return None
    target_alias, open_on = toks[i].text.lower(), i + 3
    close_on = _closing(toks, open_on)
    if close_on < 0 or close_on + 1 >= len(toks) or toks[close_on + 1].token_type != TokenType.L_PAREN:
        return None
    close_query = _closing(toks, close_on + 1)
    rest = upper[close_query + 1:] if close_query > 0 else ["?"]
    if rest[:1] == ["AS"]:
        rest = rest[1:]
    if len(rest) != 1:
        return None
    source_alias = toks[-1].text.lower()
    columns: list[str] = []
    for conjunct in _split_and(toks[open_on + 1:close_on]):
        texts = [t.text for t in conjunct]
        kinds = [t.token_type for t in conjunct]
        if len(conjunct) != 7 or kinds[1] != TokenType.DOT or kinds[3] != TokenType.NULLSAFE_EQ or \
                kinds[5] != TokenType.DOT or texts[2].lower() != texts[6].lower() or \
                {texts[0].lower(), texts[4].lower()} != {target_alias, source_alias}:
            return None
        columns.append(texts[2])
    if not columns:
        return None
    query = sql[toks[close_on + 1].end + 1:toks[close_query].start]
    return InsertRows(".".join(sqltext.quote_path(name, "`") for name in names), query, False, None,
                      replace_on=tuple(columns))


def _split_and(toks: list) -> list[list]:
    parts: list[list] = [[]]
    for tok in toks:
        if tok.token_type == TokenType.AND:
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


# Functions whose value differs between two runs of the same query (a dynamic partition overwrite reads its rows
# twice: their partitions, then the write). The random ones are the same in both runs when given a seed.
VOLATILE_FUNCTIONS = frozenset({"uuid", "current_timestamp", "now", "current_date", "curdate", "current_time",
                                "localtimestamp", "unix_timestamp", "monotonically_increasing_id",
                                "spark_partition_id", "input_file_name"})
SEEDED_FUNCTIONS = frozenset({"rand", "random", "randn", "randstr", "uniform", "shuffle"})


def volatile_function(sql: str) -> str | None:
    """The first function ``sql`` calls whose value differs between two runs of it (a random one without a seed),
    or None."""
    toks = sqltext.tokens(sql)
    for i, tok in enumerate(toks):
        name = tok.text.lower()
        if name in VOLATILE_FUNCTIONS:
            return name
        if name in SEEDED_FUNCTIONS and [t.token_type for t in toks[i + 1:i + 3]] == [TokenType.L_PAREN,
                                                                                       TokenType.R_PAREN]:
            return name
    return None


def has_subquery(condition: str) -> bool:
    return any(t.token_type == TokenType.SELECT for t in sqltext.tokens(condition))



def read_tables(sql: str) -> list[tuple[str, str]] | None:
    """``(table name as written, its alias or "")`` for every table a query reads (not the table an INSERT or CTAS
    writes), or None when it reads anything else (a subquery, a CTE, a table function, VALUES, a PIVOT, an alias
    renaming a table's columns), has several scopes (a UNION) or does not parse: then the columns in scope cannot be
    told from the catalog alone."""
    try:
        tree = sqlglot.parse_one(sql, read=READ)
    except ParseError:
        return None
    if tree.find(exp.With, exp.Subquery, exp.Lateral, exp.Unnest, exp.SetOperation, exp.Pivot, exp.Values) is not None:
        return None  # columns the catalog does not hold, or (a UNION) several scopes
    targets = {id(t) for t in tree.this.find_all(exp.Table)} if isinstance(tree, (exp.Insert, exp.Create)) else set()
    tables: list[tuple[str, str]] = []
    for table in tree.find_all(exp.Table):
        if id(table) in targets:  # what an INSERT or CTAS writes is not in its query's scope
            continue
        alias = table.args.get("alias")
        if not isinstance(table.this, exp.Identifier) or (isinstance(alias, exp.TableAlias) and alias.columns):
            return None
        tables.append((".".join(p.name for p in table.parts), table.alias))
    return tables
