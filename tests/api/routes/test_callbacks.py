"""/api/admin/callbacks: a tenant's own endpoints, secrets shown once, field-level 400s."""

from __future__ import annotations

import httpx

from tests.support.api import assert_error
from tests.support.auth import as_other, key
from wavecom.core.constants import Scope
from wavecom.store import Store

URL = "https://bank.example/hooks/wavecom"


async def test_register_list_change_rotate_delete(client: httpx.AsyncClient, store: Store) -> None:
    r = await client.post(
        "/api/admin/callbacks",
        json={"url": URL, "events": ["notification.delivered", "notification.failed"]},
    )
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["notification.delivered", "notification.failed"]
    assert created["enabled"] is True
    assert created["tenantId"] == "acme"
    endpoint_id = created["id"]
    # stored sealed or (without CREDENTIALS_KEY, outside production) as it is; never shown again
    listed = (await client.get("/api/admin/callbacks")).json()["data"]
    assert [e["id"] for e in listed] == [endpoint_id]
    assert "secret" not in listed[0]
    one = (await client.get(f"/api/admin/callbacks/{endpoint_id}")).json()["data"]
    assert one == listed[0]

    r = await client.patch(
        f"/api/admin/callbacks/{endpoint_id}",
        json={"enabled": False, "events": ["notification.sent"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["enabled"] is False
    assert r.json()["data"]["events"] == ["notification.sent"]

    revision = await store.endpoints.revision()
    r = await client.post(f"/api/admin/callbacks/{endpoint_id}/rotate")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["secret"] not in (created["secret"], "")
    assert r.json()["data"]["previousSecretUntil"] is not None
    assert await store.endpoints.revision() > revision  # the process reloads on it

    r = await client.delete(f"/api/admin/callbacks/{endpoint_id}")
    assert r.status_code == 200, r.text
    assert (await client.get("/api/admin/callbacks")).json()["data"] == []
    assert_error(await client.get(f"/api/admin/callbacks/{endpoint_id}"), 404, "NOT_FOUND")


async def test_bad_endpoints_are_400_with_the_field(client: httpx.AsyncClient) -> None:
    bad = [
        ({"url": "ftp://bank.example/x", "events": ["notification.sent"]}, "url"),
        ({"url": "https://u:p@bank.example/x", "events": ["notification.sent"]}, "url"),
        ({"url": "not a url", "events": ["notification.sent"]}, "url"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": ["notification.opened"]}, "events.0"),
        ({"url": URL}, "events"),
        ({"url": URL, "events": ["notification.sent"], "secret": "mine"}, "secret"),
    ]
    for body, field in bad:
        assert_error(
            await client.post("/api/admin/callbacks", json=body), 400, "VALIDATION_ERROR", field
        )
    assert (await client.get("/api/admin/callbacks")).json()["data"] == []
    assert_error(
        await client.patch("/api/admin/callbacks/cb_0000000000000000", json={"enabled": True}),
        404,
        "NOT_FOUND",
    )


async def test_a_tenant_sees_and_changes_only_its_own_endpoints(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/admin/callbacks", json={"url": URL, "events": ["notification.sent"]}
    )
    endpoint_id = r.json()["data"]["id"]
    async with as_other(client, await key(client, "globex", *Scope)) as globex:
        assert (await globex.get("/api/admin/callbacks")).json()["data"] == []
        for method, path in (
            ("GET", f"/api/admin/callbacks/{endpoint_id}"),
            ("DELETE", f"/api/admin/callbacks/{endpoint_id}"),
            ("POST", f"/api/admin/callbacks/{endpoint_id}/rotate"),
        ):
            assert_error(await globex.request(method, path), 404, "NOT_FOUND")
    async with as_other(client, await key(client, "acme", Scope.SEND, Scope.READ)) as reader:
        assert_error(await reader.get("/api/admin/callbacks"), 403, "FORBIDDEN")
        # a notification's callbacks are a read: empty for one that owed none
        r = await reader.get("/api/notifications/0123456789abcdef01234567/callbacks")
        assert r.status_code == 200
        assert r.json()["data"] == []
    assert len((await client.get("/api/admin/callbacks")).json()["data"]) == 1
