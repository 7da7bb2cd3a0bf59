"""Superset on the gold layer: publish gold into a DuckDB file Superset can read, and a dashboard export for it."""
