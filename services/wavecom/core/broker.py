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

Every queue is a quorum queue by default (``QUEUE_TYPE``): replicated over the cluster's nodes,
so losing a node (its disk included) loses no message. Quorum queues dead-letter
*at-least-once* (RabbitMQ 3.10+): a message leaves a delay queue only once the lane queue it
goes back to has confirmed it. RabbitMQ refuses to redeclare a queue with another type; that
is reported at start-up as :class:`~wavecom.core.errors.QueueMismatch`, naming the queue and what to
do, instead of a crash with the broker's channel error.

``AMQP_URL`` may list several nodes: :func:`connect` takes the first that answers and, when
the connection is lost, each reconnect attempt goes to the next node in the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractQueue,
    AbstractRobustConnection,
    UnderlayConnection,
)
from aio_pika.robust_connection import RobustConnection
from aiormq.exceptions import AMQPError, ChannelPreconditionFailed, DeliveryError, PublishError
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from yarl import URL

from wavecom.core import telemetry
from wavecom.core.constants import (
    ALL_LANE_QUEUES,
    DELAY_EXCHANGE,
    DELAY_LADDER_MS,
    DLQ,
    DLX_EXCHANGE,
    WORK_EXCHANGE,
    Channel,
    Lane,
    QueueType,
    delay_key,
    delay_queue,
    lane_key,
    lane_queue,
)
from wavecom.core.errors import BrokerUnavailable, PublishRejected, QueueMismatch
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings

log = logging.getLogger("wavecom.broker")

# between two reconnect attempts (each to the next node when AMQP_URL lists several)
RECONNECT_INTERVAL_S = 1.0
CONNECT_TIMEOUT_S = 10.0
# every message is persistent (delivery mode 2) and JSON
PERSISTENT = 2
JSON = "application/json"


class FailoverConnection(RobustConnection):
    """aio-pika's robust connection, over a list of nodes: every connection attempt after a
    loss goes to the next node in the list, round-robin, until one answers.

    ``RobustConnection`` keeps one URL and retries it; its connection loop clears
    ``transport`` right before each attempt (``Connection.connect`` then dials ``self.url``).
    That is where the next node is chosen. Channels, exchanges, queues, bindings and
    consumers are restored on whichever node answers, as they are after a reconnect to the
    same node.
    """

    def __init__(self, urls: Sequence[str], **kwargs: Any) -> None:
        super().__init__(URL(urls[0]), **kwargs)
        # after super().__init__: its own "transport = None" must not move along the list
        self._nodes = [URL(u) for u in urls]
        self._attempt = 0

    @property
    def transport(self) -> UnderlayConnection | None:
        return self.__dict__.get("_transport")

    @transport.setter
    def transport(self, value: UnderlayConnection | None) -> None:
        nodes: list[URL] | None = self.__dict__.get("_nodes")
        if value is None and nodes:  # a connection attempt begins (or the connection closes)
            self.url = nodes[self._attempt % len(nodes)]
            self._attempt += 1
        self.__dict__["_transport"] = value


async def connect(
    url: str, *, name: str, ssl_context: ssl.SSLContext | None = None
) -> FailoverConnection:
    """A robust connection: it reconnects and restores channels, queues and consumers.

    ``ssl_context`` is used for ``amqps://`` URLs (a private CA, a client certificate:
    :func:`wavecom.core.tls.amqp_context`); without it, the system's CAs.

    ``url`` may list several nodes of a cluster, comma-separated: the first that answers is
    used, and after a loss the connection moves on to the next one (:class:`FailoverConnection`).
    """
    urls = [u.strip() for u in url.split(",") if u.strip()]
    failures: list[str] = []
    for start in range(len(urls)):
        # the node that answered first is tried first again after a loss, then the others
        order = urls[start:] + urls[:start]
        connection = FailoverConnection(
            order,
            client_properties={"connection_name": name},
            reconnect_interval=RECONNECT_INTERVAL_S,
            ssl_context=ssl_context,
        )
        try:
            await connection.connect(timeout=CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, AMQPError) as exc:
            failures.append(f"{_node(order[0])}: {exc}")
            with contextlib.suppress(Exception):
                await connection.close()
            continue
        if failures:
            log.warning("%s: connected to %s (%s)", name, _node(order[0]), "; ".join(failures))
        return connection
    raise BrokerUnavailable(f"RabbitMQ unreachable: {'; '.join(failures)}")


def _node(url: str) -> str:
    """host:port of an AMQP URL: for messages, never the credentials."""
    u = URL(url)
    return f"{u.host}:{u.port}"


