"""N8nReplay: executes an n8n workflow's nodes the way n8n does, for tests. Not n8n.

The n8n server needs Node 24 and 2.8 GB of packages, so the default test suite replays the workflow instead.
It makes exactly the HTTP calls the workflow's nodes describe, against a real server. The node types our
workflows use are supported: schedule/manual trigger, Set (manual assignments), HTTP Request 4.x (header or
bearer credentials, query, JSON body or body fields, ``neverError``), Wait (time interval, scaled down), If 2.x
(boolean, string, number and array conditions) and No Operation. ``={{ … }}`` expressions are translated from the
small JavaScript subset the workflows use (``$json``, ``$('Node').item.json``, ``$runIndex``, ``$now.toFormat``,
``.includes``, ``||``, ``&&``, ``===``). Anything else raises ``UnsupportedN8n``, so a workflow cannot silently
outgrow its test.

Like ``n8n execute --id``, an execution starts from the workflow's Manual Trigger; a workflow without one fails
with n8n's own message ("Missing node to start execution").
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx


class UnsupportedN8n(Exception):
    pass


class N8nExecutionError(Exception):
    """What n8n itself would report (the execution fails)."""


START_TYPES = ("n8n-nodes-base.manualTrigger", "n8n-nodes-base.executeWorkflowTrigger")


class _Obj(dict):
    """JSON object with JavaScript-style attribute access (``a.b``) and ``undefined`` as None."""

    def __getattr__(self, name: str) -> Any:
        return _wrap(self.get(name))


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return _Obj(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class _Now:
    def toFormat(self, fmt: str) -> str:
        return datetime.now().strftime(fmt.replace("yyyy", "%Y").replace("MM", "%m").replace("dd", "%d"))


@dataclass
class Call:
    node: str
    method: str
    url: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int
    response: Any


@dataclass
class N8nReplay:
    workflow: dict[str, Any]
    credentials: dict[str, dict[str, Any]]  # credential id -> data, as in `n8n import:credentials`
    wait_scale: float = 0.0  # Wait nodes sleep amount * wait_scale seconds
    max_steps: int = 500
    calls: list[Call] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nodes = {n["name"]: n for n in self.workflow["nodes"]}
        self.outputs: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, int] = {}
        self.http = httpx.Client(timeout=60)

    # -- expressions -----------------------------------------------------------------------------------------

    def _js(self, expr: str, item: dict[str, Any], node: str) -> Any:
        py = expr.strip()
        py = re.sub(r"\$\('([^']+)'\)\.item\.json", lambda m: f"_node({m.group(1)!r})", py)
        py = re.sub(r"(\[[^\]]*\])\.includes\(([^()]*(?:\([^()]*\))?[^()]*)\)", r"(\2 in \1)", py)
        py = py.replace("===", "==").replace("!==", "!=").replace("&&", " and ").replace("||", " or ")
        py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", py))
        py = py.replace("$json", "_json").replace("$runIndex", "_run_index").replace("$now", "_now")
        if "$" in py or "=>" in py or "function" in py:
            raise UnsupportedN8n(f"node {node!r}: expression {expr!r} uses JavaScript the replayer does not know")
        scope = {"_json": _wrap(item), "_node": lambda name: _wrap(self.outputs[name][0]),
                 "_run_index": self.runs.get(node, 0), "_now": _Now()}
        try:
            return eval(py, {"__builtins__": {}}, scope)
        except Exception as exc:
            raise UnsupportedN8n(f"node {node!r}: cannot evaluate {expr!r} ({py!r}): {exc}") from exc

    def _value(self, raw: Any, item: dict[str, Any], node: str) -> Any:
        if not isinstance(raw, str) or not raw.startswith("="):
            return raw
        template = raw[1:]
        whole = re.fullmatch(r"\s*\{\{(.+?)\}\}\s*", template, re.S)
        if whole:
            return self._js(whole.group(1), item, node)
        return re.sub(r"\{\{(.+?)\}\}", lambda m: _text(self._js(m.group(1), item, node)), template, flags=re.S)

    # -- nodes ------------------------------------------------------------------------------------------------

    def _http(self, node: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        p, name = node["parameters"], node["name"]
        url = self._value(p["url"], item, name)
        headers: dict[str, str] = {}
        if p.get("authentication") == "genericCredentialType":
            kind = p["genericAuthType"]
            data = self.credentials[node["credentials"][kind]["id"]]
            if kind == "httpHeaderAuth":
                headers[data["name"]] = data["value"]
            elif kind == "httpBearerAuth":
                headers["Authorization"] = f"Bearer {data['token']}"
            else:
                raise UnsupportedN8n(f"node {name!r}: credential type {kind}")
        params = {}
        if p.get("sendQuery"):
            params = {q["name"]: _text(self._value(q["value"], item, name)) for q in p["queryParameters"]["parameters"]}
        body = None
        if p.get("sendBody"):
            if p.get("specifyBody") == "json":
                body = json.loads(self._value(p["jsonBody"], item, name))
            elif p.get("specifyBody") == "keypair":  # "Using Fields Below": each value is text, never parsed
                body = {f["name"]: _text(self._value(f["value"], item, name)) for f in p["bodyParameters"]["parameters"]}
            else:
                raise UnsupportedN8n(f"node {name!r}: only JSON bodies and body fields are replayed")
        timeout = (p.get("options") or {}).get("timeout", 300000) / 1000
        response = self.http.request(p.get("method", "GET"), url, params=params or None, json=body, headers=headers,
                                     timeout=timeout)
        try:
            payload = response.json()
        except ValueError:
            payload = {"data": response.text}
        self.calls.append(Call(name, p.get("method", "GET"), url, params, body, headers, response.status_code, payload))
        never_error = (((p.get("options") or {}).get("response") or {}).get("response") or {}).get("neverError")
        if response.status_code >= 400 and not never_error:  # n8n stops the execution on an HTTP error
            raise N8nExecutionError(f"node {name!r}: HTTP {response.status_code} {payload}")
        return payload if isinstance(payload, dict) else {"data": payload}

    def _if(self, node: dict[str, Any], item: dict[str, Any]) -> int:
        spec = node["parameters"]["conditions"]
        results = []
        for c in spec["conditions"]:
            left = self._value(c["leftValue"], item, node["name"])
            right = self._value(c.get("rightValue"), item, node["name"])
            op = c["operator"]
            kind, operation = op["type"], op["operation"]
            if kind == "boolean" and operation in ("true", "false"):
                results.append(bool(left) is (operation == "true"))
            elif kind == "string" and operation in ("equals", "notEquals"):
                results.append((left == right) is (operation == "equals"))
            elif kind in ("string", "array") and operation in ("empty", "notEmpty"):
                results.append((left is None or len(left) == 0) is (operation == "empty"))
            elif operation in ("exists", "notExists"):
                results.append((left is not None) is (operation == "exists"))
            else:
                raise UnsupportedN8n(f"node {node['name']!r}: operator {op}")
        ok = all(results) if spec.get("combinator", "and") == "and" else any(results)
        return 0 if ok else 1

    def _run_node(self, name: str, item: dict[str, Any]) -> tuple[dict[str, Any], int]:
        node = self.nodes[name]
        kind = node["type"]
        if kind in ("n8n-nodes-base.scheduleTrigger", "n8n-nodes-base.manualTrigger", "n8n-nodes-base.noOp"):
            return item, 0
        if kind == "n8n-nodes-base.set":
            out = {a["name"]: self._value(a["value"], item, name)
                   for a in node["parameters"]["assignments"]["assignments"]}
            return out, 0
        if kind == "n8n-nodes-base.httpRequest":
            return self._http(node, item), 0
        if kind == "n8n-nodes-base.wait":
            p = node["parameters"]
            if p.get("resume") != "timeInterval":
                raise UnsupportedN8n(f"node {name!r}: only time-interval waits are replayed")
            seconds = float(p["amount"]) * {"seconds": 1, "minutes": 60, "hours": 3600}[p.get("unit", "seconds")]
            time.sleep(seconds * self.wait_scale)
            return item, 0
        if kind == "n8n-nodes-base.if":
            return item, self._if(node, item)
        raise UnsupportedN8n(f"node {name!r}: type {kind} is not replayed")

    def run(self, start: str | None = None) -> list[str]:
        """Execute from ``start`` (default: the Manual Trigger, as ``n8n execute`` does); returns the nodes run."""
        if start is None:
            manual = [n["name"] for n in self.workflow["nodes"] if n["type"] in START_TYPES]
            if not manual:
                raise N8nExecutionError("Missing node to start execution (n8n execute starts from a Manual Trigger)")
            start = manual[0]
        current = start
        item: dict[str, Any] = {}
        for _ in range(self.max_steps):
            item, branch = self._run_node(current, item)
            self.outputs[current] = [item]
            self.executed.append(current)
            self.runs[current] = self.runs.get(current, 0) + 1
            outputs = self.workflow["connections"].get(current, {}).get("main", [])
            targets = outputs[branch] if branch < len(outputs) else []
            if not targets:
                return self.executed
            current = targets[0]["node"]
        raise RuntimeError(f"the workflow did not finish within {self.max_steps} node executions")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
