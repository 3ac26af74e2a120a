"""A notification document as the store writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wavecom.constants import Channel, Priority
from wavecom.store import new_notification


def doc(
    i: int,
    *,
    message: str = "hi",
    priority: Priority = Priority.HIGH,
    expires_in_s: float | None = None,
    scheduled_in_s: float | None = None,
) -> dict[str, Any]:
    """The SMS notification ``i`` of tenant acme, created now; ``expires_in_s`` and
    ``scheduled_in_s`` (seconds from now) give it an expiry and a schedule."""
    now = datetime.now(UTC)
    return new_notification(
        tenant_id="acme",
        channel=Channel.SMS,
        recipient=f"+23480{i:08d}",
        subject=None,
        message=message,
        priority=priority,
        metadata={},
        max_retries=3,
        scheduled_at=now + timedelta(seconds=scheduled_in_s) if scheduled_in_s else None,
        now=now,
        recipient_hash=f"h{i}",
        expires_at=now + timedelta(seconds=expires_in_s) if expires_in_s is not None else None,
    )
