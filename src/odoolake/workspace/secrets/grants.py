"""Task credentials: what a task process uses to read secrets, and nothing else.

The runner issues one per task attempt, for the run's principal (``run_as``, else who created the job or
submitted the run), and revokes it when the process ends. Through it a task reads exactly the secrets it asks
for (``dbutils.secrets.get`` or ``{{secrets/scope/key}}``), with that principal's READ permission; the server
records each value it hands out on the grant, so the runner can redact every byte the task writes.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

from odoolake.workspace.secrets.redaction import Redactor

CREDENTIAL_PREFIX = "dtask"
CREDENTIAL_ENV = "ODOOLAKE_TASK_CREDENTIAL"
WORKSPACE_URL_ENV = "ODOOLAKE_WORKSPACE_URL"
IN_TASK_ENV = "ODOOLAKE_IN_TASK"  # set for every task process: it never reads the local store as the owner


@dataclass
class TaskGrant:
    credential: str
    principal: str
    redactor: Redactor = field(default_factory=Redactor)


class TaskGrants:
    def __init__(self) -> None:
        self._grants: dict[str, TaskGrant] = {}
        self._lock = threading.Lock()

    def issue(self, principal: str) -> TaskGrant:
        grant = TaskGrant(CREDENTIAL_PREFIX + secrets.token_hex(24), principal)
        grant.redactor.add(grant.credential)  # the credential itself never shows in the task's output
        with self._lock:
            self._grants[grant.credential] = grant
        return grant

    def lookup(self, credential: str | None) -> TaskGrant | None:
        if not credential or not credential.startswith(CREDENTIAL_PREFIX):
            return None
        with self._lock:
            return self._grants.get(credential)

    def revoke(self, grant: TaskGrant) -> None:
        with self._lock:
            self._grants.pop(grant.credential, None)
