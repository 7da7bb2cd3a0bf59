"""What the engine needs to know about a SQL text before Sail sees it, read from sqlglot's Databricks tokens.

Tokens, not regular expressions over the raw text: string literals, quoted names and comments are told apart, and
every position is exact, so an edit (a ``dbfs:/`` path made local, ``LOCATION`` added to a managed ``CREATE TABLE``)
changes only what it means to.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlglot.dialects.databricks import Databricks
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from odoolake.errors import EngineError

# ``<format>.`<path>``` reads files directly (Spark's "run SQL on files").
FILE_FORMATS = frozenset({"csv", "json", "parquet", "text", "orc", "avro", "delta", "binaryfile", "xml", "arrow",
                          "iceberg"})
OPTION_PATH_KEYS = frozenset({"path", "location"})  # OPTIONS keys the engine takes a path from
_STRINGS = frozenset({TokenType.STRING, TokenType.RAW_STRING})
# Table-valued functions whose first argument is a path.
PATH_FUNCTIONS = frozenset({"read_files", "read_csv", "read_json", "read_parquet"})
# Keywords followed by a path literal.
PATH_KEYWORDS = frozenset({"LOCATION", "DIRECTORY", "INPATH"})

_DIALECT = Databricks()
_COMMANDS = frozenset(_DIALECT.tokenizer_class.COMMANDS)  # sqlglot keeps what follows these as one token


class SqlSyntaxError(EngineError):
    """The text could not be tokenized (an unterminated string, say)."""


@dataclass(frozen=True)
class PathRef:
    """A path the statement reads or writes: ``kind`` is ``table`` (``csv.`/x```, its format in ``fmt``),
    ``literal`` or ``function``."""

    path: str
    start: int
    end: int  # inclusive, like sqlglot's token positions
    kind: str
    quote: str
    fmt: str = ""


# Databricks SQL's configuration parameters (``SET ANSI_MODE = false``, a SQL session's configuration) by their
# short names, and the Spark setting each is.
SESSION_PARAMETERS = {
    "ansi_mode": "spark.sql.ansi.enabled",
    "timezone": "spark.sql.session.timeZone",
    "legacy_time_parser_policy": "spark.sql.legacy.timeParserPolicy",
    "max_file_partition_bytes": "spark.sql.files.maxPartitionBytes",
}
TIME_ZONE_KEY = SESSION_PARAMETERS["timezone"]
_SET_VERB = re.compile(r"(SET|RESET)\b\s*(.*?)\s*;?\s*", re.IGNORECASE | re.DOTALL)
_TIME_ZONE = re.compile(r"TIME\s+ZONE\b\s*(.*)", re.IGNORECASE | re.DOTALL)
# Java's ZoneId.of, which Spark's session time zone goes through: an offset (+8, +08, +08:00, +0800, +08:00:00), with
# or without a UTC/GMT/UT prefix, or one of those alone; case matters ("utc" is no zone)
_ZONE_OFFSET = re.compile(r"(?:(?:UTC|GMT|UT)?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2})(?::?(?P<s>\d{2}))?)?)"
                          r"|Z|UTC|GMT|UT")
MAX_OFFSET_SECONDS = 18 * 3600  # java.time.ZoneOffset's range
# Java's ZoneId.SHORT_IDS, which Spark's session time zone accepts (PST is America/Los_Angeles)
SHORT_ZONE_IDS = {
    "EST": "-05:00", "HST": "-10:00", "MST": "-07:00", "ACT": "Australia/Darwin", "AET": "Australia/Sydney",
    "AGT": "America/Argentina/Buenos_Aires", "ART": "Africa/Cairo", "AST": "America/Anchorage", "BET": "America/Sao_Paulo",
    "BST": "Asia/Dhaka", "CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago",
    "CTT": "Asia/Shanghai", "EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan", "NST": "Pacific/Auckland",
    "PLT": "Asia/Karachi", "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico", "PST": "America/Los_Angeles",
    "SST": "Pacific/Guadalcanal", "VST": "Asia/Ho_Chi_Minh"}


@dataclass(frozen=True)
class Setting:
    """A ``SET``/``RESET`` statement in Spark's terms: ``key`` None is ``SET`` alone (every setting), ``value`` None
    a read (``SET k``) or a reset."""

    verb: str
    key: str | None
    value: str | None


def _setting_value(text: str) -> str:
    """A SET's value as written: inside its quotes if quoted, else up to a trailing ``--`` comment."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end > 0:
            return text[1:end]
    return re.sub(r"\s*--.*\Z", "", text, flags=re.DOTALL).strip()


def setting(sql: str) -> Setting | None:
    """A ``SET``/``RESET`` statement with Spark keys: Databricks SQL's short names (``ANSI_MODE``, ``TIMEZONE``, …
    ``SESSION_PARAMETERS``) are the settings they name, and ``SET TIME ZONE 'Asia/Manila'`` sets the session time
    zone. None for another statement, and for ``SET TIME ZONE LOCAL`` or ``INTERVAL …`` (no zone named)."""
    toks = tokens(sql)
    found = _SET_VERB.fullmatch(sql[toks[0].start:]) if toks else None  # leading comments skipped
    if found is None:
        return None
    verb, rest = found.group(1).upper(), found.group(2)
    zone = _TIME_ZONE.fullmatch(rest) if verb == "SET" else None
    if zone is not None:
        value = zone.group(1).strip()
        if value[:1] not in ("'", '"'):
            return None
        return Setting(verb, TIME_ZONE_KEY, _setting_value(value))
    key, eq, value = rest.partition("=")
    key = key.strip().strip("`")
    if not key:
        return Setting(verb, None, None)
    key = SESSION_PARAMETERS.get(key.lower(), key)
    return Setting(verb, key, _setting_value(value) if eq and verb == "SET" else None)


# Spark settings whose values Spark checks when they are set, with its rule: the engine stores any text for them.
# (int, must be positive) as SQLConf declares them; a boolean's text is checked by the engine itself (a probe).
INT_SETTINGS = {"spark.sql.shuffle.partitions": True, "spark.sql.execution.arrow.maxRecordsPerBatch": False,
                "spark.sql.maxConcurrentOutputFileWriters": False}  # (byte sizes such as "10MB" are not ints)
JAVA_INT = (-(2 ** 31), 2 ** 31 - 1)


def setting_problem(key: str, value: str) -> str | None:
    """Why Spark refuses ``value`` for ``key`` (in Spark's words), or None."""
    if key not in INT_SETTINGS:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return f"{key} should be int, but was {value}"
    if not JAVA_INT[0] <= number <= JAVA_INT[1]:
        return f"{key} should be int, but was {value}"
    if INT_SETTINGS[key] and number <= 0:
        return f"The value of {key} should be positive."
    return None


def engine_time_zone(value: str) -> str | None:
    """The session time zone the engine should keep for ``value`` as Spark reads it (Java's ``ZoneId.of`` with its
    short IDs), or None when Spark would refuse it. A region stays as written; an offset of whole hours becomes its
    ``Etc/GMT`` region (``+8`` → ``Etc/GMT-8``: the engine reads offsets in casts but cannot format a timestamp's zone
    with them), another offset ``±HH:MM[:SS]``, a zero one and ``Z`` ``UTC``."""
    value = SHORT_ZONE_IDS.get(value, value)
    offset = _ZONE_OFFSET.fullmatch(value)
    if offset is not None:
        if offset.group("sign") is None:
            return "UTC"
        h, m, s = (int(offset.group(g) or 0) for g in ("h", "m", "s"))
        seconds = h * 3600 + m * 60 + s
        if m > 59 or s > 59 or seconds > MAX_OFFSET_SECONDS:
            return None
        sign = offset.group("sign")
        if seconds == 0:
            return "UTC"
        if m == s == 0 and (-12 <= h * (1 if sign == "+" else -1) <= 14):
            return f"Etc/GMT{'-' if sign == '+' else '+'}{h}"  # the POSIX sign: Etc/GMT-8 is eight hours east
        return f"{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