@dataclass(frozen=True, slots=True)
class QueueShape:
    """How every queue is declared: its type and the limits that type supports.

    Classic queues keep exactly the arguments they had before quorum queues came, so an
    existing classic installation redeclares its queues unchanged.
    """

    type: QueueType = QueueType.QUORUM
    max_length: int = 2_000_000
    delivery_limit: int = 20

    @classmethod
    def of(cls, settings: Settings) -> QueueShape:
        return cls(settings.queue_type, settings.queue_max_length, settings.queue_delivery_limit)

    def _common(self) -> dict[str, Any]:
        if self.type is QueueType.CLASSIC:
            return {}
        return {"x-queue-type": QueueType.QUORUM.value}

    def lane(self) -> dict[str, Any]:
        """A lane queue: bounded (a full one nacks the publish: the API answers 503/429 rather
        than lose it), dead-lettering to the DLQ."""
        args = {
            **self._common(),
            "x-max-length": self.max_length,
            "x-overflow": "reject-publish",
            "x-dead-letter-exchange": DLX_EXCHANGE,
        }
        if self.type is QueueType.QUORUM:
            # a message redelivered this often (a worker crashing on it each time) goes to the
            # DLQ instead of taking workers down forever; at-least-once: it is kept until the
            # DLQ confirmed it
            args["x-delivery-limit"] = self.delivery_limit
            args["x-dead-letter-strategy"] = "at-least-once"
        return args

    def delay(self, rung_ms: int) -> dict[str, Any]:
        """A delay queue: its TTL, then back to the work exchange (and so to its lane)."""
        args = {
            **self._common(),
            "x-message-ttl": rung_ms,
            "x-dead-letter-exchange": WORK_EXCHANGE,
        }
        if self.type is QueueType.QUORUM:
            # at-least-once: a retry leaves the delay queue only once its lane confirmed it
            # (at-least-once dead-lettering requires reject-publish)
            args["x-overflow"] = "reject-publish"
            args["x-dead-letter-strategy"] = "at-least-once"
        return args

    def dead_letters(self) -> dict[str, Any]:
        return self._common()


async def declare_topology(channel: AbstractChannel, shape: QueueShape) -> dict[str, AbstractQueue]:
    """Declare every exchange and queue; return the lane queues by name.

    Raises :class:`QueueMismatch` when a queue exists with another type or other arguments.
    """
    try:
        return await _declare(channel, shape)
    except ChannelPreconditionFailed as exc:
        raise mismatch(exc, shape) from exc


