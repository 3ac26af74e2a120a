"""wavecom.core.events: what a status event carries (from a document, a job, an outcome), and
that the publisher puts one message per tenant and batch on the real broker's events exchange,
as hints (not persisted, expiring), never raising when the broker cannot take them, and
publishes no events of a tenant nobody listens to for a while once the broker returned one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from tests.support.documents import doc
from tests.support.wait import wait_for
from wavecom.core.constants import EVENTS_EXCHANGE, Priority, Status
from wavecom.core.events import NO_EVENTS, EventPublisher, doc_event, job_event, outcome_event
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings
from wavecom.store import Outcome, job_of

JOB_ID = "65f0c0ffee0000000000abcd"
AT = datetime(2026, 12, 6, 12, 0, 0, 123_456, tzinfo=UTC)


def _job(**fields: Any) -> DeliveryJob:
    """The queue message of a CRITICAL notification of acme."""
    return replace(job_of(doc(1, priority=Priority.CRITICAL)), id=JOB_ID, **fields)


def test_an_event_carries_the_status_and_never_the_content() -> None:
    d = doc(1, message="your code is 123456")
    tenant, event = doc_event(d)
    assert tenant == "acme"
    assert event == {
        "_id": str(d["_id"]),
        "status": "QUEUED",
        "type": "SMS",
        "priority": "HIGH",
        "attempts": 0,
        "provider": None,
        "updatedAt": d["updatedAt"].isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    assert event["updatedAt"].endswith("Z")

    tenant, event = job_event(_job(attempt=2), Status.PROCESSING, AT)
    assert (tenant, event["_id"], event["status"]) == ("acme", JOB_ID, "PROCESSING")
    assert (event["type"], event["priority"], event["attempts"]) == ("SMS", "CRITICAL", 2)
    assert event["updatedAt"] == "2026-12-06T12:00:00.123Z"

    outcome = Outcome(
        job=_job(attempt=1),
        status=Status.SENT,
        started_at=AT - timedelta(seconds=1),
        finished_at=AT,
        message="Sent via mailer",
        provider="mailer",
        retry_count=1,
    )
    assert outcome_event(outcome) == (
        "acme",
        {
            "_id": JOB_ID,
            "status": "SENT",
            "type": "SMS",
            "priority": "CRITICAL",
            "attempts": 1,
            "provider": "mailer",
            "updatedAt": "2026-12-06T12:00:00.123Z",
        },
    )


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    yield connection
    await connection.close()


async def _listen(connection: AbstractRobustConnection, tenant: str) -> AbstractQueue:
    """A live stream's queue: bound to one tenant's events."""
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key=tenant)
    return queue


async def _drain(queue: AbstractQueue, got: list[AbstractIncomingMessage]) -> None:
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        got.append(message)


async def test_events_go_out_one_message_per_tenant_and_chunk(
    connection: AbstractRobustConnection,
) -> None:
    publisher = await EventPublisher.open(connection)
    acme = await _listen(connection, "acme")
    globex = await _listen(connection, "globex")
    events = [job_event(_job(attempt=i), Status.QUEUED, AT) for i in range(1001)]
    publisher.emit([*events, ("globex", {"_id": "g1", "status": "SENT"})])

    got: dict[str, list[AbstractIncomingMessage]] = {"acme": [], "globex": []}

    async def all_arrived() -> bool:
        await _drain(acme, got["acme"])
        await _drain(globex, got["globex"])
        return len(got["acme"]) == 3 and len(got["globex"]) == 1

    await wait_for(all_arrived, what="three acme messages and one globex message")
    await publisher.close()
    sizes = sorted(len(orjson.loads(m.body)) for m in got["acme"])
    assert sizes == [1, 500, 500]
    carried = [e for m in got["acme"] for e in orjson.loads(m.body)]
    assert sorted(e["attempts"] for e in carried) == list(range(1001))
    assert orjson.loads(got["globex"][0].body) == [{"_id": "g1", "status": "SENT"}]
    for message in got["acme"] + got["globex"]:
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
        assert message.expiration  # it expires: a hint nobody read is dropped
    assert publisher.dropped == 0


async def test_events_the_broker_cannot_take_are_counted_as_dropped_not_raised(
    connection: AbstractRobustConnection,
) -> None:
    channel = await connection.channel(publisher_confirms=False)
    exchange = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    publisher = EventPublisher(exchange)
    await channel.close()
    publisher.emit([job_event(_job(), Status.SENT, AT), job_event(_job(), Status.SENT, AT)])

    async def dropped() -> int:
        return publisher.dropped

    assert await wait_for(dropped, what="the events counted as dropped") == 2
    await publisher.close()
    NO_EVENTS.emit([job_event(_job(), Status.SENT, AT)])  # no broker: nothing, no error
    assert NO_EVENTS.dropped == 0


async def test_a_tenant_nobody_listens_to_is_not_published_again_for_a_while(
    connection: AbstractRobustConnection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    publisher = await EventPublisher.open(connection, quiet_s=3600)
    globex = await _listen(connection, "globex")
    # nobody listens to acme: the broker returns the message, and acme goes quiet
    publisher.emit([job_event(_job(attempt=1), Status.QUEUED, AT)])

    async def returned() -> bool:
        return not publisher.listened("acme")

    await wait_for(returned, what="the broker's return of acme's events")
    assert publisher.skipped == 1
    assert publisher.dropped == 0
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not errors, errors[0].getMessage()  # a return is an answer, not a failure

    # quiet: even once a stream listens, acme's events wait for the quiet to pass (a stream
    # reads again past it, wavecom.api.live); another tenant's go out as before
    acme = await _listen(connection, "acme")
    publisher.emit(
        [job_event(_job(attempt=2), Status.SENT, AT), ("globex", {"_id": "g1", "status": "SENT"})]
    )
    assert publisher.skipped == 2  # decided at once: nothing is sent for acme
    got: list[AbstractIncomingMessage] = []

    async def globex_arrived() -> bool:
        await _drain(globex, got)
        return len(got) == 1

    await wait_for(globex_arrived, what="globex's event")
    await publisher.close()
    assert await acme.get(fail=False, no_ack=True) is None

    # a publisher whose quiet is short publishes acme's events again once it has passed
    brief = await EventPublisher.open(connection, quiet_s=0.2)
    await acme.unbind(EVENTS_EXCHANGE, "acme")
    brief.emit([job_event(_job(attempt=3), Status.QUEUED, AT)])
    await wait_for(lambda: _skipped(brief), what="the return of acme's event")
    await acme.bind(EVENTS_EXCHANGE, "acme")

    async def listened_again() -> bool:
        return brief.listened("acme")

    await wait_for(listened_again, what="the quiet to pass")
    brief.emit([job_event(_job(attempt=4), Status.SENT, AT)])
    await brief.close()
    arrived: list[AbstractIncomingMessage] = []

    async def acme_arrived() -> bool:
        await _drain(acme, arrived)
        return len(arrived) == 1

    await wait_for(acme_arrived, what="acme's event after the quiet")
    assert [e["attempts"] for e in orjson.loads(arrived[0].body)] == [4]
    assert brief.skipped == 1


async def _skipped(publisher: EventPublisher) -> int:
    return publisher.skipped