def always_utc(zone: str) -> bool:
    """Whether a zone the engine keeps (``engine_time_zone``) is UTC all year (``UTC``, ``Etc/UTC``, ``GMT`` …)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        region = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False  # an offset (``+05:30``): engine_time_zone writes a zero one as UTC
    return all(not region.utcoffset(datetime(2024, month, 1)) for month in (1, 7))


# Texts longer than this (a seed's INSERT of thousands of literal rows: 50 MB of tokens for 700 KB of text) are not
# kept in the cache of 512 texts; the last one is kept alone, for the readers of the same statement.
_LARGE_TEXT = 64 * 1024
_last_large: tuple[str, tuple[Token, ...]] | None = None


def _tokens(sql: str) -> tuple[Token, ...]:
    global _last_large
    if len(sql) <= _LARGE_TEXT:
        return _small_tokens(sql)
    last = _last_large
    if last is not None and last[0] == sql:
        return last[1]
    toks = _tokenized(sql)
    _last_large = (sql, toks)
    return toks


@lru_cache(maxsize=512)
def _small_tokens(sql: str) -> tuple[Token, ...]:
    return _tokenized(sql)


def _tokenized(sql: str) -> tuple[Token, ...]:
    try:
        return tuple(_expand_commands(sql, _DIALECT.tokenize(sql), 0))
    except TokenError as exc:
        raise SqlSyntaxError(f"[PARSE_SYNTAX_ERROR] Syntax error in SQL: {exc}") from None


# A command's remainder is split again at most this many times: ``SHOW SHOW SHOW …`` would re-tokenize the rest of
# the text once per word (17 s of the proxy's CPU for 3,000 of them, found by review).
_COMMAND_EXPANSIONS = 2


def _expand_commands(sql: str, toks: list[Token], offset: int, depth: int = 0) -> list[Token]:
    """sqlglot keeps the rest of a command it does not parse (``SHOW …``) as one STRING token; split it again, so
    ``SHOW CREATE TABLE gold.t`` has its words and its name like any other statement."""
    out: list[Token] = []
    for i, tok in enumerate(toks):
        start = tok.start + offset
        # Only the token right after a command keyword is a remainder; every other STRING is a literal.
        is_remainder = tok.token_type == TokenType.STRING and i > 0 and toks[i - 1].token_type in _COMMANDS and \
            depth < _COMMAND_EXPANSIONS
        if not is_remainder or not tok.text.strip():
            if offset:
                tok = Token(tok.token_type, tok.text, tok.line, tok.col, start, tok.end + offset, tok.comments)
            out.append(tok)
            continue
        # The command's remainder: where it really starts is after the previous token (its own positions are off).
        after = out[-1].end + 1 if out else offset
        begin = sql.find(tok.text, after)
        out.extend(_expand_commands(sql, _DIALECT.tokenize(tok.text), begin if begin >= 0 else after, depth + 1))
    return out


def tokens(sql: str) -> tuple[Token, ...]:
    return _tokens(sql)


def without_trailing(sql: str) -> str:
    """The text up to its last token that is not a semicolon: trailing semicolons, comments and blanks dropped."""
    toks = [t for t in _tokens(sql) if t.token_type != TokenType.SEMICOLON]
    return sql[:toks[-1].end + 1] if toks else ""


# Statements whose result has no columns in Spark and on Databricks: definitions. (A CTAS is a write, and answers
# as the engine's writes answer. CACHE, REFRESH and ANALYZE answer a query that fails when their table does not
# exist, which is how they name it: their empty answer keeps its column.)
NO_RESULT_VERBS = frozenset({"CREATE", "DROP", "ALTER", "COMMENT", "TRUNCATE", "MSCK", "GRANT", "REVOKE", "USE"})


def answers_no_columns(sql: str) -> bool:
    """Whether ``sql`` answers with no columns (``NO_RESULT_VERBS``; a CREATE that is not a CTAS)."""
    head = words(sql, 1)
    if not head or head[0] not in NO_RESULT_VERBS:
        return False
    if head[0] == "CREATE":
        try:
            created = create_table(sql)
        except SqlSyntaxError:  # the rules refuse it, by name, when they read it
            return False
        return created is None or created.query_start is None
    return True


def words(sql: str, count: int) -> list[str]:
    """The first ``count`` tokens, upper-cased (``["SHOW", "CREATE", "TABLE"]``)."""
    return [t.text.upper() for t in _tokens(sql)[:count]]


# What makes the engine's parser and planner recurse one level deeper: an operator (a token made of Spark SQL's
# operator characters: a chain of N operators builds a tree N deep, ``a[0][0]…`` and ``x -> …`` too), a keyword
# operator (however spelled: the engine upper-cases Unicode, so ``caſe`` is CASE), a bracket or a CASE still open.
_SYMBOL_CHARS = frozenset("-=<>!+*/%&|^~:([")
DEEPENING_WORDS = frozenset({"AND", "OR", "NOT", "XOR", "DIV", "LIKE", "ILIKE", "RLIKE", "REGEXP", "IN", "IS",
                             "BETWEEN", "SELECT", "UNION", "INTERSECT", "EXCEPT", "MINUS", "JOIN", "LATERAL"})
_SIBLINGS = frozenset({TokenType.COMMA, TokenType.WHEN, TokenType.THEN, TokenType.ELSE})  # each starts a new subtree
_LITERALS = frozenset(getattr(TokenType, name) for name in (  # a literal or quoted name is never an operator or keyword
    "STRING", "RAW_STRING", "NATIONAL_STRING", "BYTE_STRING", "HEX_STRING", "BIT_STRING", "HEREDOC_STRING",
    "UNICODE_STRING", "IDENTIFIER", "NUMBER") if hasattr(TokenType, name))


def nesting(sql: str) -> int:
    """How many levels deep ``sql`` nests, as the engine's parser and planner recurse (outside literals and comments,
    as sqlglot reads them): at each token, the brackets and CASEs open, plus the operators met since each of them
    opened (since its last comma, WHEN, THEN or ELSE: those start a sibling, not a child). ``SELECT 1 + 1 + 1`` nests
    3 (SELECT is one), ``SELECT ((1))`` 3; each subquery ``(SELECT * …)`` adds 3. ``token_bound`` is the backstop for
    whatever this misses (text the engine's lexer reads differently, constructs not counted here)."""
    frames = [[0, 0]]  # per open bracket or CASE: [operators since its last sibling began, 1 (its own level)]
    level = deepest = 0
    for tok in _tokens(sql):
        kind, text = tok.token_type, tok.text
        if kind == TokenType.L_PAREN or kind == TokenType.CASE:
            frames.append([0, 1])
            level += 1
        elif (kind == TokenType.R_PAREN or kind == TokenType.END) and len(frames) > 1:
            level -= sum(frames.pop())
        elif kind in _SIBLINGS:
            level -= frames[-1][0]
            frames[-1][0] = 0
        elif kind not in _LITERALS and ((text and all(c in _SYMBOL_CHARS for c in text))
                                        or text.upper() in DEEPENING_WORDS):
            frames[-1][0] += 1
            level += 1
        deepest = max(deepest, level)
    return deepest


# ``token_bound``: one for each ASCII punctuation character and each byte outside ASCII (UTF-8 of any Unicode letter,
# space or symbol), one for each run of ASCII letters, digits and underscores.
_SINGLE_BYTES = bytes(c for c in range(256) if c >= 0x80 or (chr(c) in string.punctuation and chr(c) != "_"))
_RUN_STARTS = bytes(ord("a") if chr(c).isascii() and (chr(c).isalnum() or c == ord("_")) else ord(" ")
                    for c in range(256))


def token_bound(data: bytes) -> int:
    """At least as many tokens as any SQL lexer finds in ``data`` (UTF-8), read over the raw bytes, string literals
    and comments included, so no difference between sqlglot's lexer and the engine's can hide one. Each level the
    engine's parser recurses takes a token. Inside a larger buffer (a request) a text's count drops by at most two
    (a run at either end may join the bytes around it). Two passes of ``bytes.translate`` in C: 0.3 ms for 41 KB of
    random bytes."""
    singles = len(data) - len(data.translate(None, _SINGLE_BYTES))
    runs = b" " + data.translate(_RUN_STARTS)
    return singles + runs.count(b" a")


def statements(sql: str) -> int:
    """How many statements the text holds (semicolons outside literals and comments, trailing one ignored)."""
    toks = _tokens(sql)
    count, pending = 0, False
    for tok in toks:
        if tok.token_type == TokenType.SEMICOLON:
            count += pending
            pending = False
        else:
            pending = True
    return count + pending


def paths(sql: str) -> list[PathRef]:
    """Every path the statement names in a position where Spark reads or writes files."""
    toks = _tokens(sql)
    found = []
    for i, tok in enumerate(toks):
        prev = toks[i - 1] if i >= 1 else None
        prev2 = toks[i - 2] if i >= 2 else None
        if tok.token_type == TokenType.IDENTIFIER and prev is not None and prev.token_type == TokenType.DOT \
                and prev2 is not None and prev2.text.lower() in FILE_FORMATS:
            found.append(PathRef(tok.text, tok.start, tok.end, "table", "`", prev2.text.lower()))
        elif tok.token_type in _STRINGS and prev is not None:
            quote = sql[tok.start + 1] if tok.token_type == TokenType.RAW_STRING else sql[tok.start]  # r'…'
            key = prev2 if prev.token_type == TokenType.EQ else prev  # OPTIONS (path '…') or (path = '…')
            if prev.text.upper() in PATH_KEYWORDS:
                found.append(PathRef(tok.text, tok.start, tok.end, "literal", quote))
            elif prev.token_type == TokenType.L_PAREN and prev2 is not None and prev2.text.lower() in PATH_FUNCTIONS:
                found.append(PathRef(tok.text, tok.start, tok.end, "function", quote))
            elif prev.token_type == TokenType.L_PAREN and prev2 is not None and prev2.text.upper() == "IDENTIFIER":
                found.extend(_format_path_in_name(tok.text, tok.start + 1 + (quote != sql[tok.start])))
            elif key is not None and key.text.lower() in OPTION_PATH_KEYS and _inside_options(toks, i):
                found.append(PathRef(tok.text, tok.start, tok.end, "literal", quote))
    return found


def _format_path_in_name(name: str, offset: int) -> list[PathRef]:
    """``IDENTIFIER('text.`/some/file`')``: the path of a format-qualified name written in a literal at ``offset``."""
    toks = _tokens(name)
    if len(toks) == 3 and toks[0].text.lower() in FILE_FORMATS and toks[1].token_type == TokenType.DOT \
            and toks[2].token_type == TokenType.IDENTIFIER:
        return [PathRef(toks[2].text, offset + toks[2].start, offset + toks[2].end, "table", "`", toks[0].text.lower())]
    return []


def identifier_parameters(sql: str) -> bool:
    """Whether ``IDENTIFIER(…)`` takes something other than a string literal (a parameter, an expression): the
    name it gives, a path perhaps, is known only when the engine runs the statement."""
    toks = _tokens(sql)
    for i, tok in enumerate(toks[:-1]):
        if tok.text.upper() != "IDENTIFIER" or toks[i + 1].token_type != TokenType.L_PAREN:
            continue
        argument = [t.token_type for t in toks[i + 2:i + 4]]
        if len(argument) < 2 or argument[0] not in _STRINGS or argument[1] != TokenType.R_PAREN:
            return True
    return False


def _inside_options(toks: tuple[Token, ...], index: int) -> bool:
    depth = 0
    for j in range(index - 1, -1, -1):
        kind = toks[j].token_type
        if kind == TokenType.R_PAREN:
            depth += 1
        elif kind == TokenType.L_PAREN:
            if depth == 0:
                return j >= 1 and toks[j - 1].text.upper() == "OPTIONS"
            depth -= 1
    return False


def quote_path(path: str, quote: str) -> str:
    if quote == "`":
        return "`" + path.replace("`", "``") + "`"
    return quote + path.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def replace_paths(sql: str, mapper: Callable[[PathRef], str]) -> str:
    """The text with each path ``mapper`` changes replaced (quoted as it was)."""
    return _replaced(sql, paths(sql), mapper)


def replace_name_path(name: str, mapper: Callable[[PathRef], str]) -> str:
    """A table name (``text.`/some/file```) with the path of a format-qualified name replaced by ``mapper``'s."""
    return _replaced(name, _format_path_in_name(name, 0), mapper)


def _replaced(sql: str, refs: list[PathRef], mapper: Callable[[PathRef], str]) -> str:
    edits = []
    for ref in refs:
        new = mapper(ref)
        if new != ref.path:
            edits.append((ref.start, ref.end + 1, quote_path(new, ref.quote)))
    return spliced(sql, edits)


def spliced(text: str, edits: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each span ``[start, end)`` replaced by its new text (spans that do not overlap; an empty span
    inserts)."""
    out, last = [], 0
    for start, end, new in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        out += [text[last:start], new]
        last = end
    return "".join(out) + text[last:] if out else text


def mentions(sql: str, name: str) -> bool:
    """Does a name token (bare or quoted) equal ``name``?"""
    name = name.lower()
    return any(t.text.lower() == name for t in _tokens(sql)
               if t.token_type in (TokenType.VAR, TokenType.IDENTIFIER) or t.text.lower() == name)


# A VALUES list of literal rows, read from the raw text as the engine lexes it (backslash escapes, adjacent strings
# joined), whatever another lexer makes of it: numbers, NULL/TRUE/FALSE, strings (typed: DATE '…', X'…') and a
# string cast to a type. It nests two levels at most, however long, so the token bound need not count it.
_STRING = r"(?:'(?:[^'\\]|\\.)*'\s*)+"
_FLAT_LITERAL = (rf"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z]{{0,2}}|NULL|TRUE|FALSE"
                 rf"|(?:(?:DATE|TIMESTAMP|TIMESTAMP_NTZ|TIMESTAMP_LTZ|X)\s*)?{_STRING}"
                 rf"|CAST\s*\(\s*{_STRING}\s*AS\s+[A-Za-z_]+(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?\s*\))")
_FLAT_ROW = rf"\(\s*{_FLAT_LITERAL}\s*(?:,\s*{_FLAT_LITERAL}\s*)*\)"
_FLAT_VALUES = re.compile(rf"\s*{_FLAT_ROW}\s*(?:,\s*{_FLAT_ROW}\s*)*;?\s*", re.I)
_RAW_NAME_PART = r"(?:`(?:[^`]|``)*`|[A-Za-z_]\w*)"
_INSERT_VALUES = re.compile(  # INSERT INTO|OVERWRITE [TABLE] name [(columns)] VALUES, read from the raw text
    rf"\s*INSERT\s+(?:INTO|OVERWRITE)\s+(?:TABLE\s+)?{_RAW_NAME_PART}(?:\s*\.\s*{_RAW_NAME_PART})*"
    rf"\s*(?:\(\s*{_RAW_NAME_PART}(?:\s*,\s*{_RAW_NAME_PART})*\s*\))?\s*VALUES\b", re.I)


def flat_values_start(sql: str) -> int | None:
    """Where the VALUES list of ``INSERT … VALUES (…), (…)`` starts, when it ends the statement and holds literal
    rows only (``_FLAT_VALUES``); else None. dbt's seeds insert up to 10,000 such rows in one statement."""
    head = _INSERT_VALUES.match(sql)
    return head.end() if head is not None and _FLAT_VALUES.fullmatch(sql, head.end()) else None


def location_clause(sql: str) -> str | None:
    """The path of a statement's ``LOCATION '…'`` clause, else None."""
    toks = _tokens(sql)
    return next((b.text for a, b in itertools.pairwise(toks)
                 if a.text.upper() == "LOCATION" and a.token_type not in _LITERALS and b.token_type in _STRINGS), None)


def calls(sql: str, function: str) -> bool:
    """Does the text call ``function`` (its name, outside literals, before an opening bracket)?"""
    toks = _tokens(sql)
    return any(a.token_type not in _LITERALS and a.text.lower() == function and b.token_type == TokenType.L_PAREN
               for a, b in itertools.pairwise(toks))


def is_recursive(sql: str) -> bool:
    """Does the text define a recursive CTE (``WITH RECURSIVE``, anywhere: in a subquery or an INSERT's query)?"""
    toks = _tokens(sql)
    return any(a.text.upper() == "WITH" and b.token_type not in _LITERALS and b.text.upper() == "RECURSIVE"
               for a, b in itertools.pairwise(toks))


def system_information_schema(sql: str, catalog: str) -> str:
    """``system.information_schema.x`` as ``<catalog>.information_schema.x``: Unity Catalog's view across catalogs holds the
    same rows as the one catalog's (dbt-databricks lists a schema's relations there), and Sail reserves the name
    ``system`` for itself. Only that schema: ``system.other.x`` stays, for the engine to report."""
    toks = _tokens(sql)
    starts = [toks[i] for i in range(len(toks) - 4)
              if toks[i].token_type in (TokenType.VAR, TokenType.IDENTIFIER) and toks[i].text.lower() == "system"
              and toks[i + 1].token_type == TokenType.DOT and toks[i + 2].text.lower() == "information_schema"
              and toks[i + 3].token_type == TokenType.DOT and (i == 0 or toks[i - 1].token_type != TokenType.DOT)]
    for tok in reversed(starts):
        sql = sql[:tok.start] + catalog + sql[tok.end + 1:]
    return sql


def name_at(toks: list[Token], i: int) -> tuple[str | None, int]:
    """A dotted name starting at token ``i`` (each part bare or back-quoted) and the index after it."""
    parts: list[str] = []
    while i < len(toks):
        tok = toks[i]
        if tok.token_type == TokenType.IDENTIFIER:
            parts.append("`" + tok.text.replace("`", "``") + "`")
        elif tok.token_type == TokenType.VAR or (tok.text.isidentifier() and tok.token_type not in _STRINGS):
            parts.append(tok.text)
        else:
            break
        i += 1
        if i < len(toks) and toks[i].token_type == TokenType.DOT:
            i += 1
            continue
        break
    return (".".join(parts) if parts else None), i


# How a query starts, and the words that make a statement more than a query (``WITH c AS (…) INSERT …`` and Hive's
# ``FROM t INSERT …`` start like queries).
QUERY_STARTS = frozenset({"SELECT", "VALUES", "TABLE", "FROM", "WITH"})
NOT_A_QUERY = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE", "REPLACE",
                         "OVERWRITE", "CACHE", "UNCACHE", "REFRESH", "SET", "RESET", "USE", "ANALYZE", "MSCK"})


