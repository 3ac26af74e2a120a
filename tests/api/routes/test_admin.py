"""/api/admin: keys (created once, listed without secrets, revoked), providers, reconcile."""

from __future__ import annotations

import httpx

from tests.api.routes.test_notifications import assert_error
from tests.api.test_auth import as_other
from tests.conftest import RunWorker, wait_for
from wavecom.constants import Channel


async def test_a_created_key_is_shown_once_and_works_with_its_scopes(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/admin/keys", json={"name": "billing", "scopes": ["send"]})
    assert r.status_code == 201
    created = r.json()["data"]
    token = created["key"]
    assert created["tenantId"] == "acme"
    assert created["scopes"] == ["send"]
    assert token.startswith(f"wcn_{created['id']}_")
    listed = (await client.get("/api/admin/keys")).json()["data"]
    assert created["id"] in {k["id"] for k in listed}
    assert token not in str(listed)
    assert "hash" not in str(listed)
    async with as_other(client, token) as billing:
        assert (
            await billing.post(
                "/api/notifications",
                json={"type": "SMS", "recipient": "+2348012345678", "message": "hi"},
            )
        ).status_code == 201
        assert_error(await billing.get("/api/admin/keys"), 403, "FORBIDDEN")
        revoked = await client.delete(f"/api/admin/keys/{created['id']}")
        assert revoked.json()["data"]["revokedAt"] is not None
        assert_error(await billing.get("/api/auth/me"), 401, "UNAUTHORIZED")


async def test_key_requests_are_validated(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post("/api/admin/keys", json={"scopes": []}), 400, "VALIDATION_ERROR", "scopes"
    )
    assert_error(
        await client.post("/api/admin/keys", json={"scopes": ["root"]}),
        400,
        "VALIDATION_ERROR",
        "scopes.0",
    )
    assert_error(
        await client.post("/api/admin/keys", json={"scopes": ["read"], "tenant": "globex"}),
        400,
        "VALIDATION_ERROR",
        "tenant",
    )
    assert_error(await client.delete("/api/admin/keys/nothex"), 400, "VALIDATION_ERROR", "key_id")
    assert_error(await client.delete("/api/admin/keys/0123456789abcdef"), 404, "NOT_FOUND")


async def test_providers_show_the_workers_breakers(
    api: httpx.AsyncClient, run_worker: RunWorker
) -> None:
    await run_worker(Channel.EMAIL, breaker_report_s=0.1)

    async def reported() -> dict[str, object] | None:
        data: dict[str, object] = (await api.get("/api/admin/providers")).json()["data"]
        return data if {"alpha", "beta"} <= set(data) else None

    data = await wait_for(reported, what="the worker's breaker report")
    assert data["alpha"] == {"channel": "EMAIL", "state": "closed", "workers": 1}
