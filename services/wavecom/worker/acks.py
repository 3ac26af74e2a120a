"""Settling deliveries with as few frames as the broker allows: one ``multiple`` ack a batch.

A basic.ack with ``multiple`` settles every unsettled delivery of its channel up to its tag,
so it may be sent only when everything delivered before the batch's messages on that channel
is settled already: batches run concurrently (``MAX_BATCHES_IN_FLIGHT``) and a later one may
finish first, and a message still buffered, or held by a slow batch, must not be acked by
another batch's frame (a crash would then lose it). :class:`Acks` keeps, per channel, the
delivery tags not settled yet, in delivery order (a channel's tags only grow). A batch whose
messages are the oldest of their channel is acked with one frame; what finished ahead of an
older batch is acked one message a frame, as before. Nothing is held back waiting for an older
batch, so a slow provider never fills the prefetch window with finished work.

A frame's tag is always one the broker still counts as unsettled (an ack of a tag it does not
know closes the channel with PRECONDITION_FAILED): each tag is settled once, through here, and
the frames reach the connection's write queue in the order they were decided, one settle at a
time (a lock). Without it a later batch's ``multiple`` ack could overtake an earlier one's (the
write queue holds 10 frames, and a coroutine that finds room puts before one woken to): it
would settle the earlier batch's tags too, and the earlier frame would then name a tag the
broker no longer knows. A message of a channel that has closed cannot be settled at all: the
broker hands it out again, and the claims keep it from being sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable

from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import AbstractChannel
from aiormq.exceptions import ChannelInvalidStateError

log = logging.getLogger("wavecom.worker")


class Acks:
    """The unsettled deliveries of a worker's channels, and the frames that settle them."""

    def __init__(self) -> None:
        # per channel, its unsettled delivery tags in delivery order (a dict keeps insertion
        # order, and deletes in O(1))
        self._open: dict[AbstractChannel, dict[int, None]] = {}
        # channels whose deliveries were counted out of tag order: acked one message a frame
        self._disordered: set[AbstractChannel] = set()
        # one settle at a time, from its decision until its frames are queued (see above)
        self._order = asyncio.Lock()

    def delivered(self, message: AbstractIncomingMessage) -> None:
        """Count a message just delivered (the consumer's callback: aio-pika runs them in
        delivery order; were it ever not to, that channel is acked one message a frame)."""
        channel, tag = _channel(message), message.delivery_tag
        if channel is None or tag is None:
            return
        held = self._open.setdefault(channel, {})
        if held and tag <= next(reversed(held)):
            self._disordered.add(channel)
        held[tag] = None

    def unsettled(self) -> int:
        return sum(len(tags) for ch, tags in self._open.items() if not ch.is_closed)

    async def ack(self, messages: Iterable[AbstractIncomingMessage]) -> int:
        """Ack these messages; answer how many frames that took."""
        frames = 0
        async with self._order:
            for channel, (tags, run) in self._take(messages).items():
                singles = tags
                if run >= 2:
                    frames += 1
                    last = tags[run - 1]
                    if not await _sent(channel.basic_ack(last, multiple=True, wait=False), "ack"):
                        continue
                    singles = tags[run:]
                for tag in singles:
                    frames += 1
                    if not await _sent(channel.basic_ack(tag, wait=False), "ack"):
                        break
        return frames

    async def nack(self, messages: Iterable[AbstractIncomingMessage]) -> None:
        """Give these messages back to their queue (each its own frame: a rare path)."""
        async with self._order:
            for channel, (tags, _) in self._take(messages).items():
                for tag in tags:
                    if not await _sent(channel.basic_nack(tag, requeue=True, wait=False), "nack"):
                        break

    def _take(
        self, messages: Iterable[AbstractIncomingMessage]
    ) -> dict[AbstractChannel, tuple[list[int], int]]:
        """The messages' tags still unsettled, by channel, sorted, each with the length of
        their run that is the channel's oldest unsettled tags; they count as settled from now
        on (decided before any frame is queued, so whatever decides next sees them settled,
        and no tag is settled twice: a second frame for a tag closes the channel)."""
        for ch in [ch for ch in self._open if ch.is_closed]:
            del self._open[ch]
            self._disordered.discard(ch)
        by_channel: dict[AbstractChannel, list[int]] = {}
        for m in messages:
            channel, tag = _channel(m), m.delivery_tag
            if channel is not None and tag is not None and tag in self._open.get(channel, ()):
                by_channel.setdefault(channel, []).append(tag)
        taken: dict[AbstractChannel, tuple[list[int], int]] = {}
        for channel, found in by_channel.items():
            held = self._open[channel]
            tags = sorted(set(found))
            run = 0
            for oldest, tag in zip(() if channel in self._disordered else held, tags, strict=False):
                if oldest != tag:
                    break
                run += 1
            for tag in tags:
                del held[tag]
            taken[channel] = (tags, run)
        return taken


def _channel(message: AbstractIncomingMessage) -> AbstractChannel | None:
    """The channel a message came on, or None when it has closed since."""
    try:
        return message.channel
    except ChannelInvalidStateError:
        return None


async def _sent(frame: Awaitable[None], what: str) -> bool:
    """Queue a settling frame (``wait=False``: the lock is held only until it is queued, not
    until it is written; an ack has no answer to wait for anyway); False (logged) when its
    channel went away meanwhile."""
    try:
        await frame
    except Exception as exc:  # the channel or its connection is gone, whichever way
        log.warning("could not %s on a channel that went away (%s): redelivered", what, exc)
        return False
    return True
