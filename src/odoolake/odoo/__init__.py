"""Odoo integration: a client for JSON-2 (19+) and JSON-RPC (16-18), checkpointed extraction into raw drops,
and write-back of predictions."""

from odoolake.odoo.client import OdooClient, OdooSettings
from odoolake.odoo.errors import OdooAccessError, OdooAuthError, OdooError, OdooMissingError, OdooUnavailable

__all__ = ["OdooAccessError", "OdooAuthError", "OdooClient", "OdooError", "OdooMissingError", "OdooSettings",
           "OdooUnavailable"]
