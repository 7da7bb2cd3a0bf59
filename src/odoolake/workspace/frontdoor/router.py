"""One port for everything, as a Databricks workspace has: REST and Spark Connect on the same host:port.

Each new connection is looked at before anything is read from it (``MSG_PEEK``):
- TLS whose ClientHello offers ``h2`` but not ``http/1.1`` (gRPC clients: Databricks Connect, PySpark) is passed,
  still encrypted, to the engine's front socket, where gRPC terminates TLS and checks the token;
- other TLS (browsers, ``requests``, the SDK, MLflow) is served by the REST app over TLS with ALPN ``http/1.1``;
- plain HTTP is served by the REST app when allowed (the legacy databricks-cli speaks nothing else); a workspace
  bound to a non-loopback interface refuses it unless told otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import struct
from collections.abc import Callable
from pathlib import Path

from odoolake.workspace.frontdoor.tls import server_context

LOG = logging.getLogger(__name__)

TLS_HANDSHAKE = 0x16
FIRST_BYTES_TIMEOUT = 10.0
MAX_CLIENT_HELLO = 16 * 1024
PIPE_HIGH_WATER = 4 * 1024 * 1024
ENGINE_GONE = (errno.ENOENT, errno.ECONNREFUSED)  # the front socket's file is gone, or nobody listens on it


def alpn_offers(client_hello: bytes) -> list[str] | None:
    """The ALPN protocols a TLS ClientHello record offers; None if the record is incomplete or not a ClientHello."""
    try:
        if len(client_hello) < 5 or client_hello[0] != TLS_HANDSHAKE:
            return None
        record_length = struct.unpack(">H", client_hello[3:5])[0]
        body = client_hello[5:5 + record_length]
        if len(body) < record_length or body[0] != 0x01:  # incomplete, or not a ClientHello
            return None
        pos = 4 + 2 + 32  # handshake header, client_version, random
        pos += 1 + body[pos]  # session id
        pos += 2 + struct.unpack(">H", body[pos:pos + 2])[0]  # cipher suites
        pos += 1 + body[pos]  # compression methods
        if pos + 2 > len(body):
            return []
        end = pos + 2 + struct.unpack(">H", body[pos:pos + 2])[0]
        pos += 2
        while pos + 4 <= min(end, len(body)):
            kind, length = struct.unpack(">HH", body[pos:pos + 4])
            data = body[pos + 4:pos + 4 + length]
            pos += 4 + length
            if kind == 16:  # application_layer_protocol_negotiation
                names, i = [], 2
                while i < len(data):
                    size = data[i]
                    names.append(data[i + 1:i + 1 + size].decode("ascii", "replace"))
                    i += 1 + size
                return names
        return []
    except (IndexError, struct.error):
        return None


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def is_grpc(offers: list[str]) -> bool:
    return "h2" in offers and "http/1.1" not in offers


class _Pipe(asyncio.Protocol):
    """Copies bytes from its transport to ``peer``; back-pressure pauses the side that is too fast."""

    def __init__(self, on_lost: Callable[[], None] = lambda: None) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.pending: list[bytes] = []
        self.on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=PIPE_HIGH_WATER)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.pending.append(data)

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def eof_received(self) -> bool:
        if self.peer is not None and self.peer.transport is not None and self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()
        self.on_lost()


class FrontDoor:
    """Accepts the workspace port's connections and routes each (see the module's docstring).

    ``engine_up``, when given, starts the engine host if it is not running (blocking; run off the loop): a gRPC
    connection that finds the engine's front socket dead (the host crashed, or was stopped) starts a new host and
    goes on to it, as a REST statement would, instead of being dropped until something else starts one."""

    def __init__(self, http_protocol: Callable[[], asyncio.Protocol], ssl_context: ssl.SSLContext,
                 grpc_socket: Path, plain_http: bool, engine_up: Callable[[], object] | None = None) -> None:
        self.http_protocol = http_protocol
        self.ssl_context = ssl_context
        self.grpc_socket = grpc_socket
        self.plain_http = plain_http
        self.engine_up = engine_up
        self.closing = False  # the server is shutting down: no engine is started for a late connection
        self._tasks: set[asyncio.Task] = set()
        # Live splices, held here: uvloop keeps no strong reference to a transport, so a splice nobody refers to
        # would be collected mid-connection and its sockets closed from whichever thread ran the collector.
        self._splices: set[tuple[_Pipe, _Pipe]] = set()

    async def serve(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        while True:
            conn, _ = await loop.sock_accept(listener)
            task = loop.create_task(self._route(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _peek(self, conn: socket.socket) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FIRST_BYTES_TIMEOUT
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(conn.fileno(), _set_once, ready)
            try:
                await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
            finally:
                loop.remove_reader(conn.fileno())
            head = conn.recv(MAX_CLIENT_HELLO, socket.MSG_PEEK)
            if not head:
                return b""
            if head[0] != TLS_HANDSHAKE or alpn_offers(head) is not None or len(head) >= MAX_CLIENT_HELLO:
                return head
            if loop.time() > deadline:
                return head
            await asyncio.sleep(0.002)  # the rest of the ClientHello is on its way

    async def _route(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            head = await self._peek(conn)
        except (TimeoutError, OSError):
            conn.close()
            return
        if not head:
            conn.close()
            return
        # Once a socket is handed to the loop (connect_accepted_socket), the loop owns it and closes it, also when
        # the TLS handshake fails: closing it here too would close the descriptor twice, and the second close could
        # hit whatever reused its number (another thread's event loop, say).
        try:
            if head[0] == TLS_HANDSHAKE:
                offers = alpn_offers(head) or []
                if is_grpc(offers):
                    await self._splice(conn)
                else:
                    await loop.connect_accepted_socket(self.http_protocol, conn, ssl=self.ssl_context,
                                                       ssl_handshake_timeout=FIRST_BYTES_TIMEOUT)
            elif self.plain_http:
                await loop.connect_accepted_socket(self.http_protocol, conn)
            else:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                             b"This workspace speaks HTTPS only: use https:// in the host.\n")
                conn.close()
        except (OSError, ssl.SSLError) as exc:
            LOG.debug("front door: connection dropped while routing: %s", exc)

    async def _splice(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        pair: tuple[_Pipe, _Pipe]

        def lost() -> None:
            self._splices.discard(pair)

        client = _Pipe(lost)
        engine = _Pipe(lost)
        pair = (client, engine)
        self._splices.add(pair)
        client.peer, engine.peer = engine, client
        try:
            await self._connect_engine(lambda: engine)
        except Exception as exc:  # OSError, or the engine's own error when it cannot start
            LOG.warning("front door: no engine to take a Spark Connect connection: %s", exc)
            self._splices.discard(pair)
            conn.close()  # not handed to the loop yet: ours to close
            return
        await loop.connect_accepted_socket(lambda: client, conn)
        for data in client.pending:
            engine.transport.write(data)  # type: ignore[union-attr]
        client.pending.clear()
        for data in engine.pending:
            client.transport.write(data)  # type: ignore[union-attr]
        engine.pending.clear()

    async def _connect_engine(self, protocol: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_unix_connection(protocol, str(self.grpc_socket))
            return
        except OSError as exc:
            if self.engine_up is None or self.closing or exc.errno not in ENGINE_GONE:
                raise  # a full listen backlog (EAGAIN), say, is a busy engine, not a dead one
            LOG.warning("front door: the engine's front socket is not answering (%s); starting the engine", exc)
        await loop.run_in_executor(None, self.engine_up)
        await loop.create_unix_connection(protocol, str(self.grpc_socket))


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = server_context(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context
