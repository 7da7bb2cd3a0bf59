"""Parameters of a statement that is not a query, bound into its text.

Sail (0.7.2) binds parameter markers in queries only: an ``INSERT`` or a CTAS with parameters is refused ("command
with parameters") and ``UPDATE``/``DELETE``/``MERGE`` fail on an unbound placeholder. A Databricks warehouse binds
them in every statement, and the SQL connector, SQLAlchemy (``insert()``, ``executemany``) and pandas' ``to_sql``
send them there. So for those statements each marker (``:name``, ``?``) is replaced by its value written as a SQL
literal in brackets, as the marker would have bound it: the values are literals and casts of literals (how PySpark,
Databricks Connect and the SQL warehouse send typed parameters); anything else is refused by name.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlglot.tokens import TokenType

from odoolake.workspace.catalog.columns import type_text
from odoolake.workspace.engine import sqltext
from odoolake.workspace.engine.delta_writes import delta_type

# Value tokens that, right before a colon, make it Databricks' JSON path (``raw:field``), not a marker.
_VALUE_END = frozenset({TokenType.VAR, TokenType.IDENTIFIER, TokenType.R_PAREN, TokenType.R_BRACKET,
                        TokenType.STRING, TokenType.NUMBER})
_EPOCH = dt.datetime(1970, 1, 1)
# The literal kinds written as a cast of their text or digits, to keep their type.
_CAST_TYPES = {"byte": "TINYINT", "short": "SMALLINT", "long": "BIGINT", "float": "FLOAT", "double": "DOUBLE"}
# The types a parameter may be cast to here: Delta's own (``delta_writes.delta_type``), no intervals or UDTs.
_TYPED_KINDS = frozenset({"null", "binary", "boolean", "byte", "short", "integer", "long", "float", "double",
                          "decimal", "string", "char", "var_char", "date", "timestamp", "timestamp_ntz"})


class UnboundableParameter(ValueError):
    """A parameter whose value cannot be written into the statement's text (named in the message)."""


def type_sql(data_type: Any, what: str) -> str:
    """A Spark Connect ``DataType`` as SQL (``int``, ``decimal(10,2)``; char and varchar as string)."""
    kind = data_type.WhichOneof("kind")
    if kind not in _TYPED_KINDS:
        raise UnboundableParameter(f"{what}: a value of type {kind} cannot be a parameter of this statement "
                                   "locally.")
    return type_text(delta_type(data_type))


def literal_sql(expression: Any, what: str) -> str:
    """A parameter's value (a literal, or a cast of one) as SQL text."""
    try:
        return _literal_sql(expression, what)
    except (ArithmeticError, ValueError) as exc:  # a NaN decimal, a date past year 9999 …
        if isinstance(exc, UnboundableParameter):
            raise
        raise UnboundableParameter(f"{what}: the value cannot be written as a SQL literal ({exc}).") from None


