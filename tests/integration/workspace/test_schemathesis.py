"""Schemathesis against the workspace server's own OpenAPI document: generated requests to every operation (4 each,
derandomised), with a valid token, must never produce a server error. 501 NOT_IMPLEMENTED is the documented
refusal of an unsupported call; every JSON error carries the Databricks shape ``{error_code, message}``."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import running_server


def test_no_operation_fails_with_a_server_error(tmp_path):
    with running_server(tmp_path / "fuzz") as srv:
        raw = httpx.get(f"{srv.url}/_odoolake/openapi.json").json()
        schema = schemathesis.openapi.from_dict(raw)
        failures: list[str] = []
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                      database=None)
            @given(case=operation.as_strategy())
            def check(case) -> None:
                response = case.call(base_url=srv.url, headers={"Authorization": f"Bearer {srv.token}"}, timeout=120)
                where = f"{case.method} {case.formatted_path} -> {response.status_code}"
                if response.status_code in (500, 502, 503, 504):
                    failures.append(f"{where}: {response.text[:200]}")
                elif response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
                    body = response.json()
                    if not {"error_code", "message"} <= set(body):
                        failures.append(f"{where}: error without error_code/message: {body}")

            check()
        assert operations > 60
        assert not failures, "\n".join(failures[:20])
