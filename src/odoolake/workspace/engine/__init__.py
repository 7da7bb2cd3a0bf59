"""The embedded Spark engine: Sail behind Spark Connect, with a Delta table registry and SQL layer.

Usage::

    from odoolake.workspace.engine import LocalEngine
    with LocalEngine.start() as engine:
        spark = engine.session()
        spark.sql("SELECT 1").show()
"""

from odoolake.workspace.engine.registry import TableName, TableRegistry
from odoolake.workspace.engine.session import CATALOG_ALIASES, LocalEngine

__all__ = ["CATALOG_ALIASES", "LocalEngine", "TableName", "TableRegistry"]
