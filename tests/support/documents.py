"""A notification document as the store writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wavecom.constants import Channel, Priority
from wavecom.store import Store, new_notification


def doc(i: int, *, scheduled_at: datetime | None = None) -> dict[str, Any]:
    """Notification ``i`` of tenant acme, QUEUED (SCHEDULED with ``scheduled_at``)."""
    return new_notification(
        tenant_id="acme",
        channel=Channel.SMS,
        recipient=f"+23480{i:08d}",
        subject=None,
        message="hi",
        priority=Priority.HIGH,
        metadata={},
        max_retries=3,
        scheduled_at=scheduled_at,
        now=datetime.now(UTC),
        recipient_hash=f"h{i}",
    )


async def scheduled(store: Store, *in_s: float) -> list[dict[str, Any]]:
    """Stored SCHEDULED notifications, due in ``in_s`` seconds each (negative: overdue), on
    the schedule and counted, as intake leaves them."""
    now = datetime.now(UTC)
    docs = [doc(i, scheduled_at=now + timedelta(seconds=s)) for i, s in enumerate(in_s)]
    await store.notifications.insert(docs)
    await store.schedule.add(docs)
    await store.notifications.count_intake(docs)
    return docs
