"""Find or start the engine host of a workspace root, and hold it while in use.

Every user of the engine (the workspace server, a CLI command, a test) takes a *lease*: a shared ``flock`` on
``<home>/run/engine.lease``, held for as long as it uses the engine. The first user starts the host; the last one
to leave stops it; a host nobody leases (its users crashed) exits on its own. Starting is serialised by a second
lock, so two commands started together share one host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from odoolake.config import WorkspacePaths
from odoolake.errors import EngineError
from odoolake.logfiles import rotated
from odoolake.pids import end_process
from odoolake.workspace.engine import host

START_TIMEOUT = 90.0
ADMIN_TIMEOUT = 5.0


_RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def start_failure(log: str) -> str:
    """What stopped a host that exited before it answered, in one line: the exception its traceback ends with (the
    log holds the whole traceback), else the log's last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    raised = [line for line in lines if _RAISED.match(line)]
    return (raised or lines or ["it wrote nothing to its log"])[-1]


def _admin(home: Path, method: str, body: dict | None = None, timeout: float = ADMIN_TIMEOUT) -> dict:
    import grpc

    with grpc.insecure_channel(f"unix:{host.engine_socket(home)}") as channel:
        call: Any = channel.unary_unary(f"/{host.ADMIN_SERVICE}/{method}")
        raw = call(json.dumps(body or {}).encode(), timeout=timeout)
    return json.loads(raw or b"{}")


def engine_status(home: Path) -> dict | None:
    """The running host's status, or None when no host answers for ``home``."""
    if not host.engine_socket(home).exists():
        return None
    try:
        return _admin(home, "Status", timeout=2.0)
    except Exception:
        return None


def host_gone(status: dict) -> bool:
    """Whether the host that answered with ``status`` has exited. Told by its process, not by an admin call: on a
    loaded machine a live host can miss the call's timeout, and taking it for dead would stop it or start a second
    one beside it."""
    import psutil

    try:
        return psutil.Process(int(status["pid"])).status() == psutil.STATUS_ZOMBIE
    except (KeyError, ValueError, psutil.NoSuchProcess):
        return True


def no_host(home: Path) -> bool:
    """Whether no engine host runs for ``home``: none answers a status call, and the one its status file names has
    exited (or the file is gone, or names a process that is no host of ``home``: a pid reused after a reboot). A host
    too busy to answer within the call's 2 s still runs, and a second one started beside it would take its sockets."""
    if engine_status(home) is not None:
        return False
    import psutil

    try:
        status = json.loads(host.status_file(home).read_text())
        if host_gone(status):
            return True
        command = psutil.Process(int(status["pid"])).cmdline()
    except (OSError, ValueError, KeyError, psutil.Error):
        return True
    return not ("odoolake.workspace.engine.host" in command and str(home) in command)


def _shut_down(home: Path, child: subprocess.Popen | None, wait: bool, timeout: float = 30.0) -> None:
    """Ask the running host of ``home`` to stop, the caller holding the lease file's exclusive lock. A host with
    nothing running withdraws before it answers and exits on its own: waited for only with ``wait``. ``child`` is the
    host when this process started it: reaped, or it lingers as a zombie (else the reaper thread reaps it)."""
    status = engine_status(home)
    if status is None:
        return
    answer: dict = {}
    with contextlib.suppress(Exception):  # a host already on its way out may not answer
        answer = _admin(home, "Shutdown")
    if answer.get("withdrawn") and not wait:
        return
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
    else:
        end_process(int(status["pid"]), timeout, terminate=False)  # asked to shut down above


LEASE_CHECK_SECONDS = 2.0  # an idle host takes the lease file's lock for a moment each second to see it is idle


