"""The engine proxy's rules on a plan too deep for upb that names many sources, before and after a change, interleaved.

    python bench/deep_sources.py --baseline-src /tmp/base/src [--rounds 3] [--calls 3]

A worker (``ab.py``: this tree's ``src`` or ``--baseline-src``, fresh processes, alternating) builds an
``ExecutePlanRequest`` whose plan is a union of N ``dbfs:/`` csv reads under 160 stacked filters (past upb's 100
levels, so the proxy walks its wire format and rewrites each read's path), and times ``PlanRewriter.prepare_deep`` on
it ``--calls`` times for N = 4, 64 and 256 (256 is the most a deep plan may name). Reported: the median wall time
per call, in ms. The rules run on the engine host's Python threads, under its GIL, so this is time every other client
of the host waits too.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from typing import Any

import ab

SOURCES = (4, 64, 256)
MEASURES = tuple(f"sources_{n}" for n in SOURCES)
FILTERS = 160


def condition(level: int) -> Any:
    """``c >= level``: a small condition for each stacked filter."""
    from odoolake.workspace.engine.protos import relations_pb2

    expr = relations_pb2.Filter().condition
    expr.unresolved_function.function_name = ">="
    expr.unresolved_function.arguments.add().unresolved_attribute.unparsed_identifier = "c"
    expr.unresolved_function.arguments.add().literal.integer = level
    return expr


def worker(calls: int) -> None:
    from odoolake.config import WorkspacePaths
    from odoolake.testing.deep_plans import deep_request
    from odoolake.workspace.catalog.store import CatalogStore
    from odoolake.workspace.db import Database
    from odoolake.workspace.engine.access import AccessRules
    from odoolake.workspace.engine.identity import Principal
    from odoolake.workspace.engine.protos import base_pb2
    from odoolake.workspace.engine.rewrite import Call, PlanRewriter
    from odoolake.workspace.identity.roles import DEVELOPER, Roles

    owner = "owner@localhost"
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = WorkspacePaths.from_env(tmp).ensure()
        roles = Roles(Database(paths.home / "workspace.db"), owner)
        rewriter = PlanRewriter(CatalogStore(paths, owner), None, AccessRules(paths, roles))  # type: ignore[arg-type]
        call = Call(Principal("dev@localhost", DEVELOPER), "bench")
        for n in SOURCES:
            request = deep_request([f"dbfs:/raw/{i}.csv" for i in range(n)], FILTERS, condition, "bench")
            walls = []
            for _ in range(calls):
                started = time.perf_counter()
                rewriter.prepare_deep(request, base_pb2.ExecutePlanRequest, call)
                walls.append((time.perf_counter() - started) * 1000)
            report[f"sources_{n}"] = round(statistics.median(walls), 1)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    ab.main(__file__, __doc__, worker, MEASURES, ("calls", 3), rounds=3)