def is_query(sql: str) -> bool:
    """True when the text is one query and nothing else: it only reads, so running it as a relation (lazily, in
    the call that fetches its rows) does what running it as a command would. Anything in doubt is not a query."""
    try:
        toks = _statement_tokens(sql)
    except SqlSyntaxError:
        return False
    first = next((t for t in toks if t.token_type != TokenType.L_PAREN), None)
    if first is None or first.text.upper() not in QUERY_STARTS:
        return False
    calls = {i for i, t in enumerate(toks[:-1]) if toks[i + 1].token_type == TokenType.L_PAREN}  # replace(…)
    return not any(t.token_type == TokenType.SEMICOLON or
                   (t.token_type not in _LITERALS and i not in calls and t.text.upper() in NOT_A_QUERY)
                   for i, t in enumerate(toks))


def _statement_tokens(sql: str) -> list[Token]:
    toks = list(_tokens(sql))
    while toks and toks[-1].token_type == TokenType.SEMICOLON:
        toks.pop()
    return toks


def show_create_table(sql: str) -> str | None:
    """The table of ``SHOW CREATE TABLE name [AS SERDE]``, else None."""
    toks = _statement_tokens(sql)
    if [t.text.upper() for t in toks[:3]] != ["SHOW", "CREATE", "TABLE"]:
        return None
    name, i = name_at(toks, 3)
    rest = [t.text.upper() for t in toks[i:]]
    return name if name and rest in ([], ["AS", "SERDE"]) else None


