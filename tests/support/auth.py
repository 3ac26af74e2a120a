"""Keys for the API tests: a key for a new tenant (key), a client acting as another (as_other)."""

from __future__ import annotations

import httpx

from wavecom.core.constants import Scope


def as_other(http: httpx.AsyncClient, token: str | None) -> httpx.AsyncClient:
    """Another client of the same in-process API, with ``token`` (or none)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(transport=http._transport, base_url=http.base_url, headers=headers)


async def key(http: httpx.AsyncClient, tenant: str, *scopes: Scope) -> str:
    _, token = await http.app.state.auth.keys.create(tenant, scopes)  # type: ignore[attr-defined]
    return str(token)