def _lock_within(handle: IO[str], seconds: float) -> bool:
    """The exclusive lock on ``handle``, tried until ``seconds`` have passed: False when a client holds it all along
    (an idle host's own check holds it only for a moment)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _only_user(lease: IO[str]) -> bool:
    """Trade this client's shared lock on the lease file for the exclusive one, which it gets only when no other
    client holds a lease; False (and no lock held) otherwise."""
    fcntl.flock(lease, fcntl.LOCK_UN)
    return _lock_within(lease, 0)


def stop_unused_host(home: Path, timeout: float = 30.0) -> bool:
    """Stop the engine host of ``home`` if no client holds a lease on it, and wait for it to exit (up to
    ``timeout``); True when no host runs for ``home`` afterwards. ``odoolake down`` calls it once the workspace server
    (the host's client) has ended: left alone, an unused host exits some seconds later, so a restart in that window
    found the old host still running and its spill and checkpoint folder was kept. A host another command still
    uses is left to it (it exits on its own when that command ends): False."""
    if no_host(home):
        return True
    try:
        lease = host.lease_file(home).open("a")
    except FileNotFoundError:
        return no_host(home)
    try:
        if not _lock_within(lease, LEASE_CHECK_SECONDS):
            return False  # a client holds a lease
        _shut_down(home, None, wait=True, timeout=timeout)
    finally:
        lease.close()
    return no_host(home)


def interrupt_token(home: Path, token: str, timeout: float = 10.0) -> int:
    """Interrupt every engine operation started with ``token`` and wait for each to end."""
    try:
        return int(_admin(home, "InterruptToken", {"token": token, "timeout": timeout}, timeout + 10)["interrupted"])
    except Exception:
        return 0  # no engine running: nothing of that token's can be running either


class EngineLease:
    """A hold on the engine host of one workspace root; ``close()`` lets it go (and stops it if last).

    With ``wait=False`` a host this lease starts may still be starting when the constructor returns, so the caller
    can do its own start-up meanwhile; ``ready()`` waits until it answers. With ``catalog_at_start`` a host it starts
    serves its catalog API as soon as it answers (for the workspace server, whose first statement makes a call)."""

    def __init__(self, paths: WorkspacePaths, owner: str, workers: int | None = None, wait: bool = True,
                 catalog_at_start: bool = False) -> None:
        self.paths = paths
        self.home = paths.home
        run = paths.make(host.run_dir(self.home))
        os.chmod(run, 0o700)
        self._lease: IO[str] | None = host.lease_file(self.home).open("a")
        fcntl.flock(self._lease, fcntl.LOCK_SH)  # waits while a last user is stopping the host
        self.started_here = False
        self._proc: subprocess.Popen | None = None
        self._starting: IO[str] | None = None  # the start lock, held until the host this lease started answers
        self._readying = threading.Lock()
        self.status: dict = {}
        try:
            if no_host(self.home):
                starting = (run / "engine.start-lock").open("a")
                fcntl.flock(starting, fcntl.LOCK_EX)
                if no_host(self.home):
                    self._starting = starting
                    self._spawn(owner, workers, catalog_at_start)
                    self.started_here = True
                else:
                    starting.close()
            if wait:
                self.ready()
        except BaseException:  # the caller gets no lease to close: its locks go here, or this process's later
            for handle in (self._starting, self._lease):  # leases would count it as another client
                if handle is not None:
                    handle.close()
            self._starting = self._lease = None
            raise

    @property
    def socket(self) -> Path:
        return host.engine_socket(self.home)

    @property
    def is_ready(self) -> bool:
        return self._starting is None

    def ready(self) -> EngineLease:
        """Wait until the host answers (at once unless this lease is starting it)."""
        with self._readying:  # several threads may wait for the host this lease starts
            if self._starting is not None:
                try:
                    self._wait_started()
                finally:
                    self._starting.close()  # lets the next starter in, who then finds this host
                    self._starting = None
        if not self.status:
            self.status = engine_status(self.home) or {}
        return self

    def _spawn(self, owner: str, workers: int | None, catalog_at_start: bool) -> None:
        log_path = host.log_file(self.home)
        command = [sys.executable, "-m", "odoolake.workspace.engine.host", "--home", str(self.home),
                   "--owner", owner, *(["--workers", str(workers)] if workers else []),
                   *(["--catalog-at-start"] if catalog_at_start else [])]
        with rotated(log_path).open("ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self._proc = proc
        threading.Thread(target=proc.wait, name="engine-reaper", daemon=True).start()  # no zombie when it exits

    def _wait_started(self) -> None:
        proc, log_path = self._proc, host.log_file(self.home)
        assert proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if host.status_file(self.home).exists() and engine_status(self.home) is not None:
                return
            if proc.poll() is not None:
                raise EngineError(f"The engine did not start (exit code {proc.returncode}): "
                                  f"{start_failure(log_path.read_text(errors='replace'))}; see {log_path}.")
            time.sleep(0.02)
        proc.kill()
        raise EngineError(f"The engine did not start within {START_TIMEOUT:.0f} s; see {log_path}.")

    def abandon(self) -> None:
        """Let the lease go for a command that never used the host. A host that was already running is left as it
        was (it exits on its own when unused). One this lease started is stopped, without waiting for it to answer
        when it has not yet and no other client holds a lease (a client waiting for it does: then as ``close``)."""
        if self._lease is None:
            return
        if not self.started_here:
            self.close(linger=True)
            return
        if self._starting is None:
            self.close()
            return
        lease, starting = self._lease, self._starting
        if not _only_user(lease):  # another client waits for this host: let it start, then go as close() does
            fcntl.flock(lease, fcntl.LOCK_SH)
            self.close()
            return
        self._lease = self._starting = None
        try:
            if self._proc is not None and engine_status(self.home) is None:
                self._proc.kill()  # it has not answered anyone: nothing can have used it
                self._proc.wait()
            else:
                _shut_down(self.home, self._proc, wait=False)
        finally:
            starting.close()
            lease.close()

    def close(self, linger: bool = False) -> None:
        """Release the lease; if nobody else holds one, stop the host. The host withdraws (status file, sockets)
        before it answers when nothing runs, and then exits on its own; otherwise this waits for it to exit.

        With ``linger`` (a command whose work has ended) the host is left running: a host nobody leases exits on its
        own after ``host.IDLE_EXIT_SECONDS``, withdrawing under an exclusive lock on the lease file, so a command
        that comes within that time uses it instead of starting one, and one that comes while it exits waits and
        starts a new host."""
        if self._lease is None:
            return
        with contextlib.suppress(EngineError):
            self.ready()  # a host this lease started is stopped only once it answers
        lease, self._lease = self._lease, None
        if linger:
            lease.close()  # releases the shared lock; the reaper thread ends with this process, the host lives on
            return
        if not _only_user(lease):
            lease.close()
            return
        try:
            _shut_down(self.home, self._proc, wait=False)
        finally:
            fcntl.flock(lease, fcntl.LOCK_UN)
            lease.close()

