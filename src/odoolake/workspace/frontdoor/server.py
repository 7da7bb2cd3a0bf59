"""The workspace server: uvicorn running the REST app, with :class:`FrontDoor` accepting the connections."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from odoolake.workspace.frontdoor.router import FrontDoor, server_ssl_context
from odoolake.workspace.frontdoor.tls import CHECK_SECONDS, ServedPair, TlsFiles

LOG = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the app starts, so a busy port fails at once with the OS's reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    return sock


class WorkspaceServer(uvicorn.Server):
    def __init__(self, app: Any, listener: socket.socket, tls: TlsFiles, grpc_socket, plain_http: bool,
                 engine_up: Callable[[], object] | None = None,
                 renew_certificates: Callable[[], object] | None = None) -> None:
        """``renew_certificates`` renews the certificates when they are due (``tls.ensure_certificates`` with the
        workspace's names): called every ``CHECK_SECONDS`` while the server runs."""
        super().__init__(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self.listener = listener
        self.tls = tls
        self.served = ServedPair(tls)
        self.renew_certificates = renew_certificates
        self._renewals: asyncio.Task | None = None
        self.grpc_socket = grpc_socket
        self.plain_http = plain_http
        self.engine_up = engine_up
        self._accept: asyncio.Task | None = None
        self.door: FrontDoor | None = None

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(3)
        config = self.config

        def http_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=self.server_state,  # type: ignore[call-arg]
                                              app_state=self.lifespan.state)

        self.served.take()
        self.door = FrontDoor(http_protocol, server_ssl_context(self.tls.server_cert, self.tls.server_key),
                              self.grpc_socket, self.plain_http, self.engine_up)
        loop = asyncio.get_running_loop()
        self._accept = loop.create_task(self.door.serve(self.listener))
        self._renewals = loop.create_task(self._keep_certificates())
        self.servers = []
        self.started = True

    def refresh_certificates(self) -> bool:
        """Renew the certificates if due, and serve the files' certificate to new connections if it is not the one
        served (renewed here, or by another process sharing the home); returns whether it changed."""
        if self.renew_certificates is not None:
            self.renew_certificates()
        if self.door is None or self.served.renewed() is None:
            return False
        try:
            context = server_ssl_context(self.tls.server_cert, self.tls.server_key)
        except ssl.SSLError:  # renewed again since it was taken: the next check takes the newer one
            self.served.forget()
            return False
        self.door.ssl_context = context  # a new context: connections being accepted keep the one they began with
        LOG.info("serving the renewed TLS certificate")
        return True

    async def _keep_certificates(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await loop.run_in_executor(None, self.refresh_certificates)
            except Exception:  # a failed renewal is retried at the next check; the current certificate stays
                LOG.exception("checking the TLS certificate failed")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.door is not None:
            self.door.closing = True
        if self._renewals is not None:
            self._renewals.cancel()
        if self._accept is not None:  # stop accepting before the listening socket is closed under the loop
            self._accept.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept
        self.listener.close()
        await super().shutdown(sockets)
