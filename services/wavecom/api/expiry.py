"""The expiry sweep, run beside the relay in each API process: it expires the notifications
that wait (SCHEDULED, QUEUED, RETRYING: in a lane, a delay queue, parked behind open breakers
or with no usable account) once their ``expiresAt`` passed, so they are counted and shown
EXPIRED when their validity ends instead of when a worker next gets to their message.

It is not what keeps a notification from being sent late: a worker's claim expires an expired
job instead of claiming it, and the pipeline checks again right before each send
(``docs/expiry.md``). So the sweep needs no lease: every expiry is a conditional update from
the state it was read in, and of two API processes sweeping the same notification exactly one
moves it (the other's update matches nothing and counts nothing). Its message, if still in a
queue, finds the notification EXPIRED at its claim and is dropped.
"""

from __future__ import annotations

import logging
from collections import Counter

from wavecom.core import metrics
from wavecom.core.constants import Channel
from wavecom.core.events import NO_EVENTS, EventPublisher, doc_event
from wavecom.store import Store, utcnow
from wavecom.store.expiries import Where

log = logging.getLogger("wavecom.expiry")


class Expirer:
    """Expires waiting notifications whose validity ended (see the module doc)."""

    def __init__(self, store: Store, events: EventPublisher = NO_EVENTS, limit: int = 1000) -> None:
        self.store = store
        self.events = events
        self.limit = limit
        # every series from the start, at 0: a rate() over them is 0, not "no data", until the
        # first expiry (the dashboard's panel and any alert on it read them)
        for channel in Channel:
            for where in Where:
                metrics.EXPIRED.labels(channel.value, where.value)

    async def tick(self) -> int:
        """One sweep; return how many notifications it expired."""
        now = utcnow()
        expiries = self.store.expiries
        expired = await expiries.expire(await expiries.overdue(now, self.limit), now)
        if not expired:
            return 0
        for (channel, where), count in Counter((d["type"], w.value) for d, w in expired).items():
            metrics.EXPIRED.labels(channel, where).inc(count)
        self.events.emit(doc_event(d) for d, _ in expired)
        log.info("expired %d waiting notifications whose validity ended", len(expired))
        return len(expired)
