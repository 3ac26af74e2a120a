"""``wavecom.api.app``: the application ``create_app`` builds, and its lifespan on the real stack.

The middleware runs outermost first: the body limit, then observation (security headers,
metrics), admission, CORS; a body over the limit is a 413 whether it says its length or streams
it; the OpenAPI spec has no 422 answers (invalid input is a 400 in the envelope). The lifespan,
with the real RabbitMQ and database, puts every service the routes read on ``app.state``,
declares the queues, starts the live-event hub, and on the way out closes the hub and the
connections; a queue of another type stops the start with ``QueueMismatch``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
from fastapi.middleware.cors import CORSMiddleware

from tests.support.api import assert_error
from tests.support.notifications import sms
from tests.support.processes import serve
from tests.support.services import declare_the_other_queue_type
from wavecom.api.admission import Admission
from wavecom.api.app import BodyLimit, Observe, create_app
from wavecom.core.constants import ALL_LANE_QUEUES, DLQ
from wavecom.core.errors import QueueMismatch
from wavecom.core.settings import Settings

LIMIT = 1024  # the smallest MAX_BODY_BYTES


def test_the_middleware_runs_observe_body_limit_admission_cors() -> None:
    app = create_app(Settings(environment="test"))
    order: list[object] = [m.cls for m in app.user_middleware]
    assert order == [Observe, BodyLimit, Admission, CORSMiddleware]


def test_the_spec_has_no_422_answers() -> None:
    spec = create_app(Settings(environment="test")).openapi()
    codes = {
        code
        for item in spec["paths"].values()
        for operation in item.values()
        for code in operation.get("responses", {})
    }
    assert "400" in codes
    assert "422" not in codes
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings.model_copy(update={"max_body_bytes": LIMIT})) as http:
        yield http


async def test_a_body_over_the_limit_is_a_413_by_its_length(limited: httpx.AsyncClient) -> None:
    r = await limited.post("/api/notifications", json={**sms(1), "message": "x" * LIMIT})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert f"exceeds {LIMIT} bytes" in r.json()["error"]["message"]


async def test_a_413_carries_the_security_headers_too(limited: httpx.AsyncClient) -> None:
    r = await limited.post("/api/notifications", json={**sms(1), "message": "x" * LIMIT})
    assert r.status_code == 413
    assert r.headers.get("x-content-type-options") == "nosniff"


async def test_a_streamed_body_over_the_limit_is_a_413(limited: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "SMS", "recipient": "+2348012345678", "message": "'
        for _ in range(8):
            yield b"x" * 256
        yield b'"}'

    r = await limited.post(
        "/api/notifications", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


async def test_a_body_within_the_limit_goes_through(limited: httpx.AsyncClient) -> None:
    r = await limited.post("/api/notifications", json=sms(1))
    assert r.status_code == 201, r.text


async def test_the_lifespan_starts_every_service_and_closes_them(settings: Settings) -> None:
    app = create_app(settings)
    hub = app.state.hub
    async with app.router.lifespan_context(app):
        for name in ("store", "auth", "intake", "depths", "shedder", "receipts"):
            assert getattr(app.state, name) is not None, name
        assert app.state.receipt_accounts is not None
        connection = app.state.connection
        assert not connection.is_closed
        assert app.state.admin_channel is not None
        probe = await aio_pika.connect(settings.amqp_url)
        try:
            channel = await probe.channel()
            for name in (DLQ, *ALL_LANE_QUEUES):
                await channel.declare_queue(name, passive=True)  # declared by the start
        finally:
            await probe.close()
        async with hub.subscribe("acme"):
            assert hub.bound == {"acme"}  # the hub consumes on the app's connection
        assert await app.state.store.db.command("ping")
    assert hub.closing.is_set()
    assert connection.is_closed


async def test_a_queue_of_another_type_stops_the_start(settings: Settings) -> None:
    await declare_the_other_queue_type(settings)
    app = create_app(settings)
    with pytest.raises(QueueMismatch, match=f"'{DLQ}'"):
        async with app.router.lifespan_context(app):
            pytest.fail("the API started with a queue of another type")
