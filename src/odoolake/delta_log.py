"""What was appended to a Delta table after a given version, read from its transaction log.

This is how the local streaming tables of ``odoolake.dlt`` process only new data: every commit after the
checkpoint is read, and its ``add`` actions with ``dataChange: true`` are the new rows' files. Compaction
(``OPTIMIZE``: ``dataChange: false``) is skipped. A commit that removes data (``DELETE``, ``UPDATE``, ``MERGE``,
an overwrite) cannot be expressed as an append, and is reported instead of silently re-reading or losing rows,
as Databricks does for a streaming source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from odoolake.errors import OdoolakeError


class NonAppendChange(OdoolakeError):
    def __init__(self, table: str, version: int, operation: str) -> None:
        self.table, self.version, self.operation = table, version, operation
        super().__init__(f"{table} changed in place at version {version} ({operation}): a streaming table can only "
                         "follow appends. Run the pipeline with a full refresh to rebuild from the whole source.")


class LogGap(OdoolakeError):
    pass


@dataclass
class Appended:
    version: int  # the table's latest version, the next checkpoint
    files: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)  # (absolute path, partition values)


def _local_dir(location: str) -> Path:
    parsed = urlparse(location)
    return Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else Path(location)


def latest_version(location: str) -> int:
    from deltalake import DeltaTable

    return DeltaTable(location).version()


def appended_since(table: str, location: str, version: int) -> Appended:
    """Files appended after ``version`` up to the latest version of the table at ``location``."""
    root = _local_dir(location)
    latest = latest_version(location)
    out = Appended(latest)
    for v in range(version + 1, latest + 1):
        commit = root / "_delta_log" / f"{v:020d}.json"
        if not commit.is_file():
            raise LogGap(f"{table}: commit {v} is no longer in the Delta log (log retention); the streaming "
                         "checkpoint cannot be continued. Run the pipeline with a full refresh.")
        operation = "unknown"
        adds = []
        for line in commit.read_text().splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "commitInfo" in action:
                operation = action["commitInfo"].get("operation", operation)
            elif "remove" in action and action["remove"].get("dataChange", True):
                raise NonAppendChange(table, v, operation if operation != "unknown" else "remove")
            elif "add" in action and action["add"].get("dataChange", True):
                add = action["add"]
                adds.append((str(root / unquote(add["path"])), add.get("partitionValues") or {}))
        out.files.extend(adds)
    return out
