"""Download links for result chunks (the Statement Execution API's ``EXTERNAL_LINKS``), as presigned URLs work.

On Databricks each chunk of an ``EXTERNAL_LINKS`` result is a short-lived presigned cloud-storage URL that the client
fetches WITHOUT its workspace token. Here each link is a random, unguessable id that the workspace serves at
``RESULT_LINK_PATH/<id>`` without a bearer token: the id is the credential, valid for ``LINK_SECONDS`` (15 minutes,
as on Databricks) and usable any number of times until then ("chunks can be resolved and fetched multiple times and
in parallel"). A fresh link for a chunk comes from ``GET /api/2.0/sql/statements/{id}/result/chunks/{n}``. An
expired link is refused with 403 naming its statement and chunk; an unknown one (never minted, or its statement was
closed or expired) with 404.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from odoolake.workspace.errors import PermissionDenied, ResourceDoesNotExist

LINK_SECONDS = 15 * 60
RESULT_LINK_PATH = "/_odoolake/sql/results"  # not under /api/: served without a bearer token
REUSE_SECONDS = LINK_SECONDS / 2  # a link with at least this much life left is handed out again, not re-minted


class ResultLinkExpired(PermissionDenied):
    """403, as cloud storage answers an expired presigned URL."""


class ResultLinkNotFound(ResourceDoesNotExist):
    pass


@dataclass(frozen=True)
class ResultLink:
    link_id: str
    statement_id: str
    chunk_index: int
    path: Path
    media_type: str
    expires: float  # seconds since the epoch

    @property
    def expiration(self) -> str:
        """ISO 8601 in UTC, as the ``expiration`` field carries it."""
        moment = dt.datetime.fromtimestamp(self.expires, dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ResultLinks:
    def __init__(self, seconds: float = LINK_SECONDS) -> None:
        self.seconds = seconds
        self._links: dict[str, ResultLink] = {}
        self._latest: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def mint(self, statement_id: str, chunk_index: int, path: Path, media_type: str) -> ResultLink:
        now = time.time()
        with self._lock:
            latest = self._links.get(self._latest.get((statement_id, chunk_index), ""))
            if latest is not None and latest.expires - now >= min(REUSE_SECONDS, self.seconds / 2):
                return latest
            link = ResultLink(secrets.token_urlsafe(32), statement_id, chunk_index, path, media_type,
                              now + self.seconds)
            self._links[link.link_id] = link
            self._latest[(statement_id, chunk_index)] = link.link_id
            return link

    def resolve(self, link_id: str) -> ResultLink:
        with self._lock:
            link = self._links.get(link_id)
        if link is None:
            raise ResultLinkNotFound(f"Result link {link_id} does not exist: its statement was closed or expired, or "
                                     "the link is mistyped. Run the statement again.")
        if time.time() >= link.expires:
            raise ResultLinkExpired(
                f"The result link for chunk {link.chunk_index} of statement {link.statement_id} expired at "
                f"{link.expiration}; get a fresh link with GET /api/2.0/sql/statements/{link.statement_id}/result/"
                f"chunks/{link.chunk_index}.")
        return link

    def forget(self, statement_id: str) -> None:
        """Every link of a statement (closed, canceled or expired) stops working."""
        with self._lock:
            for link_id in [k for k, v in self._links.items() if v.statement_id == statement_id]:
                link = self._links.pop(link_id)
                self._latest.pop((statement_id, link.chunk_index), None)

    def count(self) -> int:
        with self._lock:
            return len(self._links)
