"""Results written as chunk files for the Statement Execution API's ``EXTERNAL_LINKS`` disposition.

Each statement's chunks live in their own directory under the workspace home until the statement is closed or
expires. The formats follow the API reference (databricks-sdk's ``execute_statement``):

- ``ARROW_STREAM``: each chunk is a complete Arrow IPC stream (schema, record batches, end marker), in the engine's
  Arrow types (decimals, dates, timestamps and nested types natively; intervals as text).
- ``JSON_ARRAY``: each chunk is compact JSON, an array of rows of string values (``null`` for NULL), the cells
  INLINE results carry.
- ``CSV``: RFC 4180, the same string values, NULL as ``null``; only the first chunk has the header row.

A chunk holds about ``CHUNK_BYTES``; ``byte_limit`` stops the result at a chunk boundary and marks it truncated.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

CHUNK_BYTES = 8 * 1024 * 1024
EXTERNAL_BYTE_LIMIT = 100 * 1024**3  # the default byte_limit of EXTERNAL_LINKS results on Databricks
MEDIA_TYPES = {"ARROW_STREAM": "application/vnd.apache.arrow.stream", "JSON_ARRAY": "application/json",
               "CSV": "text/csv"}
SUFFIXES = {"ARROW_STREAM": "arrow", "JSON_ARRAY": "json", "CSV": "csv"}


@dataclass(frozen=True)
class ChunkFile:
    chunk_index: int
    row_offset: int
    row_count: int
    byte_count: int
    path: Path


@dataclass(frozen=True)
class WrittenResult:
    chunks: list[ChunkFile]
    truncated: bool  # byte_limit stopped it

    @property
    def row_count(self) -> int:
        return sum(c.row_count for c in self.chunks)

    @property
    def byte_count(self) -> int:
        return sum(c.byte_count for c in self.chunks)


def arrow_for_clients(table: pa.Table) -> pa.Table:
    """The engine's Arrow table in the types an ``ARROW_STREAM`` client reads: everything native, intervals as text
    (the same rule the SQL connector's Thrift results follow)."""
    from databricks.sql.thrift_api.TCLIService import ttypes as T

    from odoolake.workspace.sql.thrift_service import client_table

    native = T.TSparkArrowTypes(timestampAsArrow=True, decimalAsArrow=True, complexTypesAsArrow=True,
                                intervalTypesAsArrow=False, nullTypeAsArrow=True)
    return client_table(table, native, arrow=True)


class ResultFiles:
    def __init__(self, root: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.root = root
        self.chunk_bytes = chunk_bytes
        shutil.rmtree(root, ignore_errors=True)  # results of a previous server: their statements are gone

    def directory(self, statement_id: str) -> Path:
        return self.root / statement_id

    def write_arrow(self, statement_id: str, table: pa.Table, byte_limit: int) -> WrittenResult:
        rows_per_chunk = table.num_rows
        if table.num_rows and table.nbytes > self.chunk_bytes:
            rows_per_chunk = max(1, table.num_rows * self.chunk_bytes // table.nbytes)
        pieces = (table.slice(start, rows_per_chunk) for start in range(0, table.num_rows, rows_per_chunk or 1))
        return self._write(statement_id, "ARROW_STREAM", ((p.num_rows, _ipc_stream(p)) for p in pieces), byte_limit)

    def write_rows(self, statement_id: str, fmt: str, names: list[str], rows: list[list[str | None]],
                   byte_limit: int) -> WrittenResult:
        encode = _csv_chunks(names, rows, self.chunk_bytes) if fmt == "CSV" else _json_chunks(rows, self.chunk_bytes)
        return self._write(statement_id, fmt, encode, byte_limit)

    def _write(self, statement_id: str, fmt: str, pieces: Iterable[tuple[int, bytes]],
               byte_limit: int) -> WrittenResult:
        directory = self.directory(statement_id)
        directory.mkdir(parents=True, exist_ok=True)
        chunks: list[ChunkFile] = []
        offset = total = 0
        for row_count, data in pieces:
            if total + len(data) > byte_limit:
                return WrittenResult(chunks, truncated=True)
            path = directory / f"{len(chunks)}.{SUFFIXES[fmt]}"
            path.write_bytes(data)
            chunks.append(ChunkFile(len(chunks), offset, row_count, len(data), path))
            offset += row_count
            total += len(data)
        return WrittenResult(chunks, truncated=False)

    def remove(self, statement_id: str) -> None:
        shutil.rmtree(self.directory(statement_id), ignore_errors=True)

    def remove_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _json_chunks(rows: list[list[str | None]], target: int) -> Iterable[tuple[int, bytes]]:
    encoded: list[str] = []
    size = 0
    for row in rows:
        text = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
        encoded.append(text)
        size += len(text) + 1
        if size >= target:
            yield len(encoded), ("[" + ",".join(encoded) + "]").encode()
            encoded, size = [], 0
    if encoded:
        yield len(encoded), ("[" + ",".join(encoded) + "]").encode()


def _csv_chunks(names: list[str], rows: list[list[str | None]], target: int) -> Iterable[tuple[int, bytes]]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)  # the header: first chunk only
    count = 0
    for row in rows:
        writer.writerow(["null" if v is None else v for v in row])
        count += 1
        if out.tell() >= target:
            yield count, out.getvalue().encode()
            out.seek(0)
            out.truncate()
            count = 0
    if count:
        yield count, out.getvalue().encode()
