"""One client, two transports: JSON-2 for Odoo 19+ and JSON-RPC (``execute_kw``) for 16-18.

Calls are made with named arguments (``search_read(model, domain=…, fields=…)``) and mapped to each protocol.
Every call is rate-limited (``max_rps``) and retried with exponential backoff on timeouts, dropped connections,
429 and 502-504; errors that retrying cannot fix (credentials, access, a missing model or field) fail at once.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from odoolake.odoo.errors import OdooAccessError, OdooAuthError, OdooError, OdooMissingError, OdooUnavailable

LOG = logging.getLogger(__name__)
RETRY_STATUS = (429, 502, 503, 504)
# execute_kw passes these arguments positionally; JSON-2 only accepts them by name.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "search_read": ("domain",), "search": ("domain",), "search_count": ("domain",), "read": ("ids",),
    "write": ("ids", "vals"), "create": ("vals_list",), "unlink": ("ids",), "fields_get": (),
}


@dataclass(frozen=True)
class OdooSettings:
    url: str
    api_key: str = field(repr=False)  # never printed
    database: str | None = None
    login: str | None = None  # JSON-RPC only
    protocol: str = "auto"  # auto | json2 | jsonrpc
    timeout: float = 30.0
    max_rps: float = 10.0
    retries: int = 3
    backoff: float = 0.5

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> OdooSettings:
        """``ODOO_URL``, ``ODOO_API_KEY``, ``ODOO_DB``, ``ODOO_LOGIN``, ``ODOO_PROTOCOL`` (the key may instead come
        from a secret scope: pass ``api_key=dbutils.secrets.get("odoo", "api_key")``)."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {"url": env.get("ODOO_URL"), "api_key": env.get("ODOO_API_KEY"),
                                  "database": env.get("ODOO_DB"), "login": env.get("ODOO_LOGIN"),
                                  "protocol": env.get("ODOO_PROTOCOL", "auto")}
        values.update({k: v for k, v in overrides.items() if v is not None})
        missing = [name for name, key in (("ODOO_URL", "url"), ("ODOO_API_KEY", "api_key")) if not values.get(key)]
        if missing:
            raise OdooError(f"Odoo connection settings missing: {', '.join(missing)} (set them in the environment, "
                            "or read the key from a secret scope)")
        return cls(**values)


def settings_from_notebook(dbutils: Any) -> OdooSettings | None:
    """Connection settings inside a job task: the ``odoo_url``/``odoo_db``/``odoo_login`` widgets, the API key from
    the secret scope named by the ``secret_scope`` widget (key ``api_key``), each falling back to the environment.
    None when no Odoo connection is configured (the tasks then say so and skip)."""

    def widget(name: str) -> str | None:
        try:
            return dbutils.widgets.get(name) or None
        except Exception:
            return None

    def secret(key: str) -> str | None:
        try:
            return dbutils.secrets.get(widget("secret_scope") or "odoo", key)
        except Exception:
            return None

    url = widget("odoo_url") or os.environ.get("ODOO_URL") or secret("url")
    api_key = secret("api_key") or os.environ.get("ODOO_API_KEY")
    if not url or not api_key:
        return None
    return OdooSettings.from_env(url=url, api_key=api_key, database=widget("odoo_db"), login=widget("odoo_login"))


class _RateLimiter:
    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


def _error_for(name: str, message: str, where: str) -> OdooError:
    text = f"{where}: {message}"
    if name.endswith(("AccessDenied", "Unauthorized")):
        return OdooAuthError(f"{where}: Odoo refused the credentials ({message}). Check the login and API key "
                             "(API keys expire; create a new one under Preferences → Account Security).")
    if name.endswith("AccessError"):
        return OdooAccessError(text)
    if name.endswith(("NotFound", "MissingError")) or "Invalid field" in message or \
            any(words in message for words in ("does not exist", "doesn't exist")):  # 16-18: "Object x doesn't exist"
        return OdooMissingError(text)
    return OdooError(f"{text} ({name})")


