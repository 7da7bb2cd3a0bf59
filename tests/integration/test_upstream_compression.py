"""What Sail sends the proxy travels uncompressed.

Sail gzips each answer for a client that accepts gzip, which grpc-python channels announce by default; the proxy
relays answers as raw bytes, and a full test run twice saw one reach a client still gzipped ("Exception
deserializing response!"). The proxy's channel accepts only identity: this reads the gRPC message prefixes Sail
puts on the wire, through a TCP relay between the proxy's channel and a Sail server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

from pyspark.sql.connect.proto import base_pb2, relations_pb2

from odoolake.workspace.engine.upstream import Upstream

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA_FRAME = 0x0
SESSION = "00112233-4455-6677-8899-aabbccddeeff"


def _frames(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """HTTP/2 frames as (type, stream id, payload)."""
    pos = 0
    while pos + 9 <= len(stream):
        length = int.from_bytes(stream[pos:pos + 3], "big")
        kind, stream_id = stream[pos + 3], int.from_bytes(stream[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        yield kind, stream_id, stream[pos + 9:pos + 9 + length]
        pos += 9 + length


def _message_flags(server_bytes: bytes) -> list[int]:
    """The compressed-flag byte of each gRPC message the server sent (the DATA frames of each stream joined)."""
    bodies: dict[int, bytes] = {}
    for kind, stream_id, payload in _frames(server_bytes):
        if kind == DATA_FRAME:
            bodies[stream_id] = bodies.get(stream_id, b"") + payload
    flags = []
    for body in bodies.values():
        pos = 0
        while pos + 5 <= len(body):
            flags.append(body[pos])
            pos += 5 + int.from_bytes(body[pos + 1:pos + 5], "big")
    return flags


class Relay:
    """A TCP relay to ``target`` that keeps what the server sent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.from_server = target, bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(self.target)
        threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
        self._pump(server, client, self.from_server)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, keep: bytearray | None) -> None:
        try:
            while chunk := source.recv(65536):
                if keep is not None:
                    keep.extend(chunk)
                sink.sendall(chunk)
        except OSError:
            pass  # the other side closed first: the call is over
        finally:
            sink.close()


def test_the_proxy_channel_gets_every_answer_uncompressed(sail_address):
    relay = Relay(sail_address)
    upstream = Upstream(f"127.0.0.1:{relay.port}")
    request = base_pb2.ExecutePlanRequest(
        session_id=SESSION, user_context=base_pb2.UserContext(user_id="owner"),
        plan=base_pb2.Plan(root=relations_pb2.Relation(sql=relations_pb2.SQL(
            query="SELECT repeat('withholding', 40) AS text, id FROM range(200)"))))
    try:
        answers = list(upstream.unary_stream["ExecutePlan"](request))
    finally:
        upstream.close()
    decoded = [base_pb2.ExecutePlanResponse.FromString(raw) for raw in answers]
    assert sum(a.arrow_batch.row_count for a in decoded) == 200
    flags = _message_flags(bytes(relay.from_server))
    assert len(flags) == len(answers), "every answer read from the wire"
    assert set(flags) == {0}, f"compressed-flag bytes Sail sent: {flags}"
