"""A notification document as the store writes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wavecom.core.constants import Channel, Priority
from wavecom.store import new_notification


def doc(i: int) -> dict[str, Any]:
    return new_notification(
        tenant_id="acme",
        channel=Channel.SMS,
        recipient=f"+23480{i:08d}",
        subject=None,
        message="hi",
        priority=Priority.HIGH,
        metadata={},
        max_retries=3,
        scheduled_at=None,
        now=datetime.now(UTC),
        recipient_hash=f"h{i}",
    )
