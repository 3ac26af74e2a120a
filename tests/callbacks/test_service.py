"""wavecom.callbacks.service on the real broker and database: the process follows the endpoints
(a lane per enabled one, the events queue bound to exactly their tenants), turns a status
event into stored callbacks its lane POSTs to a real receiver, and its repair scan stores what
no event announced, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import pytest

from tests.callbacks.conftest import Running
from tests.callbacks.receiver import receiving
from tests.support.callbacks import reached
from tests.support.wait import wait_for
from wavecom.callbacks.endpoints import EndpointAdmin
from wavecom.callbacks.payload import webhook_id
from wavecom.callbacks.service import EVENTS_QUEUE, CallbackService
from wavecom.core.constants import Status
from wavecom.core.events import EventPublisher, doc_event
from wavecom.core.settings import Settings
from wavecom.store import Store

Depth = Callable[[str], Awaitable[int]]


@pytest.fixture
async def service(worker_settings: Settings) -> AsyncIterator[CallbackService]:
    """The callbacks process started but not running: each test calls its steps itself."""
    started = await CallbackService.start(worker_settings)
    yield started
    await asyncio.gather(*(lane.stop() for lane in started.lanes.values()))
    assert started.connection is not None
    await started.connection.close()
    await started.store.close()


@pytest.fixture
async def publisher(worker_settings: Settings) -> AsyncIterator[EventPublisher]:
    connection = await aio_pika.connect_robust(worker_settings.amqp_url)
    yield await EventPublisher.open(connection)
    await connection.close()


async def test_it_follows_the_endpoints_and_hears_only_their_tenants(
    worker_settings: Settings,
    store: Store,
    service: CallbackService,
    publisher: EventPublisher,
    queue_depth: Depth,
) -> None:
    admin = EndpointAdmin(store, worker_settings)
    url = "http://127.0.0.1:9/hooks"
    acme, _ = await admin.create("acme", url, ["notification.sent"])
    paused, _ = await admin.create("acme", url, ["notification.sent"])
    await admin.change("acme", paused["id"], enabled=False)
    globex, _ = await admin.create("globex", url, ["notification.failed"])
    await service.follow_endpoints()
    assert set(service.lanes) == {acme["id"], globex["id"]}
    assert {t: [e.id for e in es] for t, es in service.by_tenant.items()} == {
        "acme": [acme["id"]],
        "globex": [globex["id"]],
    }
    assert service.revision == await store.endpoints.revision()

    # a tenant without an enabled endpoint: its events are not queued for this process
    publisher.emit([doc_event(reached(1, Status.SENT, tenant="initech"))])
    await publisher.close()  # published, in this order, on one channel
    publisher.emit([doc_event(reached(2, Status.SENT, tenant="globex"))])

    async def queued() -> int:
        return await queue_depth(EVENTS_QUEUE)

    assert await wait_for(queued, what="globex's event queued") == 1

    # globex's endpoint disabled: its lane stops and its events are no longer queued
    await admin.change("globex", globex["id"], enabled=False)
    await service.follow_endpoints()
    assert set(service.lanes) == {acme["id"]}
    assert set(service.by_tenant) == {"acme"}
    publisher.emit([doc_event(reached(3, Status.SENT, tenant="globex"))])
    await publisher.close()
    publisher.emit([doc_event(reached(4, Status.SENT, tenant="acme"))])
    assert await wait_for(lambda: _more(queue_depth, 1), what="acme's event queued") == 2


async def _more(depth: Depth, than: int) -> int:
    n = await depth(EVENTS_QUEUE)
    return n if n > than else 0


async def test_the_repair_scan_stores_what_no_event_announced_once(
    worker_settings: Settings, store: Store, service: CallbackService
) -> None:
    admin = EndpointAdmin(store, worker_settings)
    shown, _ = await admin.create("acme", "http://127.0.0.1:9/hooks", ["notification.sent"])
    await service.follow_endpoints()
    # the lane must not take the record away while this test looks at it
    await service.lanes.pop(shown["id"]).stop()
    docs = [
        reached(1, Status.SENT),
        reached(2, Status.FAILED),  # an event the endpoint does not take
        reached(3, Status.SENT, tenant="globex"),  # a tenant without endpoints
    ]
    await store.notifications.insert(docs)
    assert await service.repair() == 1
    sent_step = docs[0]["timeline"][-1]["_id"]
    [record] = await store.callbacks.of_notification("acme", str(docs[0]["_id"]))
    assert record["webhookId"] == webhook_id(str(docs[0]["_id"]), sent_step)
    assert record["endpointId"] == shown["id"]
    assert await service.repair() == 0  # the overlap reads it again; nothing new is stored
    assert await store.endpoints.repaired_to() is not None


async def test_a_status_event_becomes_a_callback_the_receiver_gets(
    worker_settings: Settings, store: Store, callbacks: Running, publisher: EventPublisher
) -> None:
    async with receiving() as receiver:
        _, receiver.secret = await EndpointAdmin(store, worker_settings).create(
            "acme", receiver.url, ["notification.sent"]
        )
        # no repair scan after the first: only the event can bring the callback
        await callbacks(callback_repair_s=3600.0)

        async def first_repair_done() -> bool:
            return await store.endpoints.repaired_to() is not None

        await wait_for(first_repair_done, what="the start-up repair scan")
        d = reached(1, Status.SENT)
        await store.notifications.insert([d])
        publisher.emit([doc_event(d)])

        async def acknowledged() -> int:
            return len(receiver.acknowledged)

        await wait_for(acknowledged, within=30, what="the callback acknowledged")
    msg_id = webhook_id(str(d["_id"]), d["timeline"][-1]["_id"])
    assert list(receiver.acknowledged) == [msg_id]
    assert receiver.payloads()[msg_id]["data"]["notificationId"] == str(d["_id"])
    assert receiver.forged == 0
