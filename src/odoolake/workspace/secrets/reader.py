"""``dbutils.secrets`` behind one function: where a notebook's secret comes from.

- In a job task: from the workspace, through the task's credential (grants.py). The task process has no other
  way to a secret: the server's environment and the sealing key are not passed to it.
- In a local run by the machine's owner (``odoolake notebook run``, the demo): from the local workspace's store,
  then from the environment (``ODOOLAKE_SECRET_<SCOPE>_<KEY>``, upper-case, ``-``/``.`` → ``_``) for development.
Every value read is remembered for redaction in this process.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request

from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError
from odoolake.workspace.secrets.grants import CREDENTIAL_ENV, IN_TASK_ENV, WORKSPACE_URL_ENV
from odoolake.workspace.secrets.redaction import remember

ENV_PREFIX = "ODOOLAKE_SECRET_"
SECRET_REF = re.compile(r"\{\{\s*secrets/([\w.@-]+)/([\w.@-]+)\s*\}\}")
TASK_ROUTE = "/_odoolake/task/secrets"


class SecretNotFound(OdoolakeError):
    pass


def env_name(scope: str, key: str) -> str:
    return f"{ENV_PREFIX}{scope}_{key}".upper().replace("-", "_").replace(".", "_")


def _from_workspace(action: str, params: dict[str, str]) -> dict:
    url = os.environ[WORKSPACE_URL_ENV].rstrip("/") + f"{TASK_ROUTE}/{action}?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {os.environ[CREDENTIAL_ENV]}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", str(exc))
        except ValueError:
            message = str(exc)
        raise SecretNotFound(message) from None
    except OSError as exc:
        raise SecretNotFound(f"The workspace did not answer a secret request ({exc}).") from None


def _local_store(paths: WorkspacePaths):
    if os.environ.get(IN_TASK_ENV):
        raise SecretNotFound("This task runs without a principal, so it cannot read secrets; give the job a run_as "
                             "or create it through the API.")
    db_file = paths.home / "workspace.db"
    if not db_file.exists():
        return None
    from odoolake.workspace.db import Database
    from odoolake.workspace.secrets.store import SecretStore

    return SecretStore(Database(db_file), paths.home)


def get_bytes(scope: str, key: str, paths: WorkspacePaths | None = None) -> bytes:
    if os.environ.get(CREDENTIAL_ENV):
        value = base64.b64decode(_from_workspace("get", {"scope": scope, "key": key})["value"])
    else:
        value = _get_local(scope, key, paths or WorkspacePaths.from_env())
    remember(value.decode("utf-8", errors="replace"))
    return value


def _get_local(scope: str, key: str, paths: WorkspacePaths) -> bytes:
    from odoolake.workspace.errors import ApiError
    from odoolake.workspace.secrets.store import Caller

    store = _local_store(paths)
    if store is not None:
        try:
            return store.get(scope, key, Caller("owner", is_admin=True))
        except ApiError:
            pass
    value = os.environ.get(env_name(scope, key))
    if value is None:
        raise SecretNotFound(f"Secret {scope}/{key} is not set: put it with `databricks secrets put-secret {scope} "
                             f"{key}` (or w.secrets.put_secret), or for a local run set {env_name(scope, key)}.")
    return value.encode()


def get_secret(scope: str, key: str, paths: WorkspacePaths | None = None) -> str:
    return get_bytes(scope, key, paths).decode("utf-8")


def list_keys(scope: str, paths: WorkspacePaths | None = None) -> list[str]:
    if os.environ.get(CREDENTIAL_ENV):
        return [s["key"] for s in _from_workspace("list", {"scope": scope})["secrets"]]
    from odoolake.workspace.errors import ApiError
    from odoolake.workspace.secrets.store import Caller

    store = _local_store(paths or WorkspacePaths.from_env())
    keys: list[str] = []
    if store is not None:
        try:
            keys = [s["key"] for s in store.list_secrets(scope, Caller("owner", is_admin=True))]
        except ApiError:
            keys = []
    prefix = env_name(scope, "")
    return keys + [name[len(prefix):].lower() for name in os.environ if name.startswith(prefix)]


def list_scopes(paths: WorkspacePaths | None = None) -> list[str]:
    """The names of the workspace's secret scopes (in a task, through the workspace; in a local run, its store)."""
    if os.environ.get(CREDENTIAL_ENV):
        return [s["name"] for s in _from_workspace("scopes", {})["scopes"]]
    store = _local_store(paths or WorkspacePaths.from_env())
    return [s["name"] for s in store.scopes()] if store is not None else []


def resolve_refs(text: str, paths: WorkspacePaths | None = None) -> str:
    """``{{secrets/scope/key}}`` replaced by the secret (inside the task process only)."""
    return SECRET_REF.sub(lambda m: get_secret(m.group(1), m.group(2), paths), text)
