"""The FastAPI application: ``uvicorn wavecom.api.app:create_app --factory``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wavecom import __version__
from wavecom.api import errors
from wavecom.api.admission import GUARDED, Admission
from wavecom.api.auth import Auth, ratelimit_headers
from wavecom.api.depths import TICK_S as DEPTH_TICK_S
from wavecom.api.depths import QueueDepths
from wavecom.api.errors import envelope
from wavecom.api.expiry import Expirer
from wavecom.api.intake import Intake
from wavecom.api.live import EventHub
from wavecom.api.quota import Quota
from wavecom.api.receipts.accounts import ReceiptAccounts
from wavecom.api.receipts.handling import ReceiptHandler
from wavecom.api.responses import OrjsonResponse
from wavecom.api.routes import (
    admin,
    callbacks,
    dlq,
    events,
    expiry,
    notifications,
    receipts,
    system,
)
from wavecom.api.shedding import LoadShedder
from wavecom.core import metrics, telemetry, tls
from wavecom.core.broker import Publisher, QueueShape, connect
from wavecom.core.errors import QueueMismatch
from wavecom.core.events import EventPublisher
from wavecom.core.keys import Keys
from wavecom.core.periodic import Periodic
from wavecom.core.settings import Settings, get_settings
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.relay.due import Relay
from wavecom.relay.reconcile import STUCK_CHECK_S, export_stuck
from wavecom.relay.sweeper import Sweeper
from wavecom.store import Store
from wavecom.store.counters import TALLY_REPAIR_S

log = logging.getLogger("wavecom.api")

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class BodyLimit:
    """413 for bodies over the limit, by Content-Length or while streaming (pure ASGI)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(scope, receive, send)
                return
        seen = 0
        started = answered = False

        async def limited() -> Message:
            # a body streamed past the limit: answer 413 here and tell the app the client is
            # gone (an exception raised from here would reach the app's body parsing, which
            # answers it with its own 400)
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request" and not answered:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    answered = True
                    if not started:
                        await self._reject(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the app's answer to the disconnect: the client has its 413
            started = True
            await send(message)

        await self.app(scope, limited, sending)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope(
            413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


class DashboardMount(Mount):
    """The dashboard's files at /, except under /api: API paths keep the API's 404 and 405."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("path", "").startswith("/api"):
            return Match.NONE, {}
        return super().matches(scope)


class Observe:
    """Security headers, the caller's RateLimit-* headers and HTTP metrics on every response
    (pure ASGI, cheap per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), *_SECURITY_HEADERS]
                decision = scope.get("state", {}).get("ratelimit")
                if decision is not None:
                    headers += ratelimit_headers(decision)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            if route is None and scope["path"] in GUARDED:
                path = scope["path"]  # refused by admission before routing: still a create
            metrics.labelled(metrics.HTTP_REQUESTS, scope["method"], path, str(status)).inc()
            metrics.labelled(metrics.HTTP_DURATION, scope["method"], path).observe(
                time.perf_counter() - start
            )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    store = Store.connect(
        settings.mongodb_url, settings.mongodb_database, tls=tls.mongodb_options(settings)
    )
    await store.ensure_indexes()
    await store.recipient_hasher()  # the installation's key, made by the first process
    connection = await connect(
        settings.amqp_url, name="api", ssl_context=tls.amqp_context(settings)
    )
    try:
        publisher = await Publisher.open(
            connection, timeout_s=settings.publish_timeout_s, shape=QueueShape.of(settings)
        )
    except QueueMismatch as exc:  # a queue of another type: restarting cannot mend it
        log.error("cannot start: %s", exc)
        await connection.close()
        await store.close()
        raise
    app.state.store = store
    quota = Quota(store)
    app.state.auth = Auth(
        Keys(store, cache_s=settings.key_cache_s),
        Tenants(
            store,
            RateLimit(settings.rate_limit_per_s, settings.rate_limit_burst),
            settings.tenant_cache_s,
        ),
        quota,
        dev_tenant=settings.dev_tenant,
    )
    if settings.dev_tenant:
        log.warning("DEV_TENANT=%s: requests without a key act as it", settings.dev_tenant)
    app.state.connection = connection
    app.state.admin_channel = await connection.channel()
    status_events = await EventPublisher.open(connection)
    # provider receipts (api/routes/receipts.py) and the sweep of the held ones
    app.state.receipts = ReceiptHandler(store, status_events, settings.receipt_hold_s)
    app.state.receipt_accounts = ReceiptAccounts(store, settings)
    hub: EventHub = app.state.hub
    await hub.start(connection)
    app.state.intake = Intake(
        store,
        publisher,
        outbox_grace_s=settings.outbox_grace_s,
        exit_before_publish=settings.exit_before_publish,
        events=status_events,
        queue_deadline_s=settings.admission_queue_deadline_s,
        retry_after_s=settings.admission_retry_after_s,
        settle_linger_s=settings.settle_linger_ms / 1000,
    )
    # the one sampler of queue depths: load shedding and the queue_depth gauge read it
    depths = QueueDepths(await connection.channel())
    app.state.depths = depths
    app.state.shedder = LoadShedder(
        depths, low=settings.shed_low_backlog, medium=settings.shed_medium_backlog
    )
    sweeper = Sweeper(store, publisher, await connection.channel(), settings)
    loops = [
        Periodic(
            "relay",
            Relay(store, publisher, status_events).tick,
            settings.scheduler_interval_s,
        ),
        Periodic("queue depths", depths.sample, DEPTH_TICK_S),
        Periodic("sweeper", sweeper.tick, settings.sweep_interval_s),
        Periodic("receipts", app.state.receipts.sweep, settings.receipt_sweep_s),
        Periodic(
            "expiry",
            Expirer(store, status_events, settings.expiry_sweep_limit).tick,
            settings.expiry_sweep_interval_s,
        ),
        # the reconcile ledger's stuck notifications as a metric, for the alert
        Periodic("stuck notifications", lambda: export_stuck(store), STUCK_CHECK_S),
        # counters a dead writer left unsettled, settled from the documents: cheap enough
        # (one read of the stats collection a tick) for every API process to run; racing
        # repairs are harmless (wavecom.store.counters)
        Periodic(
            "counters repair",
            store.notifications.repair_counters,
            TALLY_REPAIR_S,
        ),
    ]
    for loop in loops:
        loop.start()
    app.state.started = time.monotonic()
    log.info("API ready (database %s, broker connected)", settings.mongodb_database)
    try:
        yield
    finally:
        hub.close()
        await app.state.intake.close()
        for loop in loops:
            await loop.stop()
        await sweeper.close()
        await quota.close()
        await status_events.close()
        # never let a connection that does not answer its close hold the shutdown
        for what, closing in (("broker", connection.close()), ("database", store.close())):
            try:
                await asyncio.wait_for(closing, 5)
            except Exception as exc:  # TimeoutError included
                log.warning("closing the %s connection: %r", what, exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="WaveCom Notify",
        version=__version__,
        description="Delivery of transactional notifications (email, SMS, push) with "
        "retries, dead letters, priority lanes and provider failover.",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        # FastAPI's own OpenTelemetry off: the request spans are the instrumentation's
        # (telemetry.instrument_app), the HTTP metrics Prometheus's; on, it would look up the
        # global providers for every request (2.5 % of the API's CPU) to find them unset
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.connection = None
    app.state.admin_channel = None
    app.state.hub = EventHub()  # streams end when it closes (see wavecom.api.__main__)
    errors.install(app)
    app.include_router(notifications.router)
    app.include_router(dlq.router)
    app.include_router(admin.router)
    app.include_router(callbacks.router)
    app.include_router(expiry.router)
    app.webhooks.include_router(callbacks.webhooks)  # what tenants' endpoints receive
    app.include_router(events.router)
    app.include_router(system.router)
    app.include_router(receipts.router)
    dashboard = Path(settings.dashboard_dir)
    if (dashboard / "index.html").is_file():
        # the Next.js static export, on the same origin as the API it calls
        app.router.routes.append(
            DashboardMount("/", app=StaticFiles(directory=dashboard, html=True), name="dashboard")
        )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allowlist,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"],
        expose_headers=[
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "Idempotent-Replayed",
        ],
        max_age=600,
    )
    app.add_middleware(
        Admission,
        max_in_flight=settings.admission_max_in_flight,
        retry_after_s=settings.admission_retry_after_s,
        max_lag_ms=settings.admission_max_lag_ms,
    )
    # outermost: Observe (security headers and HTTP metrics on every answer, a 413 too)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe)
    telemetry.instrument_app(app)  # request spans, when tracing is on
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema without its 422 answers: invalid input is a 400 in the envelope here."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            webhooks=app.webhooks.routes,
        )
        for item in schema["paths"].values():
            for operation in item.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema
