"""The Databricks notebook source format.

A Python notebook starts with ``# Databricks notebook source``; cells are separated by
``# COMMAND ----------``; magic cells are lines prefixed ``# MAGIC `` (``%md``, ``%sql``, ``%run``,
``%python``, ``%pip``, ``%sh``). SQL notebooks use ``--`` instead of ``#``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from odoolake.errors import OdoolakeError

PY_HEADER = "# Databricks notebook source"
SQL_HEADER = "-- Databricks notebook source"


class NotebookFormatError(OdoolakeError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Cell:
    kind: str  # python | sql | md | run | pip | sh
    source: str
    line: int  # 1-based line where the cell starts


def is_notebook(text: str) -> bool:
    first = text.lstrip("\ufeff").split("\n", 1)[0].strip()
    return first in (PY_HEADER, SQL_HEADER)


def parse_notebook(text: str, path: str = "<notebook>") -> list[Cell]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    header = lines[0].strip() if lines else ""
    if header == PY_HEADER:
        comment, default = "#", "python"
    elif header == SQL_HEADER:
        comment, default = "--", "sql"
    else:
        raise NotebookFormatError(path, f"not a Databricks notebook: the first line must be {PY_HEADER!r}")
    separator = re.compile(rf"^{re.escape(comment)} COMMAND -+\s*$")
    magic = re.compile(rf"^{re.escape(comment)} MAGIC ?(.*)$")
    cells: list[Cell] = []
    chunk: list[str] = []
    start = 2

    def flush() -> None:
        leading = next((i for i, row in enumerate(chunk) if row.strip()), len(chunk))
        body = "\n".join(chunk[leading:]).rstrip("\n")
        if body.strip():
            cells.append(_cell(body, default, magic, start + leading, path))

    for number, line in enumerate(lines[1:], start=2):
        if separator.match(line):
            flush()
            chunk, start = [], number + 1
        else:
            chunk.append(line)
    flush()
    return cells


def _cell(body: str, default: str, magic: re.Pattern[str], line: int, path: str) -> Cell:
    rows = body.split("\n")
    if all(magic.match(r) or not r.strip() for r in rows):
        content = [m.group(1) if (m := magic.match(r)) else "" for r in rows]
        first = next((c for c in content if c.strip()), "")
        m = re.match(r"^%(\w+)\s*(.*)$", first.strip())
        if not m:
            raise NotebookFormatError(path, f"line {line}: a MAGIC cell must start with %md, %sql, %run, …")
        kind, rest = m.group(1).lower(), m.group(2)
        idx = content.index(first)
        remainder = "\n".join([rest, *content[idx + 1:]]).strip("\n")
        if kind not in ("md", "sql", "run", "python", "pip", "sh", "scala", "r", "fs"):
            raise NotebookFormatError(path, f"line {line}: unknown magic %{kind}")
        return Cell("python" if kind == "python" else kind, remainder, line)
    return Cell(default, body, line)
