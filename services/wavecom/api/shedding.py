"""Graceful degradation: above backlog thresholds, LOW and then MEDIUM are refused with 429.

Seed 003's degradation levels made real. The API samples the depth of each channel's standard
lane (where MEDIUM and LOW wait) once a second, from the API's one queue-depth sampler
(:mod:`wavecom.api.depths`). Above ``SHED_LOW_BACKLOG`` it refuses LOW,
above ``SHED_MEDIUM_BACKLOG`` MEDIUM as well, with ``Retry-After``; HIGH and CRITICAL ride the
high lane and are always accepted (up to the queues' own bound). Nothing accepted is dropped:
refusing happens before anything is stored.
"""

from __future__ import annotations

from wavecom.api.depths import QueueDepths
from wavecom.core.constants import Channel, Priority


class LoadShedder:
    def __init__(self, depths: QueueDepths, *, low: int, medium: int) -> None:
        self.depths = depths
        self.low = low
        self.medium = medium

    def refuses(self, channel: Channel, priority: Priority) -> str | None:
        """Why a notification of this channel and priority is refused now, or None."""
        depth = self.depths.standard(channel)
        if priority is Priority.LOW and depth > self.low:
            return f"{channel.value} backlog is {depth}: LOW is refused above {self.low}"
        if priority is Priority.MEDIUM and depth > self.medium:
            return f"{channel.value} backlog is {depth}: MEDIUM is refused above {self.medium}"
        return None
