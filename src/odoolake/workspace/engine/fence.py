"""Fencing a stopped write: once a run is stopped, nothing its engine work started may commit.

Interrupting the operation in Sail stops the work, but not at a point of our choosing: Sail acts on an interrupt
only when the running batch yields (a Python UDF's batch cannot be cut short), so under load a stopped write can
still reach its commit. The fence removes that race from the commit protocol itself. It commits a metadata-only
change to the table (one table property, no data) while the stopped write still holds the table's write lock.
Every Delta writer checks, before its own commit, whether a newer version appeared since the snapshot it read:

* a blind append then finds the fence's ``metaData`` action and fails with "Metadata changed since last commit";
* any other write (overwrite, replaceWhere, DML) is not retried at all and fails.

Either way the stopped write's files stay unreferenced (VACUUM removes them) and the table's rows are those of the
last commit before the fence. If the stopped write had already committed, the fence lands after it and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

LOG = logging.getLogger(__name__)

FENCE_PROPERTY = "odoolake.interruptedWrite"  # the table property the fence sets: when, and which operation


@dataclass(frozen=True)
class Fence:
    location: str
    version: int  # the fence's own commit
    value: str  # what it set FENCE_PROPERTY to


def fence_table(location: str, operation: str) -> Fence | None:
    """Commit the fence on the Delta table at ``location``; None when there is no table there yet (a write that
    creates its table is not recorded in the catalog unless it succeeds)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(location)
    except TableNotFoundError:
        return None
    value = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {operation}"
    table.alter.set_table_properties({FENCE_PROPERTY: value}, raise_if_not_exists=False)
    LOG.info("fenced %s at version %d against stopped operation %s", location, table.version(), operation)
    return Fence(location, table.version(), value)
