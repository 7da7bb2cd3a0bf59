"""The embedded engine: Sail behind the workspace's Spark Connect service, with one catalog for every session.

Usage::

    from odoolake.workspace.engine import LocalEngine
    with LocalEngine.start() as engine:
        spark = engine.session()
        spark.sql("SELECT 1").show()
"""

from odoolake.workspace.engine.session import REMOTE_ENV, LocalEngine

__all__ = ["REMOTE_ENV", "LocalEngine"]
