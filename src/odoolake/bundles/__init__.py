"""Databricks Asset Bundles: reading ``databricks/databricks.yml``."""