_NAME_PART = re.compile(r"`((?:[^`]|``)*)`|([^.`\s]+)")


def name_parts(name: str) -> list[str]:
    """The parts of a dotted name as written (``a.`b.c```), back-quotes taken off and doubled ones made single."""
    return [quoted.replace("``", "`") if quoted or bare == "" else bare
            for quoted, bare in _NAME_PART.findall(name)]


@dataclass(frozen=True)
class Describe:
    """``DESC[RIBE] [TABLE] [EXTENDED|FORMATTED] name [column]``: the table as written, whether the detailed form
    was asked (FORMATTED is EXTENDED's other name), and the column (a dotted path into a struct) if one was named."""

    name: str
    extended: bool
    column: str | None


_DESCRIBE_OTHER = frozenset({"QUERY", "DATABASE", "SCHEMA", "CATALOG", "FUNCTION", "HISTORY", "DETAIL", "NAMESPACE",
                             "VOLUME", "CONNECTION", "PROVIDER", "RECIPIENT", "SHARE", "CREDENTIAL", "LOCATION"})


def describe_table(sql: str) -> Describe | None:
    """A DESCRIBE of a table (or view), else None: DESCRIBE QUERY, DETAIL, HISTORY, SCHEMA… and forms with a
    PARTITION clause are left to whoever serves them."""
    toks = _statement_tokens(sql)
    upper = [t.text.upper() for t in toks]
    if upper[:1] not in (["DESCRIBE"], ["DESC"]) or len(toks) < 2:
        return None
    i = 2 if upper[1] == "TABLE" else 1
    extended = False
    # EXTENDED is a table's name when nothing follows it (``DESCRIBE extended``)
    if i < len(upper) - 1 and upper[i] in ("EXTENDED", "FORMATTED"):
        extended, i = True, i + 1
    if i == 1 and upper[i] in _DESCRIBE_OTHER and len(toks) > 2:
        return None
    name, i = name_at(toks, i)
    if name is None:
        return None
    if i == len(toks):
        return Describe(name, extended, None)
    column, end = name_at(toks, i)
    return Describe(name, extended, column) if column is not None and end == len(toks) else None


def describe_schema(sql: str) -> tuple[list[str], bool] | None:
    """(the name's parts, EXTENDED) of ``DESCRIBE {SCHEMA|DATABASE|NAMESPACE} [EXTENDED] name``, else None."""
    toks = _statement_tokens(sql)
    upper = [t.text.upper() for t in toks]
    if upper[:1] not in (["DESCRIBE"], ["DESC"]) or len(toks) < 3 or upper[1] not in ("SCHEMA", "DATABASE",
                                                                                      "NAMESPACE"):
        return None
    extended = upper[2] == "EXTENDED" and len(toks) > 3
    parts, i = _dotted(toks, 3 if extended else 2)
    return (parts, extended) if parts and len(parts) <= 2 and i == len(toks) else None


@dataclass(frozen=True)
class ShowPartitions:
    """``SHOW PARTITIONS name [PARTITION (col = value, …)]``: the table as written and the spec's (column, SQL
    literal) pairs."""

    name: str
    spec: tuple[tuple[str, str], ...]


