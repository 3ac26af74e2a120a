"""/api/health, and the error envelope for everything else (metrics: tests/api/test_depths.py)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx

from tests.support.api import assert_error
from tests.support.notifications import sms
from tests.support.processes import serve
from tests.support.services import MONGODB_URL
from wavecom.api.app import create_app
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.providers.seed import seed
from wavecom.store import Store


async def test_health_reports_each_dependency(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "healthy"
    assert body["services"] == {"mongodb": "connected", "rabbitmq": "connected"}
    assert body["uptime"] >= 0


async def test_unknown_route_is_404_in_the_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/nothing-here"), 404, "NOT_FOUND")


async def test_wrong_method_is_405_in_the_envelope(client: httpx.AsyncClient) -> None:
    r = await client.delete("/api/notifications")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "GET, POST"
    r = await client.get("/api/notifications/batch")  # not an id: a POST-only path
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "POST"


async def test_security_headers_are_set(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/api/notifications",
        "/api/notifications/batch",
        "/api/notifications/{notification_id}",
        "/api/notifications/stats/system",
        "/api/health",
    }
    assert "/api/metrics" not in paths  # on the metrics port, which the Ingress never routes
    create = paths["/api/notifications"]["post"]
    assert set(create["responses"]) >= {"201", "400", "413", "503"}
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "type"
    schemas = spec["components"]["schemas"]
    for name, channel in (("EmailCreate", "EMAIL"), ("SmsCreate", "SMS"), ("PushCreate", "PUSH")):
        schema = schemas[name]
        assert schema["additionalProperties"] is False
        assert schema["properties"]["message"]["maxLength"] == 5000
        assert schema["properties"]["type"]["const"] == channel
        assert schema["properties"]["recipient"]["pattern"]  # the format the server checks
    assert "subject" in schemas["EmailCreate"]["required"]
    assert "subject" not in schemas["SmsCreate"].get("required", [])
    assert (await client.get("/docs")).status_code == 200


async def test_health_is_503_when_the_database_is_gone(
    settings: Settings,
) -> None:
    async with serve(settings.model_copy(update={"mongodb_url": MONGODB_URL})) as http:
        await http.app.state.store.close()  # type: ignore[attr-defined]  # the database connection is gone
        r = await http.get("/api/health")
        assert r.status_code == 503
        assert r.json()["status"] == "unhealthy"
        assert r.json()["services"]["mongodb"] == "disconnected"
        assert r.json()["services"]["rabbitmq"] == "connected"
        failed = await http.post("/api/notifications", json=sms())
        assert_error(failed, 503, "SERVICE_UNAVAILABLE")
        assert failed.headers["retry-after"] == "5"


async def test_the_dashboard_export_is_served_at_the_root(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<html>dashboard</html>")
    app = create_app(settings.model_copy(update={"dashboard_dir": str(tmp_path)}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert "dashboard" in (await http.get("/")).text
        assert_error(await http.get("/api/nothing-here"), 404, "NOT_FOUND")
        assert_error(await http.delete("/api/notifications"), 405, "METHOD_NOT_ALLOWED")
        assert (await http.get("/api/health")).status_code == 200


async def test_health_says_when_a_channel_delivers_only_to_mocks(
    settings: Settings, store: Store
) -> None:
    await seed(store, settings, Channel.EMAIL)  # what a development worker's first start writes
    async with serve(settings) as http:
        body = (await http.get("/api/health")).json()
        assert body["status"] == "healthy"
        assert body["channels"]["EMAIL"] == {"usableAccounts": 2, "mockOnly": True}
        assert body["channels"]["SMS"] == {"usableAccounts": 0, "mockOnly": False}
        assert (
            "EMAIL delivers only to mock accounts: its notifications are marked SENT and reach "
            "no one" in body["warnings"]
        )
        assert any(w.startswith("SMS has no usable provider account") for w in body["warnings"])

        relay = accounts.AccountSpec(
            channel=Channel.EMAIL,
            driver="webhook",
            settings={"url": "https://gateway.example/send"},
        )
        secret = {"secret": "whsec_" + base64.b64encode(os.urandom(32)).decode()}
        cipher = Cipher({"k1": os.urandom(32)}, "k1")
        await accounts.apply(
            store, cipher, "gateway", relay, secret, source="admin", environment="test"
        )
        body = (await http.get("/api/health")).json()
        assert body["channels"]["EMAIL"] == {"usableAccounts": 3, "mockOnly": False}
        assert not [w for w in body["warnings"] if w.startswith("EMAIL")]