async def _declare(channel: AbstractChannel, shape: QueueShape) -> dict[str, AbstractQueue]:
    work = await channel.declare_exchange(WORK_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    delay = await channel.declare_exchange(
        DELAY_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dlx = await channel.declare_exchange(DLX_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
    dlq = await channel.declare_queue(DLQ, durable=True, arguments=shape.dead_letters())
    await dlq.bind(dlx)
    lanes: dict[str, AbstractQueue] = {}
    for ch in Channel:
        for lane in Lane:
            q = await channel.declare_queue(
                lane_queue(ch, lane), durable=True, arguments=shape.lane()
            )
            await q.bind(work, lane_key(ch, lane))
            await q.bind(work, f"delay.*.{lane_key(ch, lane)}")
            lanes[q.name] = q
    for rung in DELAY_LADDER_MS:
        # One fixed TTL per queue: messages leave in arrival order, none waits behind a longer one.
        q = await channel.declare_queue(
            delay_queue(rung), durable=True, arguments=shape.delay(rung)
        )
        await q.bind(delay, f"delay.{rung}.#")
    return lanes


_INEQUIVALENT = re.compile(
    r"inequivalent arg '(?P<arg>[^']+)' for queue '(?P<queue>[^']+)' in vhost '(?P<vhost>[^']*)':"
    r" received (?:none|the value '(?P<received>[^']*)'[^:]*?) but current is"
    r" (?:none|the value '(?P<current>[^']*)')"
)


def mismatch(exc: ChannelPreconditionFailed, shape: QueueShape) -> QueueMismatch:
    """The start-up error for a queue RabbitMQ refused to redeclare, saying what to do."""
    text = str(exc.args[0] if exc.args else exc)
    m = _INEQUIVALENT.search(text)
    if m is None:
        return QueueMismatch(f"RabbitMQ refused to declare the topology: {text}")
    queue, vhost, arg = m["queue"], m["vhost"], m["arg"]
    if arg == "x-queue-type":
        current = m["current"] or QueueType.CLASSIC.value  # a queue without the argument
        return QueueMismatch(
            f"queue {queue!r} (vhost {vhost!r}) is a {current} queue but QUEUE_TYPE is "
            f"{shape.type.value}: RabbitMQ cannot change a queue's type. Either set "
            f"QUEUE_TYPE={current} to keep the existing queues, or migrate: stop the API and "
            f"the workers, let the queues drain (the database keeps every notification; the "
            f"sweeper re-queues what was still waiting), delete the wavecom.* queues "
            f"(rabbitmqctl delete_queue -p {vhost} {queue}, and the others), then start again"
        )
    return QueueMismatch(
        f"queue {queue!r} (vhost {vhost!r}) exists with {arg}={m['current'] or 'unset'}, this "
        f"configuration declares {arg}={m['received'] or 'unset'}: RabbitMQ cannot change a "
        f"queue's arguments. Set the setting back, or drain and delete the queue (or change "
        f"it with a policy) and start again"
    )


@dataclass(frozen=True, slots=True)
class _Publish:
    """One message to publish: the exchange, the body and its properties, the routing key,
    and whether it must be routed; traced, the PRODUCER span whose context its headers carry
    (ended once confirmed)."""

    exchange: str
    body: bytes
    properties: aiormq.spec.Basic.Properties
    routing_key: str
    mandatory: bool = True
    span: Span = INVALID_SPAN


def _job_publish(exchange: str, job: DeliveryJob, routing_key: str) -> _Publish:
    """A job's publish; traced, under a PRODUCER span that continues ``job.trace`` (else the
    current span), whose W3C context goes into the message's headers for the worker."""
    if not telemetry.enabled():
        return _Publish(exchange, job.encode(), _properties(job), routing_key)
    span = telemetry.start_span(
        f"publish {exchange}",
        kind=SpanKind.PRODUCER,
        parent=telemetry.parent(job.trace),
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": exchange,
            "messaging.rabbitmq.destination.routing_key": routing_key,
            "messaging.message.id": f"{job.id}:{job.attempt}",
            "wavecom.notification.id": job.id,
            "wavecom.attempt": job.attempt,
        },
    )
    headers: dict[str, Any] = {}
    telemetry.inject(headers, span)
    return _Publish(exchange, job.encode(), _properties(job, headers), routing_key, span=span)


class Publisher:
    """Publishes jobs with confirms; many publishes are awaited together, never one by one.

    A nacked publish is tried once more on a fresh channel, and the channel that nacked it is
    never used again. The reason is RabbitMQ 3.10's quorum-queue client, which lives in the
    broker's channel process, one per (channel, queue): it is created naming the leader that
    the queue's record names at the channel's first publish to that queue, and that first
    publish asks the leader's node for its machine version. If that node is down (killed, and
    the queue's record not yet moved to the new leader), the publish is nacked and the client
    keeps pointing at the dead node: every later publish on that channel to that queue is
    nacked too, for the channel's lifetime, long after a new leader took over. A new channel
    starts a new client from the record. A genuine refusal (a lane at its bound) is nacked on
    the fresh channel as well and raised as :class:`PublishRejected`.
    """

    def __init__(self, channel: AbstractChannel, *, timeout_s: float) -> None:
        self.channel = channel  # the channel publishes go through: replaced after a nack
        self.timeout_s = timeout_s
        self.connection: AbstractRobustConnection | None = None
        # the channel that declared the topology is kept open: a robust connection declares
        # it again from that channel after a reconnect (to a wiped node, say)
        self._topology: AbstractChannel | None = None
        self._renewing = asyncio.Lock()

    @classmethod
    async def open(
        cls, connection: AbstractRobustConnection, *, timeout_s: float, shape: QueueShape
    ) -> Publisher:
        topology = await connection.channel(publisher_confirms=False)
        await declare_topology(topology, shape)
        pub = cls(await _publish_channel(connection), timeout_s=timeout_s)
        pub.connection = connection
        pub._topology = topology
        return pub

    @property
    def ready(self) -> bool:
        """False while the connection to RabbitMQ is down (a robust one is reconnecting)."""
        conn = self.connection
        return not self.channel.is_closed and (conn is None or not conn.is_closed)

    async def publish_jobs(self, jobs: Sequence[DeliveryJob]) -> None:
        """Queue first deliveries on their lanes; returns once the broker confirmed every one."""
        await self._confirm_all(
            [_job_publish(WORK_EXCHANGE, j, lane_key(j.type, j.lane)) for j in jobs]
        )

    async def publish_delayed(self, items: Sequence[tuple[DeliveryJob, int]]) -> None:
        """Queue (job, rung_ms) pairs on delay queues; each comes back to its lane after rung_ms."""
        await self._confirm_all(
            [_job_publish(DELAY_EXCHANGE, j, delay_key(rung, j.type, j.lane)) for j, rung in items]
        )

    async def publish_dead(self, items: Sequence[tuple[bytes, dict[str, Any]]]) -> None:
        """Dead-letter raw bodies with headers that say why."""
        await self._confirm_all(
            [
                _Publish(
                    DLX_EXCHANGE,
                    body,
                    aiormq.spec.Basic.Properties(
                        headers=headers,
                        delivery_mode=PERSISTENT,
                        content_type=JSON,
                    ),
                    "",
                    mandatory=False,
                )
                for body, headers in items
            ]
        )

    async def _confirm_all(self, publishes: list[_Publish]) -> None:
        if not publishes:
            return
        if not telemetry.enabled():
            await self._confirm(publishes)
            return
        try:
            await self._confirm(publishes)
        except BaseException as exc:
            for p in publishes:
                telemetry.end(p.span, exc)
            raise
        for p in publishes:
            p.span.end()

    async def _confirm(self, publishes: list[_Publish]) -> None:
        nacked = await self._publish(publishes)
        if nacked:
            # a fresh channel, and once more (see the class doc): a stale client is mended,
            # a full lane refuses again
            log.warning("%d publishes nacked: trying them once more on a new channel", len(nacked))
            nacked = await self._publish([publishes[i] for i, _ in nacked])
        if nacked:
            _, first = nacked[0]
            raise PublishRejected(f"broker refused {len(nacked)} publishes: {first}") from first

    async def _publish(self, publishes: list[_Publish]) -> list[tuple[int, BaseException]]:
        """Publish on the current channel; the (index, error) of each one nacked or returned.

        Straight through the channel's AMQP channel (aiormq) instead of aio-pika's exchange
        objects and messages, where each publish built a locked ``Message``, had a deadline
        of its own and waited until its frames were written before the next one could take
        the channel's lock: in 60-s steps at 400/s, alternated with the build before, the
        API's CPU 0.04-0.16 ms a notification lower and RabbitMQ's 0.01-0.11
        (``docs/benchmarks.md``). The frames still go out in order, every confirm is
        still awaited, and one deadline covers them all. A channel that nacked anything is
        replaced before this returns.
        """
        channel = self.channel
        try:
            # aiormq's own channel: its publish takes ``wait`` (its abstract one does not)
            raw = cast(aiormq.Channel, await channel.get_underlay_channel())
        except (AMQPError, RuntimeError) as exc:
            raise BrokerUnavailable(f"no channel to publish on: {exc!r}") from exc
        try:
            results = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        raw.basic_publish(
                            p.body,
                            exchange=p.exchange,
                            routing_key=p.routing_key,
                            properties=p.properties,
                            mandatory=p.mandatory,
                            wait=False,
                        )
                        for p in publishes
                    ),
                    return_exceptions=True,
                ),
                self.timeout_s,
            )
        except TimeoutError as exc:
            raise BrokerUnavailable("publish not confirmed in time") from exc
        nacked: list[tuple[int, BaseException]] = []
        for i, r in enumerate(results):
            if isinstance(r, (DeliveryError, PublishError)):
                nacked.append((i, r))
            elif isinstance(r, BaseException):
                raise BrokerUnavailable(f"publish failed: {r!r}") from r
        if nacked:
            await self._renew(channel)
        return nacked

    async def _renew(self, stale: AbstractChannel) -> None:
        """Publish through a new channel from now on, and close ``stale`` (unless another
        publish renewed it already)."""
        async with self._renewing:
            if self.channel is not stale or self.connection is None:
                return
            try:
                self.channel = await _publish_channel(self.connection)
            except (AMQPError, OSError, RuntimeError) as exc:
                raise BrokerUnavailable(f"could not open a new channel: {exc!r}") from exc
        with contextlib.suppress(Exception):
            await stale.close()


async def _publish_channel(connection: AbstractRobustConnection) -> AbstractChannel:
    # on_return_raises: a mandatory publish that no queue took (its queue missing, say after
    # a wiped node came back before the topology was declared again) is an error, not a
    # confirm
    return await connection.channel(publisher_confirms=True, on_return_raises=True)


def _properties(
    job: DeliveryJob, headers: dict[str, Any] | None = None
) -> aiormq.spec.Basic.Properties:
    return aiormq.spec.Basic.Properties(
        headers=headers or None,
        delivery_mode=PERSISTENT,
        content_type=JSON,
        message_id=f"{job.id}:{job.attempt}",
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
