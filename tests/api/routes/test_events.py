"""/api/events: live status changes over Server-Sent Events, per tenant, coalesced."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from tests.support.api import uvicorn_api
from tests.support.events import Stream
from tests.support.notifications import email
from tests.support.processes import EVERY_SCOPE, RunWorker
from tests.support.services import _management, free_port
from tests.support.wait import wait_for
from wavecom.api.live import CAUGHT_UP
from wavecom.core.broker import connect
from wavecom.core.constants import EVENTS_EXCHANGE, Channel
from wavecom.core.events import EventPublisher
from wavecom.core.settings import Settings


class Live:
    """The API served by uvicorn in this process (a stream needs a real HTTP server)."""

    def __init__(self, app: FastAPI, url: str) -> None:
        self.app = app
        self.url = url

    async def client(self, tenant: str) -> httpx.AsyncClient:
        _, token = await self.app.state.auth.keys.create(tenant, EVERY_SCOPE)
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Live]:
    port = free_port()
    async with uvicorn_api(settings, port) as app:
        yield Live(app, f"http://127.0.0.1:{port}")


async def test_changes_stream_to_their_tenant_only(
    worker_settings: Settings, run_worker: RunWorker
) -> None:
    async with serving(worker_settings) as live:
        acme, globex = await live.client("acme"), await live.client("globex")
        mine, theirs = Stream(acme), Stream(globex)
        await wait_for(lambda: mine.has("ready"), what="acme's stream")
        await wait_for(lambda: theirs.has("ready"), what="globex's stream")
        assert mine.named("ready")[0] == {"tenantId": "acme", "flushMs": 500}
        await run_worker(Channel.EMAIL)
        nid = (await acme.post("/api/notifications", json=email())).json()["data"]["_id"]

        async def sent() -> bool:
            return mine.latest().get(nid, {}).get("status") == "SENT"

        await wait_for(sent, what="SENT on acme's stream")
        seen = [
            e["status"] for batch in mine.named("notification") for e in batch if e["_id"] == nid
        ]
        # newest state wins within a flush, so QUEUED may be folded into PROCESSING; what is
        # shown never goes backwards
        order = ["QUEUED", "PROCESSING", "SENT"]
        assert set(seen) <= set(order)
        assert [order.index(x) for x in seen] == sorted(order.index(x) for x in seen)
        final = mine.latest()[nid]
        assert final["provider"] == "alpha"
        assert final["type"] == "EMAIL"
        assert theirs.named("notification") == []
        for s in (mine, theirs):
            await s.close()
        await acme.aclose()
        await globex.aclose()


async def test_a_storm_of_changes_arrives_coalesced(settings: Settings) -> None:
    """3,000 changes a second for 3 s (300 notifications, each changing every 100 ms):
    the client gets about two messages a second, each notification's newest state."""
    async with serving(settings) as live:
        http = await live.client("acme")
        stream = Stream(http)
        await wait_for(lambda: stream.has("ready"), what="the stream")
        connection = await connect(settings.amqp_url, name="storm")
        publisher = await EventPublisher.open(connection)
        base = datetime.now(UTC)
        ids = [f"{i:024x}" for i in range(300)]
        emitted = asyncio.Event()

        def storm(tick: int) -> None:
            at = (base + timedelta(milliseconds=tick)).isoformat()
            publisher.emit(
                ("acme", {"_id": i, "status": "PROCESSING", "attempts": tick, "updatedAt": at})
                for i in ids
            )
            publisher.emit([("globex", {"_id": "x" * 24, "status": "SENT", "updatedAt": at})])
            if tick == 29:
                emitted.set()

        # the pace of the storm, 3,000 changes a second, on a fixed schedule of the loop's
        # clock: a busy machine's stall does not stretch the storm (and so its count of flushes)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        at_start = loop.time()
        for tick in range(30):
            loop.call_at(at_start + tick * 0.1, storm, tick)
        await asyncio.wait_for(emitted.wait(), 30)
        changes = 30 * len(ids)

        async def settled() -> bool:
            states = stream.latest()
            return len(states) == len(ids) and all(s["attempts"] == 29 for s in states.values())

        await wait_for(settled, what="every notification's newest state")
        elapsed = time.monotonic() - started
        messages = stream.named("notification")
        # each message holds a notification at most once (its newest state), and there are
        # fewer messages than the storm's ticks: far fewer than its 9,000 changes
        assert sum(len(m) for m in messages) <= len(messages) * len(ids) < changes
        assert len(messages) <= elapsed / 0.5 + 2, (len(messages), elapsed)
        # half a second apart as sent; measured where they are read, so a stall of this
        # process may bunch one pair: the median gap, not each
        arrivals = [t for t, name, _ in stream.events if name == "notification"]
        gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
        assert gaps
        assert gaps[len(gaps) // 2] >= 0.45, gaps
        assert "x" * 24 not in stream.latest()  # another tenant's
        await publisher.close()
        await connection.close()
        await stream.close()
        await http.aclose()


async def test_a_stream_that_overflows_is_told_to_resync(settings: Settings) -> None:
    async with serving(settings.model_copy(update={"events_flush_ms": 3000})) as live:
        http = await live.client("acme")
        stream = Stream(http)
        await wait_for(lambda: stream.has("ready"), what="the stream")
        connection = await connect(settings.amqp_url, name="flood")
        publisher = await EventPublisher.open(connection)
        at = datetime.now(UTC).isoformat()
        # the first message opens a flush window of 3 s; 6,000 more ids overflow it
        publisher.emit([("acme", {"_id": "first", "status": "QUEUED", "updatedAt": at})])
        await wait_for(lambda: stream.has("notification"), what="the first")
        publisher.emit(
            ("acme", {"_id": f"{i:024x}", "status": "QUEUED", "updatedAt": at}) for i in range(6000)
        )

        told = await wait_for(lambda: stream.has("resync"), what="a resync")
        assert "changes" in told[0]["reason"]
        await publisher.close()
        await connection.close()
        await stream.close()
        await http.aclose()


async def test_streams_end_when_the_api_shuts_down(settings: Settings) -> None:
    async with serving(settings) as live:
        http = await live.client("acme")
        stream = Stream(http)
        await wait_for(lambda: stream.has("ready"), what="the stream")
        assert stream.status == 200
        live.app.state.hub.close()
        await asyncio.wait_for(stream.ended.wait(), 5)
        await http.aclose()


@pytest.mark.parametrize("scopes", [{"send"}, {"admin"}])
async def test_a_stream_needs_the_read_scope(settings: Settings, scopes: set[str]) -> None:
    async with serving(settings) as live:
        _, token = await live.app.state.auth.keys.create("acme", scopes)
        async with httpx.AsyncClient(base_url=live.url) as http:
            r = await http.get("/api/events", headers={"X-API-Key": token})
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "FORBIDDEN"


def _event_bindings(vhost: str) -> set[str]:
    """The routing keys of the status-event exchange's bindings, as the broker has them."""
    with _management() as m:
        r = m.get(f"/api/exchanges/{quote(vhost, safe='')}/{EVENTS_EXCHANGE}/bindings/source")
        r.raise_for_status()
        return {b["routing_key"] for b in r.json()}


async def test_a_process_receives_events_only_of_tenants_it_streams(
    settings: Settings, vhost: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(settings) as live:
        hub = live.app.state.hub
        assert _event_bindings(vhost) == set()  # nobody watches: no event reaches this process
        acme, again = await live.client("acme"), await live.client("acme")
        # an event nobody is bound for is dropped by the broker, not returned and logged
        created = await acme.post("/api/notifications", json=email())
        assert created.status_code == 201
        events = live.app.state.intake.events
        await events.close()  # its publishes are sent
        # a synchronous call on the same channel: a return of those publishes comes before
        # its answer (a channel's frames keep their order)
        await events.exchange.channel.declare_exchange(EVENTS_EXCHANGE, passive=True)
        returned = [r for r in caplog.records if "Basic.Return" in r.getMessage()]
        assert not returned, returned[0].getMessage()[:200]
        first, second = Stream(acme), Stream(again)
        await wait_for(lambda: first.has("ready"), what="the first stream")
        await wait_for(lambda: second.has("ready"), what="the second stream")
        assert _event_bindings(vhost) == {"acme"}  # bound before `ready` was sent
        await first.close()

        async def only_second_left() -> bool:
            return hub.bound == {"acme"} and len(hub._subs.get("acme", ())) == 1

        await wait_for(only_second_left, what="the first stream to leave")
        assert _event_bindings(vhost) == {"acme"}  # still watched by the second one
        await second.close()

        async def unbound() -> bool:
            return _event_bindings(vhost) == set()

        await wait_for(unbound, what="the binding to go with the last stream")
        assert hub.bound == frozenset()
        await acme.aclose()
        await again.aclose()


async def test_a_stream_of_a_tenant_nobody_listened_to_reads_again_then_gets_every_change(
    settings: Settings,
) -> None:
    async with serving(settings) as live:
        acme = await live.client("acme")
        events = live.app.state.intake.events
        created = await acme.post("/api/notifications", json=email())
        assert created.status_code == 201

        # nobody listened: the broker returned the event, and this API publishes no more of
        # acme's until its quiet has passed (wavecom.core.events.QUIET_S)
        async def quiet() -> bool:
            return not events.listened("acme")

        await wait_for(quiet, what="acme's events held back")
        assert events.skipped == 1
        stream = Stream(acme)
        await wait_for(lambda: stream.has("ready"), what="the stream")
        held = await acme.post("/api/notifications", json=email())
        assert held.status_code == 201
        # what the quiet held back is covered: the stream is told to read again
        told = await wait_for(lambda: stream.has("resync"), what="the read-again")
        assert told[0]["reason"] == CAUGHT_UP

        # and from then on every change is streamed
        later = (await acme.post("/api/notifications", json=email())).json()["data"]["_id"]

        async def streamed() -> bool:
            return later in stream.latest()

        await wait_for(streamed, what="the next notification on the stream")
        assert stream.latest()[later]["status"] == "QUEUED"
        await stream.close()
        await acme.aclose()