def show_partitions(sql: str) -> ShowPartitions | None:
    toks = _statement_tokens(sql)
    if [t.text.upper() for t in toks[:2]] != ["SHOW", "PARTITIONS"]:
        return None
    name, i = name_at(toks, 2)
    if name is None:
        raise SqlSyntaxError("[PARSE_SYNTAX_ERROR] SHOW PARTITIONS needs a table name: SHOW PARTITIONS <table> "
                             "[PARTITION (<column> = <value>, …)].")
    if i == len(toks):
        return ShowPartitions(name, ())
    spec, end = partition_spec(toks, i)
    if spec is None or end != len(toks) or any(value is None for _, value in spec):
        raise SqlSyntaxError("[PARSE_SYNTAX_ERROR] SHOW PARTITIONS takes a table and an optional PARTITION (<column> "
                             f"= <value>, …) of literal values: {sql.strip()!r} is neither.")
    return ShowPartitions(name, tuple((column, value) for column, value in spec if value is not None))


_TYPED_LITERALS = frozenset({"DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ"})


def _literal_at(toks: tuple[Token, ...] | list[Token], i: int) -> tuple[str | None, int]:
    """A literal value starting at token ``i`` (a string, adjacent strings joined; a number with its sign; true,
    false, NULL; ``DATE '…'`` and the timestamps) as SQL text, and the index after it; (None, i) for anything else."""
    if i >= len(toks):
        return None, i
    tok = toks[i]
    if tok.token_type == TokenType.STRING:
        text = quote_path(_joined_strings(toks, i), "'")
        while i < len(toks) and toks[i].token_type == TokenType.STRING:
            i += 1
        return text, i
    if tok.token_type in (TokenType.DASH, TokenType.PLUS) and i + 1 < len(toks) and \
            toks[i + 1].token_type == TokenType.NUMBER:
        return ("-" if tok.token_type == TokenType.DASH else "") + toks[i + 1].text, i + 2
    if tok.token_type in (TokenType.NUMBER, TokenType.TRUE, TokenType.FALSE, TokenType.NULL):
        return tok.text.upper() if tok.token_type != TokenType.NUMBER else tok.text, i + 1
    if tok.text.upper() in _TYPED_LITERALS and i + 1 < len(toks) and toks[i + 1].token_type == TokenType.STRING:
        return f"{tok.text.upper()} {quote_path(toks[i + 1].text, chr(39))}", i + 2
    return None, i


Tokens = tuple[Token, ...] | list[Token]


def _item_list(toks: Tokens, at: int, item: Callable[[int], tuple[Any, int]]) -> tuple[tuple[Any, ...], int] | None:
    """``(item, item, …)`` from the parenthesis at token ``at``, each read by ``item`` (its value, or None when the
    tokens there are not one, and the index after it): the items and the index after the closing parenthesis, or
    None when the tokens are not such a list."""
    if at >= len(toks) or toks[at].token_type != TokenType.L_PAREN:
        return None
    items: list[Any] = []
    i = at + 1
    while i < len(toks):
        value, i = item(i)
        if value is None:
            return None
        items.append(value)
        if i < len(toks) and toks[i].token_type == TokenType.COMMA:
            i += 1
            continue
        if i < len(toks) and toks[i].token_type == TokenType.R_PAREN:
            return tuple(items), i + 1
        return None
    return None


def partition_spec(toks: tuple[Token, ...] | list[Token], at: int) -> tuple[tuple[tuple[str, str | None], ...] | None,
                                                                           int]:
    """``PARTITION (col = literal, col, …)`` starting at token ``at``: each column as written (back-quoted when it
    was) with its literal's SQL text, or None for a column named without a value (a dynamic partition); and the
    index after the clause. (None, at) when the tokens there are not such a clause."""
    if at >= len(toks) or toks[at].text.upper() != "PARTITION":
        return None, at

    def entry(i: int) -> tuple[tuple[str, str | None] | None, int]:
        column, j = name_at(list(toks), i)
        if column is None or "." in column.replace("``", "").strip("`"):
            return None, i
        if j < len(toks) and toks[j].token_type == TokenType.EQ:
            value, j = _literal_at(toks, j + 1)
            return ((column, value) if value is not None else None), j
        return (column, None), j

    found = _item_list(toks, at + 1, entry)
    return found if found is not None else (None, at)


_QUERY_HEADS = frozenset({TokenType.SELECT, TokenType.VALUES, TokenType.FROM, TokenType.TABLE, TokenType.WITH})
# Tokens that end an operand: after one, a parenthesized query starts a new clause rather than a subquery.
_OPERAND_ENDS = frozenset({TokenType.IDENTIFIER, TokenType.VAR, TokenType.NUMBER, TokenType.STRING, TokenType.R_PAREN,
                           TokenType.R_BRACKET, TokenType.TRUE, TokenType.FALSE, TokenType.NULL})


def with_moved_into_insert(sql: str) -> str | None:
    """``WITH c AS (…) INSERT INTO|OVERWRITE … query`` (Spark reads the CTEs as the query's; Sail does not parse it)
    as ``INSERT INTO|OVERWRITE … WITH c AS (…) query``, joined to the query's own WITH when it has one; None for any
    other text."""
    toks = _statement_tokens(sql)
    if not toks or toks[0].token_type != TokenType.WITH:
        return None
    depth, insert = 0, None
    for i, tok in enumerate(toks):
        depth += (tok.token_type == TokenType.L_PAREN) - (tok.token_type == TokenType.R_PAREN)
        if depth == 0 and tok.token_type == TokenType.INSERT:
            insert = i
            break
    if insert is None or insert + 2 >= len(toks):
        return None
    i = insert + 3 if toks[insert + 2].token_type == TokenType.TABLE else insert + 2
    _, i = _dotted(toks, i)  # the target: TABLE after it starts a query (``TABLE other``)
    depth, condition = 0, False
    for j in range(i, len(toks)):
        kind = toks[j].token_type
        if depth == 0 and kind == TokenType.REPLACE:
            if j + 1 >= len(toks) or toks[j + 1].token_type != TokenType.WHERE:  # REPLACE ON (…) (query) AS s
                return None
            condition = True  # REPLACE WHERE: the CTEs go to the query after the condition, which names none
        # a parenthesized query; in the condition only after a whole operand (``a = 2 (SELECT …)``), not after an
        # operator (``p IN (SELECT …)``, a subquery, which Delta refuses, by name, later)
        opens_query = kind == TokenType.L_PAREN and j + 1 < len(toks) and \
            toks[j + 1].token_type in _QUERY_HEADS and (not condition or toks[j - 1].token_type in _OPERAND_ENDS)
        if depth == 0 and (kind in _QUERY_HEADS or opens_query):
            ctes = sql[toks[1].start:toks[insert - 1].end + 1]
            head, query = sql[toks[insert].start:toks[j].start], sql[toks[j].start:toks[-1].end + 1]
            if kind == TokenType.WITH:  # the query's own CTEs follow the statement's
                return f"{head}WITH {ctes}, {sql[toks[j + 1].start:toks[-1].end + 1]}"
            return f"{head}WITH {ctes} {query}"
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
    return None


@dataclass(frozen=True)
class InsertText:
    """An INSERT's parts as the user wrote them: the REPLACE WHERE condition (None without one) and the query.
    Taken from the text, never written again by a SQL library (sqlglot rewrote ``to_char(d, 'yyyy')`` as a plain
    cast and ``percentile_cont`` as ``percentile_approx``: other rows)."""

    condition: str | None
    query: str


def insert_text(sql: str) -> InsertText | None:
    """The condition and query of ``INSERT INTO|OVERWRITE [TABLE] t [PARTITION (…)] [(columns)] [BY NAME]
    [REPLACE WHERE condition] query``, or None when the text is not such an INSERT."""
    toks = _statement_tokens(sql)
    upper = [t.text.upper() for t in toks[:3]]
    if upper[:1] != ["INSERT"] or len(upper) < 3 or upper[1] not in ("INTO", "OVERWRITE"):
        return None
    _, i = _dotted(toks, 3 if upper[2] == "TABLE" else 2)  # the target: TABLE after it starts a query
    depth, where = 0, None
    for j in range(i, len(toks)):
        kind = toks[j].token_type
        if depth == 0 and kind == TokenType.WHERE and j > 0 and toks[j - 1].token_type == TokenType.REPLACE:
            where = j
        # a parenthesized query, unless in the REPLACE WHERE condition (``p IN (SELECT …)``, refused later by name)
        opens_query = kind == TokenType.L_PAREN and j + 1 < len(toks) and \
            toks[j + 1].token_type in _QUERY_HEADS and where is None
        if depth == 0 and (kind in _QUERY_HEADS or opens_query):
            condition = sql[toks[where + 1].start:toks[j - 1].end + 1] if where is not None and where + 1 < j else None
            if kind == TokenType.TABLE:  # ``… TABLE other``, as dbt-databricks writes it
                return InsertText(condition, f"SELECT * FROM {sql[toks[j + 1].start:toks[-1].end + 1]}")
            return InsertText(condition, sql[toks[j].start:toks[-1].end + 1])
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
    return None


@dataclass(frozen=True)
class InsertPartition:
    """``INSERT INTO|OVERWRITE [TABLE] t PARTITION (…) [(columns)] query``: the spec's (column, literal or None),
    the column list (None when not given) and the query's text."""

    overwrite: bool
    target: str
    spec: tuple[tuple[str, str | None], ...]
    columns: tuple[str, ...] | None
    query: str


def insert_partition(sql: str) -> InsertPartition | None:
    """An INSERT with a PARTITION clause, which Sail does not write (``PARTITION for write``), else None."""
    toks = _statement_tokens(sql)
    upper = [t.text.upper() for t in toks[:3]]
    if upper[:1] != ["INSERT"] or len(upper) < 3 or upper[1] not in ("INTO", "OVERWRITE"):
        return None
    i = 3 if upper[2] == "TABLE" else 2
    target, i = name_at(list(toks), i)
    if target is None:
        return None
    spec, i = partition_spec(toks, i)
    if spec is None:
        return None
    columns: tuple[str, ...] | None = None
    if i + 1 < len(toks) and toks[i].token_type == TokenType.L_PAREN and toks[i + 1].token_type != TokenType.L_PAREN \
            and (toks[i + 1].token_type == TokenType.IDENTIFIER or toks[i + 1].text.upper() not in QUERY_STARTS):
        found = _item_list(toks, i, lambda j: name_at(list(toks), j))
        if found is None:
            return None
        columns, i = found
    if i >= len(toks):
        return None
    if toks[i].text.upper() not in QUERY_STARTS and toks[i].token_type != TokenType.L_PAREN:
        raise SqlSyntaxError("[PARSE_SYNTAX_ERROR] INSERT … PARTITION (…) takes [(columns)] and a query after the "
                             f"clause (BY NAME and IF NOT EXISTS are not supported with it), not {toks[i].text!r}.")
    return InsertPartition(upper[1] == "OVERWRITE", target, spec, columns, sql[toks[i].start:toks[-1].end + 1])


@dataclass(frozen=True)
class CacheStatement:
    """``CACHE [LAZY] TABLE t``, ``UNCACHE TABLE [IF EXISTS] t``, ``REFRESH TABLE t``, ``REFRESH 'path'``,
    ``ANALYZE TABLE t COMPUTE STATISTICS …``, ``CLEAR CACHE``: hints to Spark's cache and optimizer, which the
    engine has neither of (Sail: ``PlanNode::CacheTable`` unsupported). ``table`` is the name as written, to check
    it exists (None: nothing to check)."""

    verb: str
    table: str | None


def cache_statement(sql: str) -> CacheStatement | None:
    toks = _statement_tokens(sql)
    words = [t.text.upper() for t in toks[:5]]
    if words[:2] == ["CLEAR", "CACHE"] and len(toks) == 2:
        return CacheStatement("CLEAR", None)
    if words[:1] == ["REFRESH"] and len(toks) == 2 and toks[1].token_type == TokenType.STRING:
        return CacheStatement("REFRESH", None)
    lazy = words[:3] == ["CACHE", "LAZY", "TABLE"]
    if not words or words[0] not in ("CACHE", "UNCACHE", "REFRESH", "ANALYZE") or \
            (words[1:2] != ["TABLE"] and not lazy):
        return None
    at = 3 if lazy else 2
    checked = True
    if words[0] == "UNCACHE" and words[at:at + 2] == ["IF", "EXISTS"]:
        at, checked = at + 2, False
    name, end = name_at(toks, at)
    rest = [t.text.upper() for t in toks[end:]]
    if name is None or (words[0] == "CACHE" and ("AS" in rest or "SELECT" in rest)) or \
            (words[0] in ("UNCACHE", "REFRESH") and rest) or (words[0] == "ANALYZE" and rest[:2] != ["COMPUTE",
                                                                                                 "STATISTICS"]):
        return None  # CACHE TABLE t AS SELECT … (a cached view), or something else: the engine reports it
    return CacheStatement(words[0], name if checked else None)


def rename_table(sql: str, kind: str = "TABLE") -> tuple[str, str] | None:
    """(old, new) of ``ALTER TABLE old RENAME TO new`` (``kind`` VIEW: of ALTER VIEW), else None."""
    toks = _statement_tokens(sql)
    if [t.text.upper() for t in toks[:2]] != ["ALTER", kind]:
        return None
    old, i = name_at(toks, 2)
    if old is None or [t.text.upper() for t in toks[i:i + 2]] != ["RENAME", "TO"]:
        return None
    new, j = name_at(toks, i + 2)
    return (old, new) if new is not None and j == len(toks) else None


def show_scope(sql: str) -> tuple[list[str], str | None] | None:
    """(the schema's parts, empty for the current one; the pattern) of ``SHOW TABLES|VIEWS [IN|FROM schema]
    [[LIKE] 'pattern']`` and ``SHOW TABLE EXTENDED [IN|FROM schema] LIKE 'pattern'``, else None."""
    toks = _statement_tokens(sql)
    words = [t.text.upper() for t in toks[:3]]
    at = 3 if words == ["SHOW", "TABLE", "EXTENDED"] else 2 if words[:2] in (["SHOW", "TABLES"], ["SHOW", "VIEWS"]) \
        else None
    if at is None:
        return None
    parts: list[str] = []
    if at < len(toks) and toks[at].text.upper() in ("IN", "FROM"):
        parts, at = _dotted(toks, at + 1)
    if at < len(toks) and toks[at].text.upper() == "LIKE":
        at += 1
    if at < len(toks) and toks[at].token_type in _STRINGS:
        return (parts, toks[at].text) if at + 1 == len(toks) else None
    return (parts, None) if at == len(toks) else None


def drop_view(sql: str, kind: str = "VIEW") -> tuple[list[str], bool] | None:
    """(the name's parts, IF EXISTS) of ``DROP VIEW [IF EXISTS] name`` (``kind`` TABLE: of DROP TABLE), else None."""
    toks = _statement_tokens(sql)
    if [t.text.upper() for t in toks[:2]] != ["DROP", kind]:
        return None
    if_exists = [t.text.upper() for t in toks[2:4]] == ["IF", "EXISTS"]
    parts, i = _dotted(toks, 4 if if_exists else 2)
    return (parts, if_exists) if parts and i == len(toks) else None


