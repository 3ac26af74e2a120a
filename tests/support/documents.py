"""A notification document as the store writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wavecom.core.constants import Channel, Priority
from wavecom.store import Store, new_notification


def doc(
    i: int,
    *,
    message: str = "hi",
    priority: Priority = Priority.HIGH,
    expires_in_s: float | None = None,
    scheduled_in_s: float | None = None,
    scheduled_at: datetime | None = None,
) -> dict[str, Any]:
    """The SMS notification ``i`` of tenant acme, created now, QUEUED; ``expires_in_s`` and
    ``scheduled_in_s`` (seconds from now) or ``scheduled_at`` give it an expiry and a schedule
    (SCHEDULED)."""
    now = datetime.now(UTC)
    if scheduled_in_s:
        scheduled_at = now + timedelta(seconds=scheduled_in_s)
    return new_notification(
        tenant_id="acme",
        channel=Channel.SMS,
        recipient=f"+23480{i:08d}",
        subject=None,
        message=message,
        priority=priority,
        metadata={},
        max_retries=3,
        scheduled_at=scheduled_at,
        now=now,
        recipient_hash=f"h{i}",
        expires_at=now + timedelta(seconds=expires_in_s) if expires_in_s is not None else None,
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
