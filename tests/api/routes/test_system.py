"""/api/health, /api/metrics, and the error envelope for everything else."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.routes.test_notifications import assert_error
from tests.conftest import MONGODB_URL, serve, sms
from wavecom.api.app import create_app
from wavecom.settings import Settings


async def test_health_reports_each_dependency(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "healthy"
    assert body["services"] == {"mongodb": "connected", "rabbitmq": "connected"}
    assert body["uptime"] >= 0


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.post("/api/notifications", json=sms())
    r = await client.get("/api/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'notifications_created_total{priority="MEDIUM",type="SMS"}' in r.text
    assert 'queue_depth{queue="wavecom.sms.standard"}' in r.text
    assert "http_request_duration_seconds_bucket" in r.text


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
        "/api/metrics",
    }
    create = paths["/api/notifications"]["post"]
    assert set(create["responses"]) >= {"201", "400", "413", "503"}
    schema = spec["components"]["schemas"]["NotificationCreate"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["message"]["maxLength"] == 5000
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
