"""/api/admin: keys (created once, listed without secrets, revoked), providers, reconcile."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import assert_error
from tests.support.auth import as_other
from tests.support.processes import RunWorker
from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.store import Store


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


async def test_providers_list_accounts_with_breakers_never_credentials(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    await run_worker(Channel.EMAIL, breaker_report_s=0.1)
    sealed = Cipher({"t1": bytes(32)}, "t1")
    secret = accounts.AccountSpec(
        channel=Channel.SMS,
        driver="twilio",
        priority=5,
        tenants=("acme",),
        settings={"fromNumber": "+15005550006"},
        credentials_secret_ref=accounts.SecretRef(name="twilio-creds"),
    )
    creds = {"accountSid": "AC" + "1" * 32, "authToken": "tok-never-shown"}
    await accounts.apply(
        store, sealed, "acme-sms", secret, creds, source="admin", environment="test"
    )

    async def reported() -> dict[str, Any] | None:
        r = await api.get("/api/admin/providers")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        by_name = {p["name"]: p for p in data["providers"]}
        alpha = by_name.get("alpha", {})
        return data if alpha.get("breaker") else None

    data = await wait_for(reported, what="the worker's breaker report")
    by_name = {p["name"]: p for p in data["providers"]}
    assert set(by_name) == {"alpha", "beta", "acme-sms"}
    assert data["revision"] == await store.accounts.revision()
    assert by_name["alpha"]["breaker"] == {"state": "closed", "workers": 1}
    assert by_name["alpha"]["channel"] == "EMAIL"
    assert by_name["alpha"]["source"] == "seed"
    sms_account = by_name["acme-sms"]
    assert sms_account["breaker"] is None  # no SMS worker runs
    assert sms_account["hasCredentials"] is True
    assert sms_account["tenants"] == ["acme"]
    assert sms_account["credentialsSecretRef"] == {"name": "twilio-creds"}
    body = (await api.get("/api/admin/providers")).text
    assert "tok-never-shown" not in body
    assert "ciphertext" not in body