class OdooClient:
    def __init__(self, settings: OdooSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self._http = http or httpx.Client(timeout=settings.timeout)
        self._limiter = _RateLimiter(settings.max_rps)
        self.protocol = settings.protocol
        self.version: int | None = None
        self._uid: int | None = None
        if self.protocol == "auto":
            self.version = self._server_version()
            self.protocol = "json2" if self.version >= 19 else "jsonrpc"
        if self.protocol == "jsonrpc":
            if not settings.database or not settings.login:
                raise OdooError(f"{self.url}: JSON-RPC (Odoo 16-18) needs the database and login (ODOO_DB, ODOO_LOGIN)")
            self._uid = self._authenticate()

    def __repr__(self) -> str:
        return f"OdooClient({self.url!r}, protocol={self.protocol!r})"

    def close(self) -> None:
        self._http.close()

    # -- transport ------------------------------------------------------------------------------------------

    def _send(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange with rate limiting and retries; returns the final response (any status)."""
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            self._limiter.wait()
            try:
                response = self._http.request(method, self.url + path, **kwargs)
            except httpx.TimeoutException:
                problem = f"no answer within {self.settings.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code not in RETRY_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
                if retry_after and retry_after.isdigit() and attempt < attempts:
                    time.sleep(min(float(retry_after), 60))
                    continue
            if attempt == attempts:
                raise OdooUnavailable(f"{self.url} {what}: {problem} after {attempts} attempt(s)")
            delay = self.settings.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)
            LOG.warning("%s %s: %s; retrying in %.1f s (attempt %d of %d)", self.url, what, problem, delay, attempt,
                        attempts)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _server_version(self) -> int:
        response = self._send("GET /web/version", "GET", "/web/version")
        if response.status_code == 200:
            info = response.json().get("version_info") or [0]
            return int(info[0])
        common = self._jsonrpc("common", "version", [])  # older servers: common.version
        return int((common.get("server_version_info") or [0])[0])

    def _jsonrpc(self, service: str, method: str, args: list, what: str | None = None) -> Any:
        body = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args},
                "id": random.randint(1, 1 << 30)}
        where = what or f"{service}.{method}"
        response = self._send(where, "POST", "/jsonrpc", json=body)
        if response.status_code != 200:
            raise OdooError(f"{self.url} {where}: HTTP {response.status_code}")
        payload = response.json()
        if "error" in payload:
            data = payload["error"].get("data") or {}
            raise _error_for(data.get("name", ""), data.get("message") or payload["error"].get("message", ""),
                             f"{self.url} {where}")
        return payload.get("result")

    def _authenticate(self) -> int:
        s = self.settings
        uid = self._jsonrpc("common", "authenticate", [s.database, s.login, s.api_key, {}])
        if not uid:
            raise OdooAuthError(f"{self.url}: Odoo refused the credentials for login {s.login!r} on database "
                                f"{s.database!r}. Check the login and API key.")
        return int(uid)

    # -- ORM calls ------------------------------------------------------------------------------------------

    def call(self, model: str, method: str, **named: Any) -> Any:
        what = f"{model}.{method}"
        if self.protocol == "json2":
            headers = {"Authorization": f"bearer {self.settings.api_key}"}
            if self.settings.database:
                headers["X-Odoo-Database"] = self.settings.database
            response = self._send(what, "POST", f"/json/2/{model}/{method}", json=named, headers=headers)
            if response.status_code == 200:
                return response.json()
            try:
                error = response.json()
            except ValueError:
                error = response.text[:200]
            if not isinstance(error, dict):  # some JSON-2 builds answer the message alone, as a JSON string
                error = {"name": f"HTTP {response.status_code}", "message": str(error)}
            raise _error_for(str(error.get("name", "")), str(error.get("message", "")), f"{self.url} {what}")
        positional = POSITIONAL.get(method, ())
        args = [named.pop(name) for name in positional if name in named]
        s = self.settings
        return self._jsonrpc("object", "execute_kw", [s.database, self._uid, s.api_key, model, method, args, named],
                             what)

    def search_read(self, model: str, domain: list, fields: list[str], limit: int | None = None,
                    order: str | None = None, context: dict | None = None) -> list[dict[str, Any]]:
        named: dict[str, Any] = {"domain": domain, "fields": fields}
        if limit:
            named["limit"] = limit
        if order:
            named["order"] = order
        if context:
            named["context"] = context
        return self.call(model, "search_read", **named)

    def search(self, model: str, domain: list, context: dict | None = None) -> list[int]:
        return self.call(model, "search", domain=domain, **({"context": context} if context else {}))

    def fields_get(self, model: str) -> dict[str, dict[str, Any]]:
        return self.call(model, "fields_get", attributes=["type", "string"])

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> bool:
        return self.call(model, "write", ids=ids, vals=vals)
