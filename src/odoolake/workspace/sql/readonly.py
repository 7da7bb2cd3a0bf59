"""Is a SQL text one read-only statement? Checked on tokens, after string literals, quoted names and comments
are removed, so ``SELECT 'drop table x'`` passes and ``SELECT 1; DROP TABLE x`` does not."""

from __future__ import annotations

import re

READ_ONLY_START = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "VALUES", "TABLE"}
WRITES = {"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE", "REPLACE", "GRANT",
          "REVOKE", "OPTIMIZE", "VACUUM", "RESTORE", "COPY", "SET", "RESET", "USE", "CALL", "MSCK", "REFRESH",
          "CACHE", "UNCACHE", "LOAD", "ANALYZE", "COMMENT", "REPAIR", "ZORDER", "CLONE"}
_STRIP = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|/\*.*?\*/", re.S)


class NotReadOnly(ValueError):
    pass


def check_read_only(sql: str) -> str:
    """The statement without a trailing semicolon; ``NotReadOnly`` naming the reason otherwise."""
    bare = _STRIP.sub(" ", sql)
    statements = [s for s in bare.split(";") if s.strip()]
    if not statements:
        raise NotReadOnly("empty SQL")
    if len(statements) > 1:
        raise NotReadOnly("only one statement at a time")
    words = [w.upper() for w in re.findall(r"[A-Za-z_]+", statements[0])]
    if not words:
        raise NotReadOnly("no SQL keyword found")
    if words[0] not in READ_ONLY_START:
        raise NotReadOnly(f"only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN are allowed, not {words[0]}")
    bad = sorted(set(words) & WRITES)
    if bad:
        raise NotReadOnly(f"the statement contains {', '.join(bad)}: this tool only reads")
    return sql.strip().rstrip(";").strip()
