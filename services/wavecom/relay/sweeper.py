"""The sweeper, run beside the relay in each API process (one owner at a time): it publishes
again the notifications that wait for a worker but whose message the broker no longer has.

The database is the source of truth. A notification QUEUED or RETRYING has a message in a
lane or delay queue; if the broker lost it (a node's disk gone, a queue deleted, a classic
queue's node replaced) nothing would ever deliver it. The sweeper finds waiting notifications
whose message should have been consumed ``SWEEP_AFTER_S`` ago:

- QUEUED: ``updatedAt`` (when it was queued, or parked) older than the threshold, and, when it
  was parked, its ``nextAttemptAt`` too;
- RETRYING: ``nextAttemptAt`` (when its delayed message comes back to its lane) older than the
  threshold;

and not claimed (a PROCESSING notification is a worker's). It publishes each one's job again,
on its lane, and adds "Re-queued: no message found" to its timeline with a conditional update
that also moves ``updatedAt`` on, so the next sweep leaves it alone for another threshold.

Why it cannot send anything twice, even a notification that is merely slow (its message still
in the queue behind a backlog, or held by a slow worker): the sweeper only publishes a second
*message*. A send happens only after a worker claims the round, a conditional update from the
round's waiting state (status, attempt, round) to PROCESSING; of two copies of one round's
message exactly one claim can win, and the other copy is dropped. The threshold only decides
how soon a lost message is noticed, and how many needless copies a slow one costs; so a lane
whose queue still holds at least as many messages as it has overdue notifications is not swept
(a backlog, not a loss), and one sweep re-queues at most ``SWEEP_LIMIT`` per status.

One owner at a time: a lease document (:mod:`wavecom.store.leases`), taken or renewed by one
conditional ``find_one_and_update`` (expired, or ours), atomic on MongoDB and FerretDB v2 alike. Two
owners at once (clock skew, a paused process) would only publish duplicate messages.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from aio_pika.abc import AbstractChannel

from wavecom.core import metrics
from wavecom.core.broker import Publisher, queue_depths
from wavecom.core.constants import Channel, Priority, Status, lane_queue
from wavecom.core.settings import Settings
from wavecom.store import Doc, Store, job_of, utcnow

log = logging.getLogger("wavecom.sweeper")

REQUEUED_MESSAGE = "Re-queued: no message found"


class Sweeper:
    """Re-queues waiting notifications whose message the broker lost (see the module doc)."""

    def __init__(
        self, store: Store, publisher: Publisher, channel: AbstractChannel, settings: Settings
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.channel = channel  # for the lane depths (passive declares)
        self.after = timedelta(seconds=settings.sweep_after_s)
        self.limit = settings.sweep_limit
        # a holder that died is replaced after three missed sweeps
        self.lease = store.leases.lease("sweeper", 3 * settings.sweep_interval_s)

    async def tick(self) -> int:
        """One sweep, if this process holds the lease; return how many were re-queued."""
        if not await self.lease.hold():
            return 0
        cutoff = utcnow() - self.after
        by_lane: dict[str, list[Doc]] = defaultdict(list)
        for status in (Status.QUEUED, Status.RETRYING):
            for doc in await self.store.overdue.scan(status, cutoff, self.limit):
                by_lane[_lane_of(doc)].append(doc)
        if not by_lane:
            return 0
        depths = await queue_depths(self.channel)
        docs: list[Doc] = []
        for lane, overdue in by_lane.items():
            if depths.get(lane, 0) >= len(overdue):
                log.info(
                    "%s holds %d messages for %d overdue notifications: a backlog, not swept",
                    lane,
                    depths.get(lane, 0),
                    len(overdue),
                )
                continue
            docs += overdue
        marked = await self.store.overdue.mark(docs, REQUEUED_MESSAGE)
        await self.publisher.publish_jobs([job_of(d) for d in marked])
        for d in marked:
            metrics.SWEEPER_REQUEUED.labels(d["type"], d["status"]).inc()
        if marked:
            log.warning("re-queued %d notifications whose message was lost", len(marked))
        return len(marked)

    async def close(self) -> None:
        await self.lease.release()


def _lane_of(doc: Doc) -> str:
    return lane_queue(Channel(doc["type"]), Priority(doc["priority"]).lane)
