"""Bearer tokens for the MCP server over HTTP are the workspace's own tokens, checked by asking the workspace."""

from __future__ import annotations

import httpx
from mcp.server.auth.provider import AccessToken


class WorkspaceTokenVerifier:
    """A token is valid if the workspace accepts it for ``scim/v2/Me``; the user becomes the client id."""

    def __init__(self, host: str) -> None:
        self.host = host.rstrip("/")

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx.AsyncClient(timeout=10) as http:
            try:
                response = await http.get(f"{self.host}/api/2.0/preview/scim/v2/Me",
                                          headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError:
                return None
        if response.status_code != 200:
            return None
        return AccessToken(token=token, client_id=response.json().get("userName", "unknown"), scopes=[])
