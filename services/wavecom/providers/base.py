"""What every provider adapter offers the delivery pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from wavecom.core.constants import Channel


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One send: ``idempotency_key`` is the job id and attempt, so a repeated call is recognised."""

    notification_id: str
    attempt: int
    channel: Channel
    recipient: str
    message: str
    subject: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # a later round of the same attempt (after a wait or a retake): a send may have happened
    recovering: bool = False
    # when its validity ends (None: never): drivers pass what remains to providers that take it
    expires_at: datetime | None = None

    def remaining_s(self) -> float | None:
        """Seconds of validity left now (None: it never expires; never below 0)."""
        if self.expires_at is None:
            return None
        return max(0.0, (self.expires_at - datetime.now(UTC)).total_seconds())

    @property
    def idempotency_key(self) -> str:
        return f"{self.notification_id}:{self.attempt}"


@dataclass(frozen=True, slots=True)
class Receipt:
    """A provider accepted the send. ``repeated``: it recognised the idempotency key and sent
    nothing new (the first receipt comes back)."""

    provider: str
    provider_message_id: str
    repeated: bool = False


class Provider(Protocol):
    """A provider account. ``send`` returns a receipt or raises a ProviderError subclass.

    The drivers subclass it, so they inherit :meth:`flush` unless they buffer something.
    """

    name: str
    channel: Channel
    send_rate: float  # the account's send-rate cap, sends a second (0: none)

    async def send(self, request: SendRequest) -> Receipt: ...

    async def close(self) -> None: ...

    def flush(self) -> None:
        """Write out what the driver buffers per batch (the mock's ledger); by default nothing."""
        return  # not a bare docstring: mypy would take that for abstract


class DriverModel(BaseModel):
    """Base of every driver's settings and credentials: camelCase or snake_case keys, no extras.

    Accounts are written as YAML by people (``fromAddress``) and as Python by tests
    (``from_address``); both spell the same field.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )
