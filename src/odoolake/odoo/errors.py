"""Errors from talking to Odoo. Messages name the server, model and method; never the API key."""

from __future__ import annotations

from odoolake.errors import OdoolakeError


class OdooError(OdoolakeError):
    """Odoo answered with an error, or not at all."""


class OdooAuthError(OdooError):
    """The credentials were refused."""


class OdooAccessError(OdooError):
    """The user may not read or write this model."""


class OdooMissingError(OdooError):
    """A model, field or record that the extraction needs does not exist on this Odoo."""


class OdooUnavailable(OdooError):
    """Timeouts, rate limiting or server errors outlasted the retries."""
