"""The cost of any Python hop in front of Sail: the floor under the front door's added latency.

    .venv/bin/python bench/proxy_floor.py [--queries 300] [--rounds 3] [--out FILE]

Starts Sail (pysail) and pass-through Spark Connect proxies, each in its own process (``KINDS``):

- ``sync``: grpc's sync server (threads), relaying with a grpc client, as the engine host's proxy is built;
- ``aio``: the same on grpc.aio (one event loop);
- ``h2``: no grpc library on the path: one uvloop event loop speaks HTTP/2 with the ``h2`` library, serving each
  client connection and relaying its streams (headers, DATA with flow control, trailers) over one upstream HTTP/2
  connection to Sail per client connection. It tests whether the grpc kinds' cost is grpc-python's machinery
  (completion queues, thread handoffs, per-call objects) rather than Python itself;
- ``h2_work``: ``h2`` plus the per-call work the front door must do, at frame level: check the ``authorization``
  header against a token (trailers-only UNAUTHENTICATED otherwise), reassemble each request message from its DATA
  frames, decode it with the Spark Connect protobufs, claim its session for the principal, set
  ``user_context.user_id``, re-encode it and send it on with a fresh length prefix. Answers are relayed unchanged;
- ``frames``: no HTTP/2 library either, because h2's per-frame Python (state machines, events, HPACK re-encoding)
  costs more than grpc's machinery: a hand-written relay that cuts the byte stream into frames and passes each on
  unchanged, both ends keeping their own HTTP/2 state (settings, flow control, HPACK) with each other;
- ``frames_work``: ``frames`` plus h2_work's per-call work: request header blocks are HPACK-decoded (``hpack``),
  request messages rebuilt, the window difference corrected (see ``_FrameRelay``).

Every client connects as ``sc://localhost:PORT/;token=...`` (pyspark then sends ``authorization: Bearer ...`` over
plain TCP with grpc's local credentials); ``direct_plain`` is Sail direct without the token, to show what the
client's token plugin costs by itself. The bench runs ``spark.sql("SELECT <i>").collect()`` on every path,
interleaved call by call, with pyspark's default reattachable execution and without it, and reports p50/p90 per
path and the CPU time each proxy process spent per query; then a 1M-row ``toPandas()`` on every path, interleaved
over ``--rounds`` rounds (median, ratio to direct). No TLS and no plan rules: whatever the front door adds beyond
these numbers is its own work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import cast

from cpu_time import cpu_of
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import StreamClosedError
from h2.settings import SettingCodes
from hpack import Decoder, Encoder, NeverIndexedHeaderTuple

SERVICE = "spark.connect.SparkConnectService"
UNARY = ("AnalyzePlan", "Config", "ReleaseExecute", "ReleaseSession", "Interrupt", "FetchErrorDetails",
         "ArtifactStatus")
STREAM = ("ExecutePlan", "ReattachExecute")
KINDS = ("sync", "aio", "h2", "h2_work", "frames", "frames_work")


def _identity(data: bytes) -> bytes:
    return data


def serve(kind: str, target: str) -> None:
    """Run one pass-through proxy of ``kind`` to ``target``; prints its port once it listens."""
    if kind in H2_KINDS + FRAME_KINDS:
        serve_h2(kind, target)
        return
    import grpc

    def metadata(context) -> list:
        return list(context.invocation_metadata())

    if kind == "sync":
        channel = grpc.insecure_channel(target)
        unary = {n: channel.unary_unary(f"/{SERVICE}/{n}", request_serializer=_identity,
                                        response_deserializer=_identity) for n in UNARY}
        stream = {n: channel.unary_stream(f"/{SERVICE}/{n}", request_serializer=_identity,
                                          response_deserializer=_identity) for n in STREAM}

        def relay_unary(name):
            return lambda request, context: unary[name](request, metadata=metadata(context))

        def relay_stream(name):
            def relay(request, context):
                yield from stream[name](request, metadata=metadata(context))
            return relay

        handlers = {n: grpc.unary_unary_rpc_method_handler(relay_unary(n), request_deserializer=_identity,
                                                           response_serializer=_identity) for n in UNARY}
        handlers.update({n: grpc.unary_stream_rpc_method_handler(relay_stream(n), request_deserializer=_identity,
                                                                 response_serializer=_identity) for n in STREAM})
        server = grpc.server(ThreadPoolExecutor(16))
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print(port, flush=True)
        server.wait_for_termination()
        return

    async def main() -> None:
        channel = grpc.aio.insecure_channel(target)
        unary = {n: channel.unary_unary(f"/{SERVICE}/{n}", request_serializer=_identity,
                                        response_deserializer=_identity) for n in UNARY}
        stream = {n: channel.unary_stream(f"/{SERVICE}/{n}", request_serializer=_identity,
                                          response_deserializer=_identity) for n in STREAM}

        def relay_unary(name):
            async def relay(request, context):
                return await unary[name](request, metadata=metadata(context))
            return relay

        def relay_stream(name):
            async def relay(request, context):
                async for message in stream[name](request, metadata=metadata(context)):
                    yield message
            return relay

        handlers = {n: grpc.unary_unary_rpc_method_handler(relay_unary(n), request_deserializer=_identity,
                                                           response_serializer=_identity) for n in UNARY}
        handlers.update({n: grpc.unary_stream_rpc_method_handler(relay_stream(n), request_deserializer=_identity,
                                                                 response_serializer=_identity) for n in STREAM})
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


# --- The HTTP/2 frame-level kinds (h2, h2_work) -------------------------------------------------------------------

H2_KINDS = ("h2", "h2_work")
TOKEN = "proxy-floor-token"
PRINCIPAL = "proxy-floor-user"
H2_WINDOW = 16 * 1024 * 1024  # the flow-control window (stream and connection) each relay connection advertises
H2_FRAME = 1024 * 1024  # the largest DATA frame the relay accepts: fewer, larger frames from Sail
GRPC_PREFIX = 5  # a gRPC message's prefix: compressed flag (1 byte) + big-endian length (4 bytes)
UNAUTHENTICATED = b"16"
FETCH_ROWS = 1_000_000


class _Side:
    """One HTTP/2 connection of a relay: its h2 state, its socket, and per stream what waits for window.

    A stream's queue holds DATA (bytes, and a callback told how many bytes went out, so the relay hands window back
    to the other side only once the bytes moved on) and actions (trailers, end of stream) that must follow the
    DATA queued before them.
    """

    def __init__(self, client_side: bool) -> None:
        config = H2Configuration(client_side=client_side, header_encoding=None, validate_inbound_headers=False,
                                 validate_outbound_headers=False, normalize_inbound_headers=False,
                                 normalize_outbound_headers=False)
        self.conn = H2Connection(config)
        self.conn.initiate_connection()
        self.conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: H2_WINDOW, SettingCodes.MAX_FRAME_SIZE: H2_FRAME})
        self.conn.increment_flow_control_window(H2_WINDOW - 65535)
        self.transport: asyncio.Transport | None = None  # until connected: h2 keeps what is to be sent
        self.queued: dict[int, deque[tuple[bytes | None, Callable[..., None]]]] = {}

    def attach(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.write()

    def data(self, stream_id: int, data: bytes, sent: Callable[[int], None]) -> None:
        self.queued.setdefault(stream_id, deque()).append((data, sent))
        self.flush(stream_id)

    def after_data(self, stream_id: int, action: Callable[[], None]) -> None:
        queue = self.queued.get(stream_id)
        if queue:
            queue.append((None, action))
        else:
            action()

    def flush(self, stream_id: int) -> None:
        queue = self.queued.get(stream_id)
        try:
            while queue:
                data, done = queue[0]
                if data is None:
                    queue.popleft()
                    done()
                    continue
                room = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
                if room <= 0:
                    return
                self.conn.send_data(stream_id, data[:room])
                done(min(room, len(data)))
                if len(data) > room:
                    queue[0] = (data[room:], done)
                else:
                    queue.popleft()
        except StreamClosedError:
            pass  # reset meanwhile: what waited for it goes nowhere
        self.queued.pop(stream_id, None)

    def flush_all(self) -> None:
        for stream_id in list(self.queued):
            self.flush(stream_id)

    def drop(self, stream_id: int) -> None:
        self.queued.pop(stream_id, None)

    def write(self) -> None:
        if self.transport is not None:
            out = self.conn.data_to_send()
            if out:
                self.transport.write(out)


class _Work:
    """The front door's per-call work at frame level (h2_work): token check, session claim, user id, re-encode."""

    def __init__(self) -> None:
        from odoolake.workspace.engine.protos import base_pb2

        service = base_pb2.DESCRIPTOR.services_by_name["SparkConnectService"]
        self.requests = {f"/{SERVICE}/{m.name}".encode(): getattr(base_pb2, m.input_type.name)
                         for m in service.methods}
        self.authorization = f"Bearer {TOKEN}".encode()
        self.sessions: dict[str, str] = {}  # session id -> the principal that claimed it

    def refusal(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        """Why a call is refused (its grpc-message), or None when its token is good."""
        for name, value in headers:
            if name == b"authorization":
                return None if value == self.authorization else b"invalid token"
        return b"no token: pass token=... in the connection URL"

    def rewrite(self, path: bytes, message: bytes) -> bytes:
        request = self.requests[path].FromString(message)
        owner = self.sessions.setdefault(request.session_id, PRINCIPAL)
        if owner != PRINCIPAL:
            raise PermissionError(f"session {request.session_id} belongs to another principal")
        request.user_context.user_id = PRINCIPAL
        body = request.SerializeToString()
        return b"\0" + len(body).to_bytes(4, "big") + body


class _Upstream(asyncio.Protocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        self.relay.from_sail(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.relay.down.transport is not None:
            self.relay.down.transport.close()


class _Relay(asyncio.Protocol):
    """One client connection, served as HTTP/2, its streams relayed over its own HTTP/2 connection to Sail.

    Client stream ids are reused upstream as they are: both are a client's odd ids, opened in the same order.
    """

    def __init__(self, target: tuple[str, int], work: _Work | None) -> None:
        self.target = target
        self.work = work
        self.down = _Side(client_side=False)
        self.up = _Side(client_side=True)
        self.paths: dict[int, bytes] = {}  # h2_work: stream id -> method path
        self.pending: dict[int, bytearray] = {}  # h2_work: stream id -> request bytes not yet a whole message
        self.client_ended: set[int] = set()  # streams the client ended on its HEADERS frame
        self.sail_ended: set[int] = set()  # streams Sail ended on a HEADERS frame (trailers or trailers-only)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.down.attach(cast(asyncio.Transport, transport))  # uvloop's transports are not its subclasses
        self.connecting = asyncio.get_running_loop().create_task(self._connect())  # held: the loop keeps tasks weakly

    async def _connect(self) -> None:
        transport, _ = await asyncio.get_running_loop().create_connection(lambda: _Upstream(self), *self.target)
        self.up.attach(cast(asyncio.Transport, transport))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up.transport is not None:
            self.up.transport.close()

    def data_received(self, data: bytes) -> None:
        for event in self.down.conn.receive_data(data):
            if isinstance(event, RequestReceived):
                self._request(event)
            elif isinstance(event, DataReceived):
                self._request_data(event)
            elif isinstance(event, StreamEnded):
                sid = event.stream_id
                if sid in self.client_ended:
                    self.client_ended.discard(sid)
                elif sid in self.paths or self.work is None:
                    self.up.after_data(sid, partial(self.up.conn.end_stream, sid))
            elif isinstance(event, StreamReset):
                self._reset(self.up, event.stream_id, event.error_code)
            elif isinstance(event, (WindowUpdated, RemoteSettingsChanged)):
                self.down.flush_all()
            elif isinstance(event, ConnectionTerminated):
                self.up.conn.close_connection()
        self.up.write()
        self.down.write()

    def from_sail(self, data: bytes) -> None:
        for event in self.up.conn.receive_data(data):
            if isinstance(event, ResponseReceived):
                if event.stream_ended is not None:
                    self.sail_ended.add(event.stream_id)
                self.down.conn.send_headers(event.stream_id, event.headers, end_stream=event.stream_ended is not None)
            elif isinstance(event, DataReceived):
                sid = event.stream_id
                if event.flow_controlled_length > len(event.data):
                    self.up.conn.acknowledge_received_data(event.flow_controlled_length - len(event.data), sid)
                self.down.data(sid, event.data, partial(self.up.conn.acknowledge_received_data, stream_id=sid))
            elif isinstance(event, TrailersReceived):
                sid, trailers = event.stream_id, event.headers
                self.sail_ended.add(sid)
                self.down.after_data(sid, partial(self.down.conn.send_headers, sid, trailers, end_stream=True))
            elif isinstance(event, StreamEnded):
                sid = event.stream_id
                if sid in self.sail_ended:
                    self.sail_ended.discard(sid)
                else:
                    self.down.after_data(sid, partial(self.down.conn.end_stream, sid))
                self.paths.pop(sid, None)
                self.pending.pop(sid, None)
            elif isinstance(event, StreamReset):
                self._reset(self.down, event.stream_id, event.error_code)
            elif isinstance(event, (WindowUpdated, RemoteSettingsChanged)):
                self.up.flush_all()
            elif isinstance(event, ConnectionTerminated):
                self.down.conn.close_connection()
        self.down.write()
        self.up.write()

    def _request(self, event: RequestReceived) -> None:
        sid, ended = event.stream_id, event.stream_ended is not None
        if self.work is not None:
            refused = self.work.refusal(event.headers)
            if refused is not None:
                self.down.conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc"),
                                                  (b"grpc-status", UNAUTHENTICATED), (b"grpc-message", refused)],
                                            end_stream=True)
                with contextlib.suppress(StreamClosedError):  # closed already when its DATA came in the same read
                    self.down.conn.reset_stream(sid, ErrorCodes.NO_ERROR)
                return
            self.paths[sid] = dict(event.headers)[b":path"]
            self.pending[sid] = bytearray()
        if ended:
            self.client_ended.add(sid)
        self.up.conn.send_headers(sid, event.headers, end_stream=ended)

    def _request_data(self, event: DataReceived) -> None:
        sid = event.stream_id
        if self.work is None:
            if event.flow_controlled_length > len(event.data):
                self.down.conn.acknowledge_received_data(event.flow_controlled_length - len(event.data), sid)
            self.up.data(sid, event.data, partial(self.down.conn.acknowledge_received_data, stream_id=sid))
            return
        self.down.conn.acknowledge_received_data(event.flow_controlled_length, sid)
        buffer = self.pending.get(sid)
        if buffer is None:
            return  # a refused call's data
        buffer += event.data
        while len(buffer) >= GRPC_PREFIX:
            size = int.from_bytes(buffer[1:GRPC_PREFIX], "big")
            if len(buffer) < GRPC_PREFIX + size:
                break
            if buffer[0]:
                raise ValueError("compressed request messages are not relayed")
            message = bytes(buffer[GRPC_PREFIX:GRPC_PREFIX + size])
            del buffer[:GRPC_PREFIX + size]
            self.up.data(sid, self.work.rewrite(self.paths[sid], message), _ignore)

    def _reset(self, side: _Side, stream_id: int, code: int | None) -> None:
        side.drop(stream_id)
        with contextlib.suppress(StreamClosedError):
            side.conn.reset_stream(stream_id, code or ErrorCodes.CANCEL)
        self.paths.pop(stream_id, None)
        self.pending.pop(stream_id, None)


# --- The hand-written frame relay (frames, frames_work) -----------------------------------------------------------

FRAME_KINDS = ("frames", "frames_work")
FRAME_HEADER = 9  # length (3 bytes), type, flags, stream id (4 bytes)
DATA, HEADERS, RST_STREAM, WINDOW_UPDATE, CONTINUATION = 0x0, 0x1, 0x3, 0x8, 0x9
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20
SAFE_FRAME = 16384  # every HTTP/2 peer accepts DATA frames this large
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


def _frames(buffer: bytearray) -> Iterator[tuple[int, int, int, bytes]]:
    """Whole frames at the start of ``buffer`` (removed from it): type, flags, stream id, the frame's bytes."""
    start = 0
    while len(buffer) - start >= FRAME_HEADER:
        end = start + FRAME_HEADER + int.from_bytes(buffer[start:start + 3], "big")
        if len(buffer) < end:
            break
        stream_id = int.from_bytes(buffer[start + 5:start + 9], "big") & 0x7FFFFFFF
        yield buffer[start + 3], buffer[start + 4], stream_id, bytes(buffer[start:end])
        start = end
    del buffer[:start]


def _unpad(flags: int, payload: bytes, priority: bool) -> bytes:
    if flags & PADDED:
        payload = payload[1:len(payload) - payload[0]]
    if priority and flags & PRIORITY:
        payload = payload[5:]
    return payload


class _FrameRelay(asyncio.Protocol):
    """One client connection relayed frame by frame to its own connection to Sail: no HTTP/2 state machine.

    Both ends talk HTTP/2 to each other through it: SETTINGS, PING, WINDOW_UPDATE, response frames pass unchanged,
    and Sail's HPACK state stays the client's because every request header block reaches Sail as it was sent. With
    ``work`` (frames_work), request header blocks are decoded (one HPACK decoder follows the client's encoder) to
    check the token and learn the method; a refused call is answered with a trailers-only HEADERS block that uses
    no dynamic table entry (so the client's decoder still agrees with Sail's encoder) while its header block goes to
    Sail with a RST_STREAM behind it (so Sail's decoder still agrees with the client's encoder). Request messages are
    rebuilt with the user id; as they change length, Sail's connection-level WINDOW_UPDATEs are corrected by the
    difference before they reach the client, so the client never believes in window Sail did not give.
    """

    def __init__(self, target: tuple[str, int], work: _Work | None) -> None:
        self.target = target
        self.work = work
        self.client: asyncio.Transport | None = None
        self.sail: asyncio.Transport | None = None
        self.early: list[bytes] = []  # what the client sent before Sail's connection was up
        self.from_client = bytearray()
        self.from_sail_buffer = bytearray()
        self.preface = True
        self.decoder = Decoder()
        self.decoder.max_allowed_table_size = 65536
        self.block: dict[int, bytearray] = {}  # stream id -> header block still waiting for its CONTINUATION
        self.paths: dict[int, bytes] = {}
        self.pending: dict[int, bytearray] = {}
        self.refused: set[int] = set()
        self.held: dict[int, int] = {}  # stream id -> window the client paid for bytes not yet sent on
        self.owed = 0  # bytes sent to Sail beyond those the client paid for: taken off Sail's next window updates

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client = cast(asyncio.Transport, transport)
        self.connecting = asyncio.get_running_loop().create_task(self._connect())  # held: the loop keeps tasks weakly

    async def _connect(self) -> None:
        transport, _ = await asyncio.get_running_loop().create_connection(lambda: _FrameUpstream(self), *self.target)
        self.sail = cast(asyncio.Transport, transport)
        for data in self.early:
            self._from_client(data)
        self.early.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sail is not None:
            self.sail.close()

    def data_received(self, data: bytes) -> None:
        if self.sail is None:
            self.early.append(data)
        else:
            self._from_client(data)

    def _from_client(self, data: bytes) -> None:
        assert self.sail is not None and self.client is not None
        buffer = self.from_client
        buffer += data
        if self.preface:
            if len(buffer) < len(PREFACE):
                return
            self.sail.write(bytes(buffer[:len(PREFACE)]))
            del buffer[:len(PREFACE)]
            self.preface = False
        up: list[bytes] = []
        down: list[bytes] = []
        for kind, flags, stream_id, frame in _frames(buffer):
            if self.work is None:
                up.append(frame)
            elif kind in (HEADERS, CONTINUATION):
                up.append(frame)
                block = self.block.setdefault(stream_id, bytearray())
                block += _unpad(flags, frame[FRAME_HEADER:], kind == HEADERS)
                if flags & END_HEADERS:
                    self._headers(stream_id, bytes(self.block.pop(stream_id)), up, down)
            elif kind == DATA and stream_id in self.pending:
                self._data(stream_id, flags, frame, up, down)
            elif kind == DATA and stream_id in self.refused:
                down.append(_frame(WINDOW_UPDATE, 0, 0, (len(frame) - FRAME_HEADER).to_bytes(4, "big")))
                if flags & END_STREAM:
                    self.refused.discard(stream_id)
            else:
                up.append(frame)
        if up:
            self.sail.write(b"".join(up))
        if down:
            self.client.write(b"".join(down))

    def _headers(self, stream_id: int, block: bytes, up: list[bytes], down: list[bytes]) -> None:
        assert self.work is not None
        headers = self.decoder.decode(block, raw=True)
        if stream_id in self.paths:
            return  # trailers from the client: gRPC clients send none
        refused = self.work.refusal(headers)
        if refused is None:
            self.paths[stream_id] = next(value for name, value in headers if name == b":path")
            self.pending[stream_id] = bytearray()
            self.held[stream_id] = 0
            return
        self.refused.add(stream_id)
        up.append(_frame(RST_STREAM, 0, stream_id, ErrorCodes.CANCEL.to_bytes(4, "big")))
        answer = Encoder().encode([NeverIndexedHeaderTuple(b":status", b"200"),
                                   NeverIndexedHeaderTuple(b"content-type", b"application/grpc"),
                                   NeverIndexedHeaderTuple(b"grpc-status", UNAUTHENTICATED),
                                   NeverIndexedHeaderTuple(b"grpc-message", refused)])
        down.append(_frame(HEADERS, END_HEADERS | END_STREAM, stream_id, answer))

    def _data(self, stream_id: int, flags: int, frame: bytes, up: list[bytes], down: list[bytes]) -> None:
        assert self.work is not None
        buffer = self.pending[stream_id]
        buffer += _unpad(flags, frame[FRAME_HEADER:], False)
        self.held[stream_id] += len(frame) - FRAME_HEADER  # what the client's window paid, padding included
        out = bytearray()
        while len(buffer) >= GRPC_PREFIX:
            size = int.from_bytes(buffer[1:GRPC_PREFIX], "big")
            if len(buffer) < GRPC_PREFIX + size:
                break
            if buffer[0]:
                raise ValueError("compressed request messages are not relayed")
            out += self.work.rewrite(self.paths[stream_id], bytes(buffer[GRPC_PREFIX:GRPC_PREFIX + size]))
            del buffer[:GRPC_PREFIX + size]
        ended = flags & END_STREAM
        if not buffer:  # all the client paid for went on, as ``out``: settle the difference
            self.owed += len(out) - self.held[stream_id]
            self.held[stream_id] = 0
            if self.owed < 0:  # Sail got less than the client paid: give the client the rest back now
                down.append(_frame(WINDOW_UPDATE, 0, 0, (-self.owed).to_bytes(4, "big")))
                self.owed = 0
        while out or ended:
            chunk, out = out[:SAFE_FRAME], out[SAFE_FRAME:]
            up.append(_frame(DATA, END_STREAM if ended and not out else 0, stream_id, bytes(chunk)))
            if not out:
                break
        if ended:
            self.paths.pop(stream_id, None)
            self.pending.pop(stream_id, None)
            self.held.pop(stream_id, None)

    def from_sail(self, data: bytes) -> None:
        assert self.client is not None
        buffer = self.from_sail_buffer
        buffer += data
        out = []
        for kind, _, stream_id, frame in _frames(buffer):
            if kind == WINDOW_UPDATE and stream_id == 0 and self.owed:
                given = (int.from_bytes(frame[FRAME_HEADER:], "big") & 0x7FFFFFFF) - self.owed
                self.owed = max(0, -given)
                if given <= 0:
                    continue
                frame = _frame(WINDOW_UPDATE, 0, 0, given.to_bytes(4, "big"))
            out.append(frame)
        if out:
            self.client.write(b"".join(out))


class _FrameUpstream(asyncio.Protocol):
    def __init__(self, relay: _FrameRelay) -> None:
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        self.relay.from_sail(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.relay.client is not None:
            self.relay.client.close()


def _ignore(_: int) -> None:
    pass


def serve_h2(kind: str, target: str) -> None:
    """Run one HTTP/2 relay of ``kind`` (h2, h2_work, frames, frames_work) to ``target`` on uvloop; prints its
    port once it listens."""
    import uvloop

    host, port = target.rsplit(":", 1)
    work = _Work() if kind.endswith("_work") else None
    relay = _FrameRelay if kind in FRAME_KINDS else _Relay

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: relay((host, int(port)), work),
                                                                 "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    uvloop.run(main())


def _p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def _fetch(session) -> float:
    """Seconds for the 1M-row fetch, then checked (untimed): a wrong or truncated relay fails the run rather than
    looking fast. Row order is not checked: Sail may send partitions in the order they finish."""
    start = time.perf_counter()
    frame = session.range(FETCH_ROWS).selectExpr("id", "id*2 as b", "cast(id as string) as s").toPandas()
    seconds = time.perf_counter() - start
    if len(frame) != FETCH_ROWS or frame.id.sum() != FETCH_ROWS * (FETCH_ROWS - 1) // 2 \
            or not (frame.b == 2 * frame.id).all() or not (frame.s == frame.id.astype(str)).all():
        raise RuntimeError(f"the 1M-row fetch came back wrong: {len(frame)} rows")
    return seconds


def _checks(urls: dict[str, str]) -> dict:
    """What each working relay did, seen from a client: the user id Sail saw, and a wrong token's answer."""
    from pyspark.sql import SparkSession

    checks = {}
    for kind in ("h2_work", "frames_work"):
        session = SparkSession.builder.remote(urls[kind]).create()
        user = session.sql("SELECT current_user()").collect()[0][0]
        session.stop()
        if user != PRINCIPAL:
            raise RuntimeError(f"{kind} did not set the user id: Sail saw {user!r}")
        wrong = SparkSession.builder.remote(urls[kind].replace(TOKEN, "wrong-token")).create()
        try:
            wrong.sql("SELECT 1").collect()
        except Exception as error:  # the refusal is the point
            if "UNAUTHENTICATED" not in str(error):
                raise
            refusal = " ".join(line.strip() for line in str(error).splitlines() if "status =" in line)
        else:
            raise RuntimeError(f"{kind} answered a call with a wrong token")
        finally:
            wrong.stop()
        checks[kind] = {"user_id_sail_saw": user, "wrong_token": refusal}
    return checks


def measure(queries: int, rounds: int) -> dict:
    import psutil
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    sail = SparkConnectServer("127.0.0.1", 0)
    sail.start(background=True)
    host, port = sail.listening_address
    target = f"{host}:{port}"
    proxies = {kind: subprocess.Popen([sys.executable, __file__, "--serve", kind, target], stdout=subprocess.PIPE,
                                      text=True) for kind in KINDS}
    try:
        ports = {kind: int(proc.stdout.readline()) for kind, proc in proxies.items()}  # type: ignore[union-attr]
        cpu = {kind: psutil.Process(proc.pid) for kind, proc in proxies.items()}

        def spent() -> dict[str, float]:
            return {kind: cpu_of([process]) for kind, process in cpu.items()}

        urls = {"direct_plain": f"sc://{target}", "direct": f"sc://localhost:{port}/;token={TOKEN}"}
        urls.update({kind: f"sc://localhost:{ports[kind]}/;token={TOKEN}" for kind in KINDS})
        report: dict = {"checks": _checks(urls)}
        for reattach in (True, False):
            sessions = {name: SparkSession.builder.remote(url).create() for name, url in urls.items()}
            for session in sessions.values():
                if not reattach:
                    session.client.disable_reattachable_execute()
                for _ in range(10):
                    session.sql("SELECT 1").collect()
            wall: dict[str, list[float]] = {name: [] for name in sessions}
            before = spent()
            for i in range(queries):
                for name, session in sessions.items():
                    start = time.perf_counter()
                    session.sql(f"SELECT {i}").collect()
                    wall[name].append((time.perf_counter() - start) * 1000)
            after = spent()
            rows = {name: {"p50_ms": round(statistics.median(v), 2), "p90_ms": round(_p90(v), 2)}
                    for name, v in wall.items()}
            for kind in KINDS:
                rows[kind]["added_p50_ms"] = round(rows[kind]["p50_ms"] - rows["direct"]["p50_ms"], 2)
                rows[kind]["proxy_cpu_ms_per_query"] = round((after[kind] - before[kind]) / queries * 1000, 3)
            report["reattachable" if reattach else "not_reattachable"] = rows
            if reattach:
                seconds: dict[str, list[float]] = {name: [] for name in sessions}
                before = spent()
                for _ in range(rounds):
                    for name, session in sessions.items():
                        seconds[name].append(_fetch(session))
                after = spent()
                direct = statistics.median(seconds["direct"])
                report["fetch_1m_rows"] = {name: {"median_s": round(statistics.median(v), 3),
                                                  "ratio_to_direct": round(statistics.median(v) / direct, 3)}
                                           for name, v in seconds.items()}
                for kind in KINDS:
                    report["fetch_1m_rows"][kind]["proxy_cpu_s_per_fetch"] = round(
                        (after[kind] - before[kind]) / rounds, 3)
            for session in sessions.values():
                session.stop()
        return report
    finally:
        for proc in proxies.values():
            proc.kill()
        sail.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the 1M-row fetch")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    load = Path("/proc/loadavg").read_text().split()[:3]
    report = {"date": time.strftime("%Y-%m-%d"), "queries": args.queries, "rounds": args.rounds,
              "loadavg_at_start": " ".join(load), **measure(args.queries, args.rounds)}
    report["loadavg_at_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
