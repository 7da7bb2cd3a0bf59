"""Sending job notifications. Each receiver (a webhook destination, or the mail server) has a background lane of
its own, so a run never waits on a receiver, a slow or dead receiver delays only its own notices, and each receiver
gets its notices in the order they were sent. A webhook is tried again only when it could not be reached or answered
5xx (a timeout may have been received: it is not sent twice); a failure is logged, never raised.

Mail goes through the SMTP server that ``ODOOLAKE_SMTP_URL`` names (``smtp://[user:password@]host[:port]``, with
STARTTLS when the server offers it, or ``smtps://``), from ``ODOOLAKE_MAIL_FROM``; without one, each message is
written to ``<home>/outbox/`` as an ``.eml`` file, so that a local workspace never sends mail it was not told to.
"""

from __future__ import annotations

import logging
import os
import queue
import smtplib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from odoolake.workspace.notifications.destinations import NotificationDestinations

LOG = logging.getLogger(__name__)
# httpx logs each request's URL at INFO, and a chat webhook's URL holds its token: only its warnings are logged
logging.getLogger("httpx").setLevel(logging.WARNING)
SMTP_ENV = "ODOOLAKE_SMTP_URL"
MAIL_FROM_ENV = "ODOOLAKE_MAIL_FROM"
DEFAULT_MAIL_FROM = "odoolake@localhost"
OUTBOX = "outbox"
ATTEMPTS = 3  # per webhook, 1 s then 2 s apart
TIMEOUT_SECONDS = 10.0
# headers kept on one line up to RFC 5322's limit: Python folds a long subject with no space to break at (a run's
# id) right after "Subject:", which readers then show with a leading space
MAIL_POLICY = policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Notice:
    """One event of a run or a task: the webhook body Databricks posts, and the words of a chat message or mail."""

    event_type: str  # jobs.on_start, jobs.on_success, jobs.on_failure, jobs.on_duration_warning_threshold_exceeded
    payload: dict[str, Any]
    subject: str
    text: str


class Notifier:
    def __init__(self, destinations: NotificationDestinations, home: Path,
                 env: Mapping[str, str] = os.environ) -> None:
        self.destinations = destinations
        self.outbox = home / OUTBOX
        self.smtp_url = env.get(SMTP_ENV) or None
        self.mail_from = env.get(MAIL_FROM_ENV) or DEFAULT_MAIL_FROM
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()

    def send(self, notice: Notice, destination_ids: list[str], addresses: list[str]) -> None:
        """Queue ``notice`` for the destinations (by id) and the email addresses; returns at once. The addresses of
        email destinations join the notice's own, in one mail."""
        mail_to = list(addresses)
        for dest_id in dict.fromkeys(destination_ids):
            found = self.destinations.resolve(dest_id)
            if found is None:
                LOG.warning("notification %s: destination %s no longer exists", notice.event_type, dest_id)
            elif found[0] == "email":
                mail_to.extend(found[1]["addresses"])
            else:
                self._lane(dest_id).put(partial(self._hook, found[0], found[1], notice))
        if mail_to:
            self._lane("mail").put(partial(self._mail, notice, sorted(set(mail_to))))

    def close(self, timeout: float = 15.0) -> None:
        """Deliver what is queued (for at most ``timeout`` seconds in all), then stop."""
        deadline = time.monotonic() + timeout
        with self._lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            lane.close(max(0.0, deadline - time.monotonic()))

    def _lane(self, name: str) -> _Lane:
        with self._lock:
            if name not in self._lanes:
                self._lanes[name] = _Lane(name)
            return self._lanes[name]

    def _hook(self, kind: str, config: dict[str, Any], notice: Notice) -> None:
        if kind == "generic_webhook":
            auth = (config["username"], config["password"]) if config.get("username") else None
            self._post(config["url"], notice.payload, auth, notice)
        else:  # slack, microsoft_teams: an incoming webhook takes a text message
            self._post(config["url"], {"text": notice.text}, None, notice)

    def _post(self, url: str, body: dict[str, Any], auth: tuple[str, str] | None, notice: Notice) -> None:
        problem = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(attempt)
            try:
                answer = httpx.post(url, json=body, auth=auth, timeout=TIMEOUT_SECONDS)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # not received: try again
                problem = f"{type(exc).__name__}: {exc}"
                continue
            except httpx.HTTPError as exc:  # sent, maybe received (a read timeout): never twice
                LOG.warning("notification %s to %s failed: %s", notice.event_type, _site(url), type(exc).__name__)
                return
            if answer.status_code < 500:
                if answer.status_code >= 400:
                    LOG.warning("notification %s to %s refused: HTTP %s", notice.event_type, _site(url),
                                answer.status_code)
                return
            problem = f"HTTP {answer.status_code}"
        LOG.warning("notification %s to %s failed %d times (%s)", notice.event_type, _site(url), ATTEMPTS, problem)

    def _mail(self, notice: Notice, to: list[str]) -> None:
        message = EmailMessage(policy=MAIL_POLICY)
        subject = " ".join(notice.subject.split())  # a name with a line break in it cannot break the header
        message["From"], message["To"], message["Subject"] = self.mail_from, ", ".join(to), subject
        message.set_content(notice.text)
        if self.smtp_url is None:
            self.outbox.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{notice.event_type}.eml"
            (self.outbox / name).write_bytes(bytes(message))
            return
        parts = urlsplit(self.smtp_url)
        secure = parts.scheme == "smtps"
        server_class = smtplib.SMTP_SSL if secure else smtplib.SMTP
        with server_class(parts.hostname or "localhost", parts.port or (465 if secure else 25),
                          timeout=TIMEOUT_SECONDS) as smtp:
            if not secure:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)


def _site(url: str) -> str:
    """A URL as a log line may show it: its host, not the token a chat webhook's path holds."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class _Lane:
    """One receiver's notices, delivered in order on a thread of its own (started with the first notice)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=f"odoolake-notify-{name[:8]}", daemon=True)
        self._thread.start()

    def put(self, deliver: Callable[[], None]) -> None:
        self._queue.put(deliver)

    def close(self, timeout: float) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while (deliver := self._queue.get()) is not None:
            try:
                deliver()
            except Exception:  # a notice that cannot be delivered never stops the next one
                LOG.exception("a notification to %s could not be delivered", self.name)
