"""The topology's queue types, the classic->quorum mismatch, and connecting to a list of nodes."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from yarl import URL

from tests.support.services import GUEST, MANAGEMENT_URL, amqp_url, free_port
from tests.support.system import System
from wavecom.core.broker import Publisher, QueueShape, connect, declare_topology
from wavecom.core.constants import (
    ALL_LANE_QUEUES,
    DLQ,
    Channel,
    Priority,
    QueueType,
    delay_queue,
    lane_queue,
)
from wavecom.core.errors import BrokerUnavailable, PublishRejected, QueueMismatch
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings


def _queue(vhost: str, name: str) -> dict[str, object]:
    with httpx.Client(base_url=MANAGEMENT_URL, auth=GUEST, timeout=10) as m:
        r = m.get(f"/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}")
        r.raise_for_status()
        queue: dict[str, object] = r.json()
        return queue


async def test_every_queue_is_a_quorum_queue_with_the_arguments_it_supports(
    settings: Settings, vhost: str
) -> None:
    connection = await connect(settings.amqp_url, name="test")
    try:
        await Publisher.open(connection, timeout_s=5, shape=QueueShape.of(settings))
    finally:
        await connection.close()
    lane = _queue(vhost, ALL_LANE_QUEUES[0])
    assert lane["type"] == "quorum"
    assert lane["arguments"] == {
        "x-queue-type": "quorum",
        "x-max-length": settings.queue_max_length,
        "x-overflow": "reject-publish",
        "x-dead-letter-exchange": "wavecom.dlx",
        "x-dead-letter-strategy": "at-least-once",
        "x-delivery-limit": settings.queue_delivery_limit,
    }
    delay = _queue(vhost, delay_queue(250))
    assert delay["type"] == "quorum"
    assert delay["arguments"] == {
        "x-queue-type": "quorum",
        "x-message-ttl": 250,
        "x-overflow": "reject-publish",
        "x-dead-letter-exchange": "wavecom.work",
        "x-dead-letter-strategy": "at-least-once",
    }
    assert _queue(vhost, DLQ)["type"] == "quorum"


async def test_classic_queues_keep_the_arguments_they_always_had(
    settings: Settings, vhost: str
) -> None:
    connection = await connect(settings.amqp_url, name="test")
    try:
        channel = await connection.channel()
        await declare_topology(channel, QueueShape(QueueType.CLASSIC))
    finally:
        await connection.close()
    lane = _queue(vhost, ALL_LANE_QUEUES[0])
    assert lane["type"] == "classic"
    assert "x-queue-type" not in lane["arguments"]  # type: ignore[operator]


async def test_c_a_classic_installation_started_as_quorum_fails_with_what_to_do(
    settings: Settings, vhost: str
) -> None:
    connection = await connect(settings.amqp_url, name="test")
    try:
        await declare_topology(await connection.channel(), QueueShape(QueueType.CLASSIC))
        with pytest.raises(QueueMismatch) as raised:
            await declare_topology(await connection.channel(), QueueShape(QueueType.QUORUM))
    finally:
        await connection.close()
    message = str(raised.value)
    assert "'wavecom.dlq'" in message  # the first queue declared
    assert "is a classic queue but QUEUE_TYPE is quorum" in message
    assert "QUEUE_TYPE=classic" in message
    assert "delete" in message

    # the processes say so and stop, instead of a traceback about a closed channel
    async with System(settings) as system:
        await system.spawn_worker("email")
        await system.spawn_api(wait=False, port=free_port())
        assert await system.procs["email"].wait() == 78
        assert await system.procs["api"].wait() != 0
        for name in ("email", "api"):
            log = (system.log_dir / f"{name}.log").read_text()
            assert "cannot start: queue 'wavecom.dlq'" in log, log[-2000:]
            assert "is a classic queue but QUEUE_TYPE is quorum" in log


async def test_a_job_is_published_persistent_with_its_id_and_an_unroutable_one_is_refused(
    settings: Settings, vhost: str
) -> None:
    connection = await connect(settings.amqp_url, name="test")
    try:
        publisher = await Publisher.open(connection, timeout_s=5, shape=QueueShape.of(settings))
        email = DeliveryJob("n1", "t1", Channel.EMAIL, "a@example.com", "hi", Priority.HIGH)
        sms = DeliveryJob("n2", "t1", Channel.SMS, "+15550100", "hi", Priority.LOW, attempt=2)
        await publisher.publish_jobs([email, sms])
        channel = await connection.channel()
        for job in (email, sms):
            queue = await channel.get_queue(lane_queue(job.type, job.lane), ensure=False)
            message = await queue.get(timeout=5)
            assert message is not None
            assert DeliveryJob.decode(message.body) == job
            assert message.message_id == f"{job.id}:{job.attempt}"
            assert message.delivery_mode == 2  # persistent
            assert message.content_type == "application/json"
            await message.ack()

        # a lane whose queue is gone (a wiped node back before the topology was declared
        # again): the broker returns the message, tried once more on a new channel, refused
        gone = lane_queue(sms.type, sms.lane)
        async with httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=GUEST, timeout=10) as m:
            (
                await m.delete(f"/api/queues/{quote(vhost, safe='')}/{quote(gone, safe='')}")
            ).raise_for_status()
        stale = publisher.channel
        with pytest.raises(PublishRejected):
            await publisher.publish_jobs([sms])
        assert publisher.channel is not stale
        await publisher.publish_jobs([email])  # the new channel publishes the others
    finally:
        await connection.close()


async def test_a_list_of_nodes_connects_to_the_first_that_answers(
    settings: Settings, vhost: str
) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    connection = await connect(f"{dead},{settings.amqp_url}", name="test")
    try:
        assert not connection.is_closed
        assert connection.url.port == URL(amqp_url(vhost)).port
    finally:
        await connection.close()
    with pytest.raises(BrokerUnavailable) as raised:
        await connect(f"{dead},{dead}", name="test")
    assert "guest" not in str(raised.value)  # never the credentials