def _literal_sql(expression: Any, what: str) -> str:
    kind = expression.WhichOneof("expr_type")
    if kind == "cast":
        cast = expression.cast
        target = cast.type_str if cast.WhichOneof("cast_to_type") == "type_str" else type_sql(cast.type, what)
        return f"CAST({_literal_sql(cast.expr, what)} AS {target})"
    if kind != "literal":
        raise UnboundableParameter(f"{what}: only a value can be a parameter of a statement that is not a query "
                                   f"(got an expression of kind {kind}).")
    literal = expression.literal
    value_kind = literal.WhichOneof("literal_type")
    if value_kind is None:
        raise UnboundableParameter(f"{what}: the parameter has no value.")
    value: Any = getattr(literal, value_kind)
    if value_kind == "null":
        null_type = type_sql(literal.null, what)
        return "NULL" if null_type == "void" else f"CAST(NULL AS {null_type})"
    if value_kind == "boolean":
        return "TRUE" if value else "FALSE"
    if value_kind == "integer":
        return str(value)
    if value_kind in ("byte", "short", "long"):
        return f"CAST({value} AS {_CAST_TYPES[value_kind]})"
    if value_kind in ("float", "double"):  # through text: NaN and the infinities have no literal
        return f"CAST({sqltext.sql_literal(repr(value).replace('nan', 'NaN').replace('inf', 'Infinity'))} AS " \
               f"{_CAST_TYPES[value_kind]})"
    if value_kind == "decimal":  # typed by its own digits, as the engine binds one in a query: PySpark sends
        exact = Decimal(value.value)  # decimal(10,0) for any Decimal, and the value's text is what counts
        _, digits, exponent = exact.as_tuple()
        scale = max(0, -int(exponent))
        precision = max(len(digits) + max(0, int(exponent)), scale, 1)
        return f"CAST({sqltext.sql_literal(str(exact))} AS DECIMAL({precision},{scale}))"
    if value_kind == "string":
        return sqltext.sql_literal(value)
    if value_kind == "binary":
        return f"X'{value.hex()}'"
    if value_kind == "date":
        return f"DATE '{(_EPOCH.date() + dt.timedelta(days=value)).isoformat()}'"
    if value_kind == "timestamp":  # an instant: microseconds since the epoch, UTC
        return f"timestamp_micros({value})"
    if value_kind == "timestamp_ntz":
        return f"TIMESTAMP_NTZ '{(_EPOCH + dt.timedelta(microseconds=value)).isoformat(sep=' ')}'"
    raise UnboundableParameter(f"{what}: a value of type {value_kind} cannot be a parameter of this statement "
                               "locally.")


def markers(sql: str) -> list[tuple[int, int, str | None]]:
    """Each parameter marker as (start, end inclusive, name; None for ``?``), in order."""
    toks = sqltext.tokens(sql)
    found: list[tuple[int, int, str | None]] = []
    for i, tok in enumerate(toks):
        if tok.token_type == TokenType.PLACEHOLDER and tok.text == "?":
            found.append((tok.start, tok.end, None))
            continue
        if tok.token_type != TokenType.COLON or i + 1 == len(toks):
            continue
        name = toks[i + 1]
        if name.start != tok.end + 1 or not name.text.isidentifier():
            continue
        if i >= 1 and toks[i - 1].token_type in _VALUE_END and toks[i - 1].end + 1 == tok.start:
            continue  # raw:field
        found.append((tok.start, name.end, name.text))
    return found


def bind(sql: str, named: dict[str, Any], positional: list[Any]) -> str:
    """``sql`` with its markers replaced by the values (``Expression`` messages) they name; a marker without a value
    stays, for the engine to report."""
    out = sql
    unnamed = iter(positional)
    edits = []
    for start, end, name in markers(sql):
        if name is None:
            value = next(unnamed, None)
            what = "the positional parameter"
        else:
            value = named.get(name)
            what = f"parameter :{name}"
        if value is not None:
            edits.append((start, end, f"({literal_sql(value, what)})"))
    for start, end, text in reversed(edits):
        out = out[:start] + text + out[end + 1:]
    return out


def bind_arguments(holder: Any) -> None:
    """Bind a ``SQL`` relation's or ``SqlCommand``'s arguments into its text (``query`` or ``sql``) when the text is
    not a query, and clear them; a query keeps them (the engine binds those itself)."""
    field = "query" if "query" in holder.DESCRIPTOR.fields_by_name else "sql"
    text = getattr(holder, field)
    if not text or sqltext.is_query(text):
        return
    named = dict(holder.named_arguments)
    positional = list(holder.pos_arguments)
    for name, legacy in holder.args.items():  # PySpark before 4.0: literals, not expressions
        named.setdefault(name, _as_expression(legacy))
    positional = positional or [_as_expression(legacy) for legacy in holder.pos_args]
    if not named and not positional:
        return
    setattr(holder, field, bind(text, named, positional))
    for name in ("args", "pos_args", "named_arguments", "pos_arguments"):
        holder.ClearField(name)


def _as_expression(literal: Any) -> Any:
    expression_type = literal.DESCRIPTOR.containing_type  # Expression.Literal is nested in Expression
    from google.protobuf import message_factory

    expression: Any = message_factory.GetMessageClass(expression_type)()
    expression.literal.CopyFrom(literal)
    return expression
