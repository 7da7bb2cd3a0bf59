"""FakeOdooServer: a protocol-level fake of an Odoo server's external API, for tests. Not Odoo.

No Odoo server can be installed on the machines this project is built on, so the extraction client is tested
against this fake. It speaks the wire protocols as Odoo documents them:

- **JSON-2** (Odoo 19+): ``POST /json/2/<model>/<method>`` with named arguments, ``Authorization: bearer <key>``,
  errors as ``{name, message, arguments, context, debug}`` with 401/403/404/422/500; ``GET /web/version``.
- **JSON-RPC** (Odoo 16-18): ``POST /jsonrpc`` with the ``common`` (``version``, ``login``, ``authenticate``) and
  ``object`` (``execute_kw``) services; errors as ``{"error": {"code": 200, "message": "Odoo Server Error",
  "data": {name, message, arguments, debug}}}``.

Records live in memory per model with server-maintained ``write_date`` (UTC, from an injectable clock), kept to
the microsecond and answered cut to the second, as Odoo stores and serializes it (a domain compares the stored
value: ``= '… 10:00:00'`` matches only ``.000000``). Supported ORM methods: ``search_read``, ``search``,
``search_count``, ``read``, ``fields_get``, ``write``, ``create``, ``unlink``, with domains in Polish notation (``|``,
``&``, ``!``; ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``, ``like``, ``ilike``), ``order``,
``limit``, ``offset`` and the ``active_test`` context key. Faults (timeouts, 5xx, 429) can be injected per model and
method.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ODOO_VERSION = {17: "17.0", 18: "18.0", 19: "19.0"}


class OdooFault(Exception):
    """An error the fake answers with, in Odoo's naming (``odoo.exceptions.AccessError`` …)."""

    def __init__(self, name: str, message: str, status: int) -> None:
        self.name, self.message, self.status = name, message, status
        super().__init__(message)


@dataclass
class Fault:
    kind: str  # timeout | http_500 | http_429 | http_503
    remaining: int
    model: str | None = None
    method: str | None = None
    seconds: float = 5.0


@dataclass
class FakeModel:
    name: str
    fields: dict[str, str]  # field -> Odoo type
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    readable: bool = True


DATETIME_FIELDS = ("write_date", "create_date")


def _now_text(clock: Callable[[], float]) -> str:
    """Odoo's ``cr.now()``: the UTC time to the microsecond (a PostgreSQL ``timestamp``)."""
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _infer_type(name: str, value: Any) -> str:
    if name == "id":
        return "integer"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
        return "many2one"
    if isinstance(value, list):
        return "one2many" if name == "line_ids" else "many2many"
    if name.endswith("date") and isinstance(value, str) and len(value) == 10:
        return "date"
    if name in ("write_date", "create_date"):
        return "datetime"
    return "char"


