"""odoolake: Odoo finance lakehouse, local-first, deployable to Databricks."""
__version__ = "0.1.0"
