"""Graceful degradation: above backlog thresholds, LOW and then MEDIUM are refused with 429.

Seed 003's degradation levels made real. The API samples the depth of each channel's standard
lane (where MEDIUM and LOW wait) once a second. Above ``SHED_LOW_BACKLOG`` it refuses LOW,
above ``SHED_MEDIUM_BACKLOG`` MEDIUM as well, with ``Retry-After``; HIGH and CRITICAL ride the
high lane and are always accepted (up to the queues' own bound). Nothing accepted is dropped:
refusing happens before anything is stored.
"""

from __future__ import annotations

from aio_pika.abc import AbstractChannel

from wavecom.constants import Channel, Lane, Priority, lane_queue


class LoadShedder:
    def __init__(self, channel: AbstractChannel, *, low: int, medium: int) -> None:
        self.channel = channel
        self.low = low
        self.medium = medium
        self.backlog: dict[Channel, int] = dict.fromkeys(Channel, 0)

    async def sample(self) -> None:
        """Three passive declares (the standard lanes), not the 32 of the stats endpoint."""
        raw = await self.channel.get_underlay_channel()
        for ch in Channel:
            ok = await raw.queue_declare(lane_queue(ch, Lane.STANDARD), passive=True)
            self.backlog[ch] = int(ok.message_count or 0)

    def refuses(self, channel: Channel, priority: Priority) -> str | None:
        """Why a notification of this channel and priority is refused now, or None."""
        depth = self.backlog[channel]
        if priority is Priority.LOW and depth >= self.low:
            return f"{channel.value} backlog is {depth}: LOW is refused above {self.low}"
        if priority is Priority.MEDIUM and depth >= self.medium:
            return f"{channel.value} backlog is {depth}: MEDIUM is refused above {self.medium}"
        return None