class FakeOdoo:
    """The database behind the fake server: models, credentials, clock and faults."""

    def __init__(self, version: int = 19, database: str = "odoo", login: str = "admin", api_key: str = "fake-key",
                 clock: Callable[[], float] = time.time) -> None:
        self.version = version
        self.database = database
        self.login = login
        self.api_key = api_key
        self.uid = 2
        self.clock = clock
        self.models: dict[str, FakeModel] = {}
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str, str]] = []  # (protocol, model, method)
        self._lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------------------------------

    def add_model(self, name: str, records: Iterable[dict[str, Any]], extra_fields: dict[str, str] | None = None) -> None:
        model = FakeModel(name, {"id": "integer", "write_date": "datetime", "create_date": "datetime"})
        for rec in records:
            rec = dict(rec)
            for key, value in rec.items():
                if value is not False and value is not None and key not in model.fields:
                    model.fields[key] = _infer_type(key, value)
            rec.setdefault("write_date", _now_text(self.clock))
            model.records[int(rec["id"])] = rec
        for key, kind in (extra_fields or {}).items():
            model.fields.setdefault(key, kind)
        self.models[name] = model

    @classmethod
    def from_raw(cls, raw_root: Path, version: int = 19, **kwargs: Any) -> FakeOdoo:
        """A database holding the current state of generated raw drops (``odoolake.datagen``): the latest version
        of each record, without tombstoned or malformed ones."""
        from odoolake.pipeline.schemas import RAW_MODELS

        db = cls(version=version, **kwargs)
        for raw in RAW_MODELS:
            latest: dict[int, dict[str, Any]] = {}
            for path in sorted((raw_root / raw.name).glob("*.jsonl")):
                for line in path.read_text().splitlines():
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if not isinstance(rec, dict) or "id" not in rec:
                        continue
                    old = latest.get(rec["id"])
                    if old is None or str(rec.get("write_date", "")) >= str(old.get("write_date", "")):
                        latest[rec["id"]] = rec
            records = [r for r in latest.values() if not r.get("_deleted")]
            declared = {name: "char" for name, _ in raw.fields if name != "_deleted"}
            if raw.odoo_model == "account.move" and version < 18:  # 18 renamed payment_id to origin_payment_id
                declared["payment_id"] = declared.pop("origin_payment_id")
                for r in records:
                    r["payment_id"] = r.pop("origin_payment_id", False)
            db.add_model(raw.odoo_model, records, declared)
        return db

    def merge_partners(self, sources: Iterable[int], target: int) -> None:
        """What Odoo's Contacts → Merge does (``base.partner.merge.automatic.wizard``): every many2one naming a
        source partner is re-pointed to the target with plain SQL (``_update_foreign_keys``), so no ``write_date``
        moves, and the source partners are then deleted."""
        sources = set(sources)
        partners = self.models["res.partner"].records
        name = partners[target].get("name") or ""
        with self._lock:
            for model in self.models.values():
                for rec in model.records.values():
                    for key in ("partner_id", "commercial_partner_id"):
                        value = rec.get(key)
                        if isinstance(value, list) and value and value[0] in sources:
                            rec[key] = [target, name]
            for source in sources:
                partners.pop(source, None)

    def inject(self, kind: str, times: int = 1, model: str | None = None, method: str | None = None,
               seconds: float = 5.0) -> None:
        self.faults.append(Fault(kind, times, model, method, seconds))

    # -- ORM -------------------------------------------------------------------------------------------------

    def _model(self, name: str) -> FakeModel:
        model = self.models.get(name)
        if model is None:
            if self.version < 19:  # odoo/service/model.py (16-18): a UserError, answered over JSON-RPC
                raise OdooFault("odoo.exceptions.UserError", f"Object {name} doesn't exist", 200)
            raise OdooFault("werkzeug.exceptions.NotFound", f"the model {name!r} does not exist", 404)
        if not model.readable:
            raise OdooFault("odoo.exceptions.AccessError",
                            f"You are not allowed to access '{name}' ({name}) records.", 403)
        return model

    def _check_fields(self, model: FakeModel, names: Iterable[str]) -> None:
        for name in names:
            if name not in model.fields:
                raise OdooFault("builtins.ValueError", f"Invalid field {name!r} on model {model.name!r}", 422)

    def _match(self, rec: dict[str, Any], domain: list) -> bool:
        def leaf(term: list) -> bool:
            name, op, value = term
            have = rec.get(name, False)
            if isinstance(have, list) and len(have) == 2 and isinstance(have[1], str) and not isinstance(value, list):
                have = have[0]
            if op == "=":
                return have == value or (value is False and have in (None, False))
            if op == "!=":
                return not (have == value or (value is False and have in (None, False)))
            if op in ("in", "not in"):
                hit = (have in value) if not isinstance(have, list) else bool(set(have) & set(value))
                return hit if op == "in" else not hit
            if op in ("like", "ilike"):
                a, b = str(have or ""), str(value)
                return (b.lower() in a.lower()) if op == "ilike" else (b in a)
            if have in (None, False):
                return False
            return {"<": have < value, "<=": have <= value, ">": have > value, ">=": have >= value}[op]

        def parse(i: int) -> tuple[bool, int]:
            token = domain[i]
            if token == "!":
                value, j = parse(i + 1)
                return not value, j
            if token in ("|", "&"):
                left, j = parse(i + 1)
                right, k = parse(j)
                return (left or right) if token == "|" else (left and right), k
            if not isinstance(token, (list, tuple)) or len(token) != 3:
                raise OdooFault("builtins.ValueError", f"Invalid leaf {token!r}", 422)
            return leaf(list(token)), i + 1

        result, i = True, 0
        while i < len(domain):  # implicit '&' between top-level terms
            value, i = parse(i)
            result = result and value
        return result

    def _search(self, model: FakeModel, domain: list, context: dict | None, order: str | None) -> list[dict]:
        for term in domain or []:
            if isinstance(term, (list, tuple)) and len(term) == 3:
                self._check_fields(model, [term[0]])
        active_test = (context or {}).get("active_test", True)
        rows = [r for r in model.records.values()
                if self._match(r, list(domain or []))
                and not (active_test and "active" in model.fields and r.get("active") is False)]
        keys: list[tuple[str, bool]] = []
        for part in (order or "id asc").split(","):
            bits = part.strip().split()
            if bits:
                keys.append((bits[0], len(bits) > 1 and bits[1].lower() == "desc"))
        for name, desc in reversed(keys):
            rows.sort(key=lambda r, n=name: (r.get(n) is None or r.get(n) is False, r.get(n) or ""),  # type: ignore[misc]
                      reverse=desc)  # mypy cannot infer a lambda with a bound default (python/mypy#4226)
        return rows

    @staticmethod
    def _project(rec: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
        """A record as the RPC answers it: datetimes to the second (``fields.Datetime.to_string``)."""
        out = dict(rec) if not fields else {"id": rec["id"], **{name: rec.get(name, False) for name in fields}}
        for name in DATETIME_FIELDS:
            if isinstance(out.get(name), str):
                out[name] = out[name][:19]
        return out

    def execute(self, model_name: str, method: str, args: list, kwargs: dict) -> Any:
        model = self._model(model_name)
        context = kwargs.get("context") or {}
        if method == "fields_get":
            wanted = kwargs.get("attributes") or ["type", "string"]
            return {name: {k: v for k, v in {"type": kind, "string": name.replace("_", " ").title()}.items()
                           if k in wanted} for name, kind in model.fields.items()}
        if method in ("search_read", "search", "search_count"):
            domain = kwargs.get("domain", args[0] if args else [])
            rows = self._search(model, domain, context, kwargs.get("order"))
            if method == "search_count":
                return len(rows)
            offset, limit = int(kwargs.get("offset") or 0), kwargs.get("limit")
            rows = rows[offset: offset + int(limit)] if limit else rows[offset:]
            if method == "search":
                return [r["id"] for r in rows]
            fields = kwargs.get("fields", args[1] if len(args) > 1 else None)
            self._check_fields(model, fields or [])
            return [self._project(r, fields) for r in rows]
        if method == "read":
            ids = kwargs.get("ids", args[0] if args else [])
            fields = kwargs.get("fields", args[1] if len(args) > 1 else None)
            self._check_fields(model, fields or [])
            return [self._project(model.records[i], fields) for i in ids if i in model.records]
        if method == "write":
            ids = kwargs.get("ids", args[0] if args else [])
            vals = kwargs.get("vals", args[1] if len(args) > 1 else {})
            self._check_fields(model, vals)
            missing = [i for i in ids if i not in model.records]
            if missing:
                raise OdooFault("odoo.exceptions.MissingError",
                                f"Record does not exist or has been deleted. (Record: {model_name}({missing[0]},))", 404)
            stamp = _now_text(self.clock)
            for i in ids:
                model.records[i].update(vals, write_date=stamp)
            return True
        if method == "create":
            vals_list = kwargs.get("vals_list", args[0] if args else [])
            vals_list = vals_list if isinstance(vals_list, list) else [vals_list]
            new_ids = []
            for vals in vals_list:
                self._check_fields(model, vals)
                new_id = max(model.records, default=0) + 1
                stamp = _now_text(self.clock)
                model.records[new_id] = {**vals, "id": new_id, "write_date": stamp, "create_date": stamp}
                new_ids.append(new_id)
            return new_ids
        if method == "unlink":
            for i in kwargs.get("ids", args[0] if args else []):
                model.records.pop(i, None)
            return True
        raise OdooFault("builtins.AttributeError", f"The method '{method}' does not exist on the model '{model_name}'",
                        422)

    def _fault_for(self, model: str, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.model in (None, model) and fault.method in (None, method):
                    fault.remaining -= 1
                    return fault
        return None

    def call(self, protocol: str, model: str, method: str, args: list, kwargs: dict) -> Any:
        fault = self._fault_for(model, method)
        if fault is not None:
            if fault.kind == "timeout":
                time.sleep(fault.seconds)
            else:
                status = int(fault.kind.split("_")[1])
                raise OdooFault("werkzeug.exceptions.HTTPException", f"injected HTTP {status}", status)
        with self._lock:
            self.calls.append((protocol, model, method))
            return self.execute(model, method, args, kwargs)


def _handler(db: FakeOdoo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # the client may have given up (the timeout tests do this on purpose); Odoo just logs it
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:
            if self.path == "/web/version":
                self._send(200, {"version": ODOO_VERSION.get(db.version, f"{db.version}.0"),
                                 "version_info": [db.version, 0, 0, "final", 0, ""]})
            else:
                self._send(404, {"name": "werkzeug.exceptions.NotFound", "message": "Not Found"})

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError:
                self._send(400, {"name": "werkzeug.exceptions.BadRequest", "message": "Invalid JSON"})
                return
            if self.path.startswith("/json/2/"):
                self._json2(body)
            elif self.path == "/jsonrpc":
                self._jsonrpc(body)
            else:
                self._send(404, {"name": "werkzeug.exceptions.NotFound", "message": "Not Found"})

        def _json2(self, body: dict) -> None:
            if db.version < 19:
                self._send(404, {"name": "werkzeug.exceptions.NotFound", "message": "Not Found"})
                return
            auth = self.headers.get("Authorization", "")
            if auth[:7].lower() != "bearer " or auth[7:].strip() != db.api_key:
                self._send(401, {"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey",
                                 "arguments": ["Invalid apikey", 401], "context": {}, "debug": ""})
                return
            _, _, _, model, method = self.path.split("/", 4)
            try:
                result = db.call("json2", model, method, [], body if isinstance(body, dict) else {})
            except OdooFault as fault:
                self._send(fault.status, {"name": fault.name, "message": fault.message,
                                          "arguments": [fault.message], "context": {}, "debug": ""})
                return
            self._send(200, result)

        def _jsonrpc(self, body: dict) -> None:
            params = body.get("params") or {}
            service, method, args = params.get("service"), params.get("method"), params.get("args") or []
            request_id = body.get("id")

            def error(name: str, message: str) -> None:
                self._send(200, {"jsonrpc": "2.0", "id": request_id, "error": {
                    "code": 200, "message": "Odoo Server Error",
                    "data": {"name": name, "message": message, "arguments": [message], "debug": ""}}})

            if service == "common" and method == "version":
                self._send(200, {"jsonrpc": "2.0", "id": request_id, "result": {
                    "server_version": ODOO_VERSION.get(db.version), "server_version_info": [db.version, 0, 0],
                    "protocol_version": 1}})
                return
            if service == "common" and method in ("login", "authenticate"):
                ok = len(args) >= 3 and args[0] == db.database and args[1] == db.login and args[2] == db.api_key
                self._send(200, {"jsonrpc": "2.0", "id": request_id, "result": db.uid if ok else False})
                return
            if service != "object" or method != "execute_kw":
                error("werkzeug.exceptions.NotFound", f"unknown service/method {service}.{method}")
                return
            if len(args) < 5:
                error("builtins.TypeError", "execute_kw() missing required arguments")
                return
            dbname, uid, password, model, orm_method = args[:5]
            call_args = args[5] if len(args) > 5 else []
            call_kwargs = args[6] if len(args) > 6 else {}
            if dbname != db.database or uid != db.uid or password != db.api_key:
                error("odoo.exceptions.AccessDenied", "Access Denied")
                return
            try:
                result = db.call("jsonrpc", model, orm_method, call_args, call_kwargs)
            except OdooFault as fault:
                if fault.status in (429, 500, 502, 503):
                    self._send(fault.status, {"message": fault.message})
                    return
                error(fault.name, fault.message)
                return
            self._send(200, {"jsonrpc": "2.0", "id": request_id, "result": result})

    return Handler


class FakeOdooServer:
    """``with FakeOdooServer(db) as server: server.url`` — the fake on a free loopback port, in a thread."""

    def __init__(self, db: FakeOdoo) -> None:
        self.db = db
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(db))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOdooServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