@dataclass(frozen=True)
class CreateTable:
    """A ``CREATE [OR REPLACE] [EXTERNAL] TABLE [IF NOT EXISTS] name …`` statement, as far as the engine cares."""

    name: str
    replace: bool
    if_not_exists: bool
    has_location: bool
    has_using: bool
    has_columns: bool
    query_start: int | None  # where the query of a CTAS starts (after AS)
    provider_at: int  # where ``USING …`` goes when missing: after the name or the column list
    clauses_end: int  # where ``LOCATION …`` goes when missing: before AS, or at the end
    comment: str | None = None  # the table's ``COMMENT '…'`` clause
    comment_span: tuple[int, int] | None = None  # where that clause is in the text
    column_comments: tuple[tuple[str, str], ...] = ()  # (column, comment) of the column list's ``COMMENT '…'``
    # (column, GENERATED or DEFAULT): computed columns, identity columns and defaults, which Sail drops silently
    column_values: tuple[tuple[str, str], ...] = ()
    provider: str | None = None  # the USING clause's format, lower-case
    properties: tuple[tuple[str, str], ...] = ()  # the TBLPROPERTIES clause's (key, value) pairs, as written
    properties_span: tuple[int, int] | None = None  # where that clause is in the text
    partitioned_by: tuple[str, ...] = ()  # the PARTITIONED BY clause's columns, when they are names alone


_PROPERTY_VALUES = frozenset({TokenType.STRING, TokenType.NUMBER, TokenType.TRUE, TokenType.FALSE})
_PROPERTY_LIST_RULE = ("TBLPROPERTIES takes a list of key = value pairs in parentheses: a key is a quoted string or a "
                       "dotted name, a value a quoted string, a number or true/false")


def _property_key(toks: tuple[Token, ...] | list[Token], i: int) -> tuple[str | None, int]:
    """A table property's key at token ``i`` (a string, adjacent ones joined, or a dotted name) and the index after
    it; (None, i) when there is none."""
    if i < len(toks) and toks[i].token_type == TokenType.STRING:
        key = _joined_strings(toks, i)
        while i < len(toks) and toks[i].token_type == TokenType.STRING:
            i += 1
        return key, i
    parts, i = _dotted(toks, i)
    return (".".join(parts) if parts else None), i


def _dotted(toks: tuple[Token, ...] | list[Token], i: int) -> tuple[list[str], int]:
    """The parts of a dotted name at token ``i`` as the catalog spells them (back-quotes off) and the index after
    it."""
    parts = []
    while i < len(toks) and (toks[i].token_type in (TokenType.VAR, TokenType.IDENTIFIER) or
                             toks[i].text.isidentifier()):
        parts.append(toks[i].text)
        i += 1
        if i < len(toks) and toks[i].token_type == TokenType.DOT:
            i += 1
            continue
        break
    return parts, i


def key_list(toks: tuple[Token, ...] | list[Token], at: int) -> tuple[tuple[str, ...], int]:
    """The ``(key, …)`` list of UNSET TBLPROPERTIES starting at token ``at`` and the index after it."""
    found = _item_list(toks, at, lambda i: _property_key(toks, i))
    if found is not None:
        return found
    raise SqlSyntaxError("[PARSE_SYNTAX_ERROR] UNSET TBLPROPERTIES takes a list of keys in parentheses: a key is a "
                         "quoted string or a dotted name.")


