"""Queue depths, sampled in the background: what load shedding and the ``queue_depth`` metric read.

One sampler per API process, on its own channel. Each tick (every second) it reads the three
standard lanes, where MEDIUM and LOW wait (load shedding needs them fresh); at most once every
``full_every_s`` (5 s) it reads every lane queue, the DLQ and the delay queues instead, and sets
the ``queue_depth`` gauge. A Prometheus scrape only reads the gauge: it costs no broker round
trip, however many scrapes arrive at once, and they all see the same sample.

Passive declares, the only way AMQP tells a queue's depth: one round trip each, 3 per tick and
32 per full sample (see :func:`wavecom.core.broker.queue_depths`).
"""

from __future__ import annotations

import time

from aio_pika.abc import AbstractChannel

from wavecom.core import metrics
from wavecom.core.broker import queue_depths
from wavecom.core.constants import Channel, Lane, lane_queue

TICK_S = 1.0  # how often the standard lanes are read (the period of the sampler's loop)
FULL_EVERY_S = 5.0  # how often every queue is read, for the queue_depth gauge


class QueueDepths:
    """The last sampled depth of each queue; ``sample()`` is the background tick."""

    def __init__(self, channel: AbstractChannel, *, full_every_s: float = FULL_EVERY_S) -> None:
        self.channel = channel
        self.full_every_s = full_every_s
        self.depths: dict[str, int] = {}
        self._full_at = -float("inf")  # time.monotonic() of the last full sample

    async def sample(self) -> None:
        """Read the standard lanes, or every queue when the last full sample is old enough."""
        now = time.monotonic()
        if now - self._full_at >= self.full_every_s:
            depths = await queue_depths(self.channel)
            self._full_at = now
            self.depths.update(depths)
            for queue, depth in depths.items():
                metrics.QUEUE_DEPTH.labels(queue).set(depth)
            return
        raw = await self.channel.get_underlay_channel()
        for ch in Channel:
            name = lane_queue(ch, Lane.STANDARD)
            ok = await raw.queue_declare(name, passive=True)
            self.depths[name] = int(ok.message_count or 0)

    def standard(self, channel: Channel) -> int:
        """Messages waiting in ``channel``'s standard lane at the last sample (0 before one)."""
        return self.depths.get(lane_queue(channel, Lane.STANDARD), 0)
