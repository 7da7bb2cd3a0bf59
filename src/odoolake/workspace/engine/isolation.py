"""A private network for the engine host: Sail listens on TCP, so it runs where nobody else can connect.

The engine host process moves itself into a new network namespace (inside a new user namespace when it is not
root) before anything starts a thread. There, ``127.0.0.1`` is its own loopback: Sail's port and the catalog port
Sail reads are reachable only from inside the process. The outside world reaches the engine through the Unix
sockets in ``<home>/run`` (owner-only directory) and the workspace's authenticated front door.

Where the kernel refuses namespaces (some containers, non-Linux systems), the host runs on the shared loopback and
says so: ``odoolake up`` and ``/_odoolake/health`` report the isolation in force.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import sys

from odoolake.errors import EngineError

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1

NETWORK_NAMESPACE = "network namespace"
SHARED_LOOPBACK = "shared loopback"


def isolate_network() -> tuple[str, str | None]:
    """Enter a private network namespace; returns ``(mode, why_not)``. Call before any thread starts."""
    if not sys.platform.startswith("linux"):
        return SHARED_LOOPBACK, f"network namespaces need Linux (this is {sys.platform})"
    if os.environ.get("ODOOLAKE_ENGINE_ISOLATION", "").lower() == "off":
        return SHARED_LOOPBACK, "ODOOLAKE_ENGINE_ISOLATION=off"
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        return SHARED_LOOPBACK, f"unshare() refused: {os.strerror(err)}"
    if flags & CLONE_NEWUSER:
        # Map our own ids into the new user namespace, so files keep their owner.
        try:
            with open("/proc/self/setgroups", "w") as fh:
                fh.write("deny")
            with open("/proc/self/uid_map", "w") as fh:
                fh.write(f"{uid} {uid} 1")
            with open("/proc/self/gid_map", "w") as fh:
                fh.write(f"{gid} {gid} 1")
        except OSError as exc:  # already inside the new namespaces: no way back, so stop here
            raise EngineError(f"The engine's user namespace could not map ids ({exc}); set "
                              "ODOOLAKE_ENGINE_ISOLATION=off to run it on the shared loopback.") from exc
    try:
        _loopback_up()
    except OSError as exc:
        raise EngineError(f"The engine's private loopback could not be brought up ({exc}); set "
                          "ODOOLAKE_ENGINE_ISOLATION=off to run it on the shared loopback.") from exc
    return NETWORK_NAMESPACE, None


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))