def property_list(toks: tuple[Token, ...] | list[Token], at: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """The ``(key = value, …)`` list of TBLPROPERTIES starting at token ``at`` (its opening parenthesis), as Spark's
    grammar reads it (the ``=`` optional, adjacent string literals joined, a number's sign kept, booleans
    lower-case), and the index after its closing parenthesis."""
    def pair(i: int) -> tuple[tuple[str, str] | None, int]:
        key, i = _property_key(toks, i)
        if key is None:
            return None, i
        if i < len(toks) and toks[i].token_type == TokenType.EQ:
            i += 1
        sign = ""
        if i < len(toks) and toks[i].token_type in (TokenType.DASH, TokenType.PLUS) and i + 1 < len(toks) and \
                toks[i + 1].token_type == TokenType.NUMBER:
            sign, i = ("-" if toks[i].token_type == TokenType.DASH else ""), i + 1
        if i >= len(toks) or toks[i].token_type not in _PROPERTY_VALUES:
            return None, i
        if toks[i].token_type != TokenType.STRING:
            return (key, sign + toks[i].text.lower()), i + 1
        value = _joined_strings(toks, i)
        while i < len(toks) and toks[i].token_type == TokenType.STRING:
            i += 1
        return (key, value), i

    found = _item_list(toks, at, pair)
    if found is None:
        raise SqlSyntaxError(f"[PARSE_SYNTAX_ERROR] {_PROPERTY_LIST_RULE}.")
    return found


def _joined_strings(toks: tuple[Token, ...] | list[Token], first: int) -> str:
    """The string literals from ``toks[first]`` on, joined as Spark joins adjacent literals (``'it' 's'``)."""
    text = []
    for tok in toks[first:]:
        if tok.token_type != TokenType.STRING:
            break
        text.append(tok.text)
    return "".join(text)


def create_table(sql: str) -> CreateTable | None:
    toks = list(_tokens(sql))
    while toks and toks[-1].token_type == TokenType.SEMICOLON:
        toks.pop()
    upper = [t.text.upper() for t in toks]
    i = 0
    if upper[:1] != ["CREATE"]:
        return None
    i = 1
    replace = upper[i:i + 2] == ["OR", "REPLACE"]
    if replace:
        i += 2
    if i < len(upper) and upper[i] == "EXTERNAL":
        i += 1
    if i >= len(upper) or upper[i] != "TABLE":
        return None
    i += 1
    if_not_exists = upper[i:i + 3] == ["IF", "NOT", "EXISTS"]
    if if_not_exists:
        i += 3
    name_parts, i = _dotted(toks, i)
    if not name_parts:
        return None
    provider_at = toks[i - 1].end + 1
    has_columns = i < len(toks) and toks[i].token_type == TokenType.L_PAREN
    column_comments: list[tuple[str, str]] = []
    column_values: list[tuple[str, str]] = []
    if has_columns:
        depth, angles, column, starts_column = 0, 0, "", False  # angles: inside a type's <…> (STRUCT, MAP, ARRAY)
        while i < len(toks):
            kind = toks[i].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
                starts_column = depth == 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    provider_at = toks[i].end + 1
                    i += 1
                    break
            elif depth == 1 and kind == TokenType.LT:
                angles += 1
            elif depth == 1 and kind == TokenType.GT and angles:
                angles -= 1
            elif depth == 1 and angles == 0 and kind == TokenType.COMMA:
                starts_column = True
            elif depth == 1 and angles == 0 and starts_column:
                column, starts_column = toks[i].text, False
            elif depth == 1 and angles == 0 and kind == TokenType.COMMENT and i + 1 < len(toks) and \
                    toks[i + 1].token_type == TokenType.STRING:
                column_comments.append((column, _joined_strings(toks, i + 1)))
            elif depth == 1 and angles == 0 and kind not in (TokenType.STRING, TokenType.IDENTIFIER) and \
                    upper[i] in ("GENERATED", "DEFAULT") \
                    and column not in {c for c, _ in column_values}:
                column_values.append((column, upper[i]))
            i += 1
    has_location = has_using = False
    query_start = None
    comment, comment_span = None, None
    provider: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    properties_span: tuple[int, int] | None = None
    partitioned_by: tuple[str, ...] = ()
    clauses_end = toks[-1].end + 1 if toks else len(sql)
    depth = 0
    while i < len(toks):
        kind = toks[i].token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0:
            if kind == TokenType.COMMENT and i + 1 < len(toks) and toks[i + 1].token_type == TokenType.STRING:
                last = i + 1
                while last + 1 < len(toks) and toks[last + 1].token_type == TokenType.STRING:
                    last += 1
                comment, comment_span = _joined_strings(toks, i + 1), (toks[i].start, toks[last].end + 1)
            elif upper[i] == "LOCATION":
                has_location = True
            elif upper[i] == "USING":
                has_using = True
                provider = toks[i + 1].text.lower() if i + 1 < len(toks) else None
            elif kind == TokenType.PARTITION_BY:  # one token, ``PARTITIONED BY``
                partitioned_by, end = _name_list(toks, i + 1)
                if end > i + 1:
                    i = end
                    continue
            elif upper[i] == "TBLPROPERTIES" and kind != TokenType.STRING:
                if properties_span is not None:
                    raise SqlSyntaxError("[DUPLICATE_CLAUSES] Found duplicate clauses: TBLPROPERTIES. Give the "
                                         "table's properties in one TBLPROPERTIES clause.")
                properties, end = property_list(toks, i + 1)
                properties_span = (toks[i].start, toks[end - 1].end + 1)
                i = end
                continue
            elif upper[i] == "AS" or kind in (TokenType.SELECT, TokenType.WITH):
                query_start = toks[i + 1].start if upper[i] == "AS" and i + 1 < len(toks) else toks[i].start
                clauses_end = toks[i].start
                break
        i += 1
    return CreateTable(".".join(name_parts), replace, if_not_exists, has_location, has_using, has_columns,
                       query_start, provider_at, clauses_end, comment, comment_span, tuple(column_comments),
                       tuple(column_values), provider, properties, properties_span, partitioned_by)


def _name_list(toks: list[Token], at: int) -> tuple[tuple[str, ...], int]:
    """``(a, `b`, …)`` of one-part names at token ``at``, as the catalog spells them, and the index after it; ((), at)
    for anything else (a column with its type)."""
    def name(i: int) -> tuple[str | None, int]:
        named = i < len(toks) and (toks[i].token_type in (TokenType.VAR, TokenType.IDENTIFIER) or
                                   toks[i].text.isidentifier())
        return (toks[i].text, i + 1) if named else (None, i)

    found = _item_list(toks, at, name)
    return found if found is not None else ((), at)


def sql_literal(value: object) -> str:
    """A Spark SQL literal for a Python value (for results the engine answers itself): dicts as ``map(…)``, lists
    as ``array(…)``, aware datetimes as TIMESTAMP literals of their instant."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):  # a bare 0.5 is a DECIMAL literal, and NaN or infinity no literal at all
        return f"CAST('{value!r}' AS DOUBLE)"
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    if isinstance(value, dict):
        return "map(" + ", ".join(f"{sql_literal(k)}, {sql_literal(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list | tuple):
        return "array(" + ", ".join(sql_literal(v) for v in value) + ")"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    return quote_path(str(value), "'")


class _AnswerSeal:
    """Marks the texts ``answer_query`` makes so that this process knows them again. A statement's answer comes
    back: Sail hands a command's result to the client as a relation holding the text it ran, and the client sends
    that text again to read the rows (``collect``, ``count``). The engine host made it, so it needs no rules, and a
    long one (thousands of tables listed) must not be refused as a client's text past ``MAX_SQL_TOKENS`` would be.
    The mark is a trailing comment holding an HMAC of the text under a key of this process: nothing to forget (a
    list of recent answers let any user's burst of statements push out the answer another still reads) and
    nothing a client can forge; a text changed anywhere is checked as any client's text is."""

    _PREFIX = " /* odoolake answer "

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def seal(self, text: str) -> str:
        return f"{text}{self._PREFIX}{self._mac(text)} */"

    def __contains__(self, text: str) -> bool:
        body, found, tail = text.rpartition(self._PREFIX)
        return bool(found) and tail.endswith(" */") and hmac.compare_digest(tail[:-3], self._mac(body))


ANSWERED = _AnswerSeal()


def answer_query(columns: list[tuple[str, str]], rows: list[tuple]) -> str:
    """A query whose result is ``rows`` with ``columns`` (name, Spark type): how the engine answers a statement it
    served itself, so the client's session receives an ordinary result. Sealed (``ANSWERED``)."""
    return ANSWERED.seal(_answer_text(columns, rows))


def _answer_text(columns: list[tuple[str, str]], rows: list[tuple]) -> str:
    if not columns:
        return "SELECT 1 AS result WHERE false"
    projection = ", ".join(f"CAST(c{i} AS {kind}) AS {quote_path(name, '`')}" for i, (name, kind) in enumerate(columns))
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    if not rows:
        nulls = ", ".join("NULL" for _ in columns)
        return f"SELECT {projection} FROM VALUES ({nulls}) AS t({aliases}) WHERE false"
    if _as_json(columns, rows):
        return _answer_as_json(columns, rows)
    values = ", ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in rows)
    return f"SELECT {projection} FROM VALUES {values} AS t({aliases})"


def _is_text(value: object) -> bool:
    if type(value) is not str:
        return False
    try:
        value.encode()  # a lone surrogate: no JSON the engine reads (it made the row NULL and dropped it)
    except UnicodeEncodeError:
        return False
    return True


# Column types an answer can carry as JSON: which values of that type it carries exactly as a literal would
_JSON_ANSWERED: dict[str, Callable[[Any], bool]] = {
    "string": _is_text,
    "boolean": lambda v: type(v) is bool,
    "int": lambda v: type(v) is int and -2**31 <= v < 2**31,
    "bigint": lambda v: type(v) is int and -2**63 <= v < 2**63,
}


def _as_json(columns: list[tuple[str, str]], rows: list[tuple]) -> bool:
    """Whether ``rows`` can travel as JSON and come back as the literal rows would: every column of a JSON type,
    named, the names distinct, and every value exactly of its column's type (anything else, a float for a string
    say, takes the literal rows and the engine's own conversion)."""
    names = [name for name, _ in columns]
    if not all(names) or len(set(names)) < len(names) or not all(kind in _JSON_ANSWERED for _, kind in columns):
        return False
    checks = [_JSON_ANSWERED[kind] for _, kind in columns]
    return all(v is None or check(v) for row in rows for v, check in zip(row, checks, strict=True))


def _answer_as_json(columns: list[tuple[str, str]], rows: list[tuple]) -> str:
    """``answer_query``'s rows as one JSON string that the engine unpacks (``from_json`` + ``inline``): a literal
    row per value took Sail about 0.25 ms a row to parse, and a listing of thousands of tables is answered so."""
    names = [name for name, _ in columns]
    payload = json.dumps([dict(zip(names, row, strict=True)) for row in rows])
    fields = ", ".join(f"{quote_path(name, '`')}: {kind}" for name, kind in columns)
    return f"SELECT inline(from_json({sql_literal(payload)}, {sql_literal(f'array<struct<{fields}>>')}))"


_VALUE_END = frozenset({TokenType.VAR, TokenType.IDENTIFIER, TokenType.R_PAREN, TokenType.R_BRACKET,
                        TokenType.STRING, TokenType.NUMBER})


def unquote_parameter_markers(sql: str) -> str:
    """``:`name``` (a named parameter marker with a quoted name, as databricks-sqlalchemy writes them) as ``:name``,
    which Sail parses. A colon after a value (``col:`field```) is Databricks' JSON path and stays."""
    toks = _tokens(sql)
    edits = []
    for i in range(1, len(toks)):
        tok, colon = toks[i], toks[i - 1]
        if tok.token_type != TokenType.IDENTIFIER or colon.token_type != TokenType.COLON or \
                colon.end + 1 != tok.start or not tok.text.isidentifier():
            continue
        if i >= 2 and toks[i - 2].token_type in _VALUE_END and toks[i - 2].end + 1 == colon.start:
            continue
        edits.append((tok.start, tok.end, tok.text))
    for start, end, text in reversed(edits):
        sql = sql[:start] + text + sql[end + 1:]
    return sql
