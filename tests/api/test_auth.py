"""Keys, scopes and per-key rate limits on every endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.support.api import assert_error
from tests.support.auth import as_other, key
from tests.support.notifications import sms
from tests.support.processes import serve
from wavecom.core.constants import Scope
from wavecom.core.settings import Settings
from wavecom.core.tenants import RateLimit

OPEN = {("GET", "/api/health"), ("GET", "/api/ready")}
# provider receipts take no API key: each is signed by its provider (tests/api/routes/
# test_receipts.py), and an unsigned one is a 401 without a Bearer challenge
SIGNED_BY_PROVIDERS = "/api/receipts/"
SAMPLE_ID = "0123456789abcdef01234567"


def operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            method.upper(),
            path.replace("{notification_id}", SAMPLE_ID).replace("{key_id}", "0123456789abcdef"),
        )
        for path, item in spec["paths"].items()
        for method in item
    ]


async def test_every_endpoint_but_health_and_metrics_needs_a_key(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    ops = operations(spec)
    assert len(ops) >= 15
    async with as_other(client, None) as anonymous:
        for method, path in ops:
            r = await anonymous.request(method, path, json={})
            if (method, path) in OPEN:
                assert r.status_code == 200, (method, path)
            elif path.startswith(SIGNED_BY_PROVIDERS):
                assert_error(r, 401, "UNAUTHORIZED")
                assert "www-authenticate" not in r.headers
            else:
                assert_error(r, 401, "UNAUTHORIZED")
                assert r.headers["www-authenticate"] == "Bearer", (method, path)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "APIKeyHeader" in spec["components"]["securitySchemes"]


async def test_bearer_and_x_api_key_are_both_accepted(client: httpx.AsyncClient) -> None:
    token = await key(client, "acme", Scope.READ)
    async with as_other(client, None) as http:
        r = await http.get("/api/notifications", headers={"X-API-Key": token})
        assert r.status_code == 200
        r = await http.get("/api/notifications", headers={"Authorization": f"bearer {token}"})
        assert r.status_code == 200
        r = await http.get("/api/notifications", headers={"Authorization": f"Basic {token}"})
        assert_error(r, 401, "UNAUTHORIZED")
        r = await http.get("/api/notifications", headers={"X-API-Key": token + "x"})
        assert_error(r, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("scopes", "method", "path", "allowed"),
    [
        ({Scope.READ}, "POST", "/api/notifications", False),
        ({Scope.READ}, "POST", "/api/notifications/batch", False),
        ({Scope.READ}, "GET", "/api/notifications", True),
        ({Scope.READ}, "GET", "/api/dlq", False),
        ({Scope.READ}, "GET", "/api/admin/keys", False),
        ({Scope.SEND}, "POST", "/api/notifications", True),
        ({Scope.SEND}, "GET", "/api/notifications", False),
        ({Scope.SEND}, "GET", "/api/notifications/stats/system", False),
        ({Scope.SEND}, "POST", f"/api/notifications/{SAMPLE_ID}/retry", False),
        ({Scope.SEND, Scope.READ}, "POST", "/api/dlq/replay", False),
        ({Scope.SEND, Scope.READ}, "GET", "/api/admin/providers", False),
        ({Scope.ADMIN}, "GET", "/api/dlq", True),
        ({Scope.ADMIN}, "GET", "/api/admin/providers", True),
        ({Scope.ADMIN}, "POST", "/api/notifications", False),
    ],
)
async def test_a_key_without_the_scope_gets_a_403(
    client: httpx.AsyncClient, scopes: set[Scope], method: str, path: str, allowed: bool
) -> None:
    body: dict[str, Any] = {"notifications": [sms()]} if path.endswith("batch") else sms()
    async with as_other(client, await key(client, "acme", *scopes)) as http:
        r = await http.request(method, path, json=body if method == "POST" else None)
        if allowed:
            assert r.status_code < 400, r.text
        else:
            assert_error(r, 403, "FORBIDDEN")


async def test_a_revoked_key_is_refused_on_its_next_request(client: httpx.AsyncClient) -> None:
    token = await key(client, "acme", Scope.READ)
    key_id = token.split("_")[1]
    async with as_other(client, token) as http:
        assert (await http.get("/api/notifications")).status_code == 200
        assert (await client.delete(f"/api/admin/keys/{key_id}")).status_code == 200
        assert_error(await http.get("/api/notifications"), 401, "UNAUTHORIZED")


async def test_the_dev_tenant_only_when_configured(settings: Settings) -> None:
    async with serve(settings.model_copy(update={"dev_tenant": "devco"})) as http:
        async with as_other(http, None) as anonymous:
            r = await anonymous.post("/api/notifications", json=sms())
            assert r.status_code == 201
            assert r.json()["data"]["tenantId"] == "devco"
            me = (await anonymous.get("/api/auth/me")).json()["data"]
            assert me == {"tenantId": "devco", "keyId": None, "scopes": ["admin", "read", "send"]}
        # a key still means its own tenant
        assert (await http.get("/api/auth/me")).json()["data"]["tenantId"] == "acme"
    with pytest.raises(ValidationError, match="DEV_TENANT"):
        Settings(environment="production", dev_tenant="devco")


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as http:
        tenants = http.app.state.auth.tenants  # type: ignore[attr-defined]
        await tenants.set_limit("acme", RateLimit(per_second=0.5, burst=5))
        yield http


async def test_a_key_over_its_limit_gets_429_with_retry_after(
    limited: httpx.AsyncClient,
) -> None:
    first = await limited.get("/api/notifications")
    assert first.status_code == 200
    assert first.headers["ratelimit-limit"] == "5"
    assert first.headers["ratelimit-remaining"] == "4"
    assert 1 <= int(first.headers["ratelimit-reset"]) <= 2
    for _ in range(4):
        assert (await limited.get("/api/notifications")).status_code == 200
    refused = await limited.post("/api/notifications", json=sms())
    assert_error(refused, 429, "RATE_LIMITED")
    assert refused.headers["retry-after"] == "2"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) == 10
    # another key of the same tenant has its own bucket
    async with as_other(limited, await key(limited, "acme", Scope.READ)) as other:
        assert (await other.get("/api/notifications")).status_code == 200


async def test_a_batch_costs_one_token_per_item(limited: httpx.AsyncClient) -> None:
    r = await limited.post("/api/notifications/batch", json={"notifications": [sms(1)] * 4})
    assert r.status_code == 201
    assert r.headers["ratelimit-remaining"] == "1"
    r = await limited.post("/api/notifications/batch", json={"notifications": [sms(2)] * 2})
    assert_error(r, 429, "RATE_LIMITED")
    stored = await limited.get("/api/auth/me")  # one token left for this
    assert stored.status_code == 200


async def test_a_batch_larger_than_the_bucket_is_refused_with_a_clear_message(
    limited: httpx.AsyncClient,
) -> None:
    r = await limited.post("/api/notifications/batch", json={"notifications": [sms()] * 6})
    assert_error(r, 429, "RATE_LIMITED", "notifications")
    assert "at most 5" in r.json()["error"]["message"]


async def test_cors_answers_only_the_configured_origins(settings: Settings) -> None:
    allowed = "https://ops.bank.example"
    async with serve(settings.model_copy(update={"cors_origins": allowed})) as http:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        ok = await http.options("/api/notifications", headers={"Origin": allowed, **preflight})
        assert ok.headers["access-control-allow-origin"] == allowed
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        evil = await http.options(
            "/api/notifications", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in evil.headers
        r = await http.get("/api/notifications", headers={"Origin": allowed})
        assert r.headers["access-control-allow-origin"] == allowed
        assert "ratelimit-remaining" in r.headers["access-control-expose-headers"].lower()
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        Settings(cors_origins="*")
