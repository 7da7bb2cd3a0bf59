"""EXTERNAL_LINKS results without a server: chunk files by format and size, and the links that expire.

The expected file contents are written out by hand from the Statement Execution API reference (CSV per RFC 4180,
NULL as ``null``, the header in the first chunk only; compact JSON arrays; Arrow IPC streams).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from odoolake.workspace.sql.result_files import ResultFiles
from odoolake.workspace.sql.result_links import ResultLinkExpired, ResultLinkNotFound, ResultLinks

ROWS = [["1", "a,b", None], ["2", 'say "hi"', "2.5"], ["3", "plain", "0"]]


def test_csv_chunks_have_the_header_only_in_the_first(tmp_path):
    files = ResultFiles(tmp_path / "results", chunk_bytes=10)  # one row a chunk
    written = files.write_rows("st", "CSV", ["id", "s", "x"], ROWS, byte_limit=10**6)
    texts = [c.path.read_bytes() for c in written.chunks]
    assert texts == [b'id,s,x\r\n1,"a,b",null\r\n', b'2,"say ""hi""",2.5\r\n', b"3,plain,0\r\n"]
    assert [(c.chunk_index, c.row_offset, c.row_count) for c in written.chunks] == [(0, 0, 1), (1, 1, 1), (2, 2, 1)]
    assert [c.byte_count for c in written.chunks] == [len(t) for t in texts] and not written.truncated


def test_json_array_chunks_are_compact_arrays_of_the_string_cells(tmp_path):
    files = ResultFiles(tmp_path / "results", chunk_bytes=10)  # one row a chunk
    written = files.write_rows("st", "JSON_ARRAY", ["id", "s", "x"], ROWS, byte_limit=10**6)
    assert written.chunks[0].path.read_bytes() == b'[["1","a,b",null]]'
    assert [row for c in written.chunks for row in json.loads(c.path.read_bytes())] == ROWS


def test_byte_limit_stops_at_a_chunk_boundary_and_marks_the_result_truncated(tmp_path):
    files = ResultFiles(tmp_path / "results", chunk_bytes=10)
    first = len(b'id,s,x\r\n1,"a,b",null\r\n')
    written = files.write_rows("st", "CSV", ["id", "s", "x"], ROWS, byte_limit=first)
    assert written.truncated and written.row_count == 1 and written.byte_count == first
    whole = files.write_rows("all", "CSV", ["id", "s", "x"], ROWS, byte_limit=10**6)
    assert not whole.truncated and whole.row_count == 3


def test_arrow_chunks_are_whole_ipc_streams_that_together_give_every_row_once(tmp_path):
    table = pa.table({"id": pa.array(range(10_000), pa.int64()), "label": [f"r{i}" for i in range(10_000)]})
    files = ResultFiles(tmp_path / "results", chunk_bytes=table.nbytes // 4)
    written = files.write_arrow("st", table, byte_limit=10**9)
    assert len(written.chunks) >= 4
    pieces = [pa.ipc.open_stream(c.path.read_bytes()).read_all() for c in written.chunks]
    assert [p.num_rows for p in pieces] == [c.row_count for c in written.chunks]
    assert [c.row_offset for c in written.chunks] == [sum(p.num_rows for p in pieces[:i]) for i in range(len(pieces))]
    assert pa.concat_tables(pieces).column("id").to_pylist() == list(range(10_000))


def test_empty_results_have_no_chunk_and_files_go_with_their_statement(tmp_path):
    files = ResultFiles(tmp_path / "results")
    assert files.write_rows("st", "CSV", ["id"], [], byte_limit=10).chunks == []
    files.write_arrow("gone", pa.table({"id": [1]}), byte_limit=10**6)
    assert files.directory("gone").is_dir()
    files.remove("gone")
    assert not files.directory("gone").exists()
    ResultFiles(tmp_path / "results")  # a new server clears what an old one left
    assert not files.directory("st").exists()


def test_links_are_unguessable_reused_while_fresh_and_refused_when_expired_or_forgotten(tmp_path, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr("odoolake.workspace.sql.result_links.time.time", lambda: clock[0])
    links = ResultLinks(seconds=900)
    first = links.mint("st", 0, tmp_path / "0.arrow", "application/vnd.apache.arrow.stream")
    assert len(first.link_id) >= 40 and first.expires == clock[0] + 900
    assert first.expiration == "1970-01-12T14:01:40.000Z"  # 1,000,900 s: 11 days, 14 h 1 min 40 s, in UTC
    assert links.mint("st", 0, first.path, first.media_type) == first  # fresh: the same link again
    assert links.mint("st", 1, first.path, first.media_type).link_id != first.link_id
    assert links.resolve(first.link_id) == first
    clock[0] += 451  # under half its life left: a new link is minted, the old one still works until it expires
    second = links.mint("st", 0, first.path, first.media_type)
    assert second.link_id != first.link_id and links.resolve(first.link_id) == first
    clock[0] += 449
    with pytest.raises(ResultLinkExpired, match=r"chunk 0 of statement st expired at .*result/chunks/0"):
        links.resolve(first.link_id)
    assert links.resolve(second.link_id) == second
    links.forget("st")
    with pytest.raises(ResultLinkNotFound, match=f"Result link {second.link_id} does not exist"):
        links.resolve(second.link_id)
    assert links.count() == 0
