"""The suite's diagnosis of an undecodable Spark Connect answer names where the wire format breaks."""

from __future__ import annotations

import uuid

from pyspark.sql.connect.proto import base_pb2

from odoolake.workspace.engine import wire
from tests.wire_diagnosis import describe_undecodable


def _answer() -> bytes:
    message = base_pb2.ExecutePlanResponse(session_id="s", operation_id="o")
    message.arrow_batch.data = b"x" * 100
    message.arrow_batch.row_count = 3
    return message.SerializeToString()


def test_a_truncated_answer_is_located_at_the_field_that_runs_past_its_end():
    raw = _answer() + wire.length_delimited(15, str(uuid.uuid4()).encode())
    text = describe_undecodable(raw[:-5])
    assert text.startswith(f"{len(raw) - 5} bytes; ")
    assert "2:arrow_batch@3+104 ok" in text
    assert f"field runs past its message in the field at offset {len(_answer())}" in text


def test_the_diagnosis_tells_a_fault_in_the_engines_bytes_from_one_in_the_appended_session_id():
    engine_fault = (wire.length_delimited(1, b"s") + wire.length_delimited(2, b"\x0f\x00")  # a batch upb refuses
                    + wire.length_delimited(15, str(uuid.uuid4()).encode()))
    text = describe_undecodable(engine_fault)
    assert "2:arrow_batch@3+2 BAD" in text and "without the appended session id: still undecodable" in text

    proxy_fault = _answer() + wire.length_delimited(15, b"\xff\xfe")  # not UTF-8: upb refuses the string field
    text = describe_undecodable(proxy_fault)
    assert "2:arrow_batch@3+104 ok" in text and "without the appended session id: decodes" in text
