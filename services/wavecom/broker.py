"""RabbitMQ: the topology, and publishing with publisher confirms awaited concurrently.

Topology (declared idempotently by every process at start-up)::

    wavecom.work  (topic) --"email.high", "delay.*.email.high"--> wavecom.email.high   (and so on
                                                                  for each channel and lane)
    wavecom.delay (topic) --"delay.<ms>.#"--> wavecom.delay.<ms>ms  --TTL--> back to wavecom.work
    wavecom.dlx   (fanout) --> wavecom.dlq

Lane queues are bounded (x-max-length with reject-publish: a full queue nacks the publish, so
the API answers 503/429 instead of losing the message) and dead-letter rejected messages to the
DLQ. A delay queue holds messages for exactly its TTL, then dead-letters them back to the work
exchange with their routing key, which still names the channel and lane they came from.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
    DeliveryMode,
)
from aiormq.exceptions import AMQPError, DeliveryError, PublishError

from wavecom.constants import (
    ALL_LANE_QUEUES,
    DELAY_EXCHANGE,
    DELAY_LADDER_MS,
    DLQ,
    DLX_EXCHANGE,
    WORK_EXCHANGE,
    Channel,
    Lane,
    delay_key,
    delay_queue,
    lane_key,
    lane_queue,
)
from wavecom.errors import BrokerUnavailable, PublishRejected
from wavecom.messages import DeliveryJob


async def connect(url: str, *, name: str) -> AbstractRobustConnection:
    """A robust connection: it reconnects and restores channels, queues and consumers."""
    try:
        return await aio_pika.connect_robust(
            url, client_properties={"connection_name": name}, timeout=10
        )
    except (TimeoutError, OSError, AMQPError) as exc:
        raise BrokerUnavailable(f"RabbitMQ unreachable: {exc}") from exc


async def declare_topology(
    channel: AbstractChannel, *, max_length: int
) -> dict[str, AbstractQueue]:
    """Declare every exchange and queue; return the lane queues by name."""
    work = await channel.declare_exchange(WORK_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    delay = await channel.declare_exchange(
        DELAY_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dlx = await channel.declare_exchange(DLX_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
    dlq = await channel.declare_queue(DLQ, durable=True)
    await dlq.bind(dlx)
    lanes: dict[str, AbstractQueue] = {}
    for ch in Channel:
        for lane in Lane:
            q = await channel.declare_queue(
                lane_queue(ch, lane),
                durable=True,
                arguments={
                    "x-max-length": max_length,
                    "x-overflow": "reject-publish",
                    "x-dead-letter-exchange": DLX_EXCHANGE,
                },
            )
            await q.bind(work, lane_key(ch, lane))
            await q.bind(work, f"delay.*.{lane_key(ch, lane)}")
            lanes[q.name] = q
    for rung in DELAY_LADDER_MS:
        # One fixed TTL per queue: messages leave in arrival order, none waits behind a longer one.
        q = await channel.declare_queue(
            delay_queue(rung),
            durable=True,
            arguments={"x-message-ttl": rung, "x-dead-letter-exchange": WORK_EXCHANGE},
        )
        await q.bind(delay, f"delay.{rung}.#")
    return lanes


def snap_to_ladder(delay_ms: float) -> int:
    """The delay-queue rung nearest to ``delay_ms`` (nearest in ratio, so jitter survives)."""
    wanted = max(delay_ms, 1.0)
    return min(DELAY_LADDER_MS, key=lambda rung: abs(math.log(rung / wanted)))


class Publisher:
    """Publishes jobs with confirms; many publishes are awaited together, never one by one."""

    def __init__(self, channel: AbstractChannel, *, timeout_s: float) -> None:
        self.channel = channel
        self.timeout_s = timeout_s
        self.connection: AbstractRobustConnection | None = None
        self._work: AbstractExchange | None = None
        self._delay: AbstractExchange | None = None
        self._dlx: AbstractExchange | None = None

    @classmethod
    async def open(
        cls, connection: AbstractRobustConnection, *, timeout_s: float, max_length: int
    ) -> Publisher:
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel, max_length=max_length)
        pub = cls(channel, timeout_s=timeout_s)
        pub.connection = connection
        pub._work = await channel.get_exchange(WORK_EXCHANGE, ensure=False)
        pub._delay = await channel.get_exchange(DELAY_EXCHANGE, ensure=False)
        pub._dlx = await channel.get_exchange(DLX_EXCHANGE, ensure=False)
        return pub

    @property
    def ready(self) -> bool:
        """False while the connection to RabbitMQ is down (a robust one is reconnecting)."""
        conn = self.connection
        return not self.channel.is_closed and (conn is None or not conn.is_closed)

    async def publish_jobs(self, jobs: Sequence[DeliveryJob]) -> None:
        """Queue first deliveries on their lanes; returns once the broker confirmed every one."""
        assert self._work is not None
        work = self._work
        await self._confirm_all(
            [
                work.publish(
                    _message(j),
                    routing_key=lane_key(j.type, j.lane),
                    mandatory=True,
                    timeout=self.timeout_s,
                )
                for j in jobs
            ]
        )

    async def publish_delayed(self, items: Sequence[tuple[DeliveryJob, int]]) -> None:
        """Queue (job, rung_ms) pairs on delay queues; each comes back to its lane after rung_ms."""
        assert self._delay is not None
        delay = self._delay
        await self._confirm_all(
            [
                delay.publish(
                    _message(j),
                    routing_key=delay_key(rung, j.type, j.lane),
                    mandatory=True,
                    timeout=self.timeout_s,
                )
                for j, rung in items
            ]
        )

    async def publish_dead(self, items: Sequence[tuple[bytes, dict[str, Any]]]) -> None:
        """Dead-letter raw bodies with headers that say why."""
        assert self._dlx is not None
        dlx = self._dlx
        await self._confirm_all(
            [
                dlx.publish(
                    aio_pika.Message(
                        body,
                        headers=headers,
                        delivery_mode=DeliveryMode.PERSISTENT,
                        content_type="application/json",
                    ),
                    routing_key="",
                    timeout=self.timeout_s,
                )
                for body, headers in items
            ]
        )

    async def _confirm_all(self, publishes: list[Any]) -> None:
        if not publishes:
            return
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*publishes, return_exceptions=True), self.timeout_s + 1
            )
        except TimeoutError as exc:
            raise BrokerUnavailable("publish not confirmed in time") from exc
        for r in results:
            if isinstance(r, (DeliveryError, PublishError)):
                raise PublishRejected(f"broker refused a publish: {r}") from r
            if isinstance(r, BaseException):
                raise BrokerUnavailable(f"publish failed: {r!r}") from r


def _message(job: DeliveryJob) -> aio_pika.Message:
    return aio_pika.Message(
        job.encode(),
        delivery_mode=DeliveryMode.PERSISTENT,
        content_type="application/json",
        message_id=f"{job.id}:{job.attempt}",
        priority=None,
    )


async def queue_depths(channel: AbstractChannel) -> dict[str, int]:
    """Messages ready in every lane queue and the DLQ, and in all delay queues together.

    Passive declares on the underlying channel: aio-pika's own ``declare_queue`` caches the
    queue object of a robust channel and would keep answering the first count.
    """
    raw = await channel.get_underlay_channel()

    async def depth(name: str) -> int:
        ok = await raw.queue_declare(name, passive=True)
        return int(ok.message_count or 0)

    depths = {name: await depth(name) for name in (*ALL_LANE_QUEUES, DLQ)}
    depths["retry"] = sum([await depth(delay_queue(rung)) for rung in DELAY_LADDER_MS])
    return depths
