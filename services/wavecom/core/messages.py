"""The one message type that travels from the API to the workers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from wavecom.core.constants import Channel, Lane, Priority
from wavecom.core.errors import PoisonMessage


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """Everything a worker needs to deliver one notification without reading the database.

    ``attempt`` counts deliveries already tried (0 on the first delivery); ``accepted_ms`` is the
    epoch milliseconds at which the API accepted the notification (for end-to-end latency).
    """

    id: str
    tenant_id: str
    type: Channel
    recipient: str
    message: str
    priority: Priority
    subject: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    max_retries: int = 3
    accepted_ms: int = 0
    # bumped whenever an attempt number must become claimable again: after waiting for a
    # provider breaker (which uses no attempt) and after an operator's replay (attempt 0 again)
    round: int = 0
    # this round was retaken from a worker lost mid-round: an earlier round of the same attempt
    # may have reached the provider, so a send now may be a duplicate (counted, and said so)
    retaken: bool = False
    # the W3C traceparent of the span this job's next publish continues ("" untraced). Not in
    # the body: a published message carries its PRODUCER span's context in its AMQP headers,
    # and the worker sets this from its own span for the retry it may publish
    trace: str = field(default="", compare=False)
    # epoch milliseconds after which it must not be handed to a provider (0: it never expires);
    # carried so that a worker decides without reading the document (wavecom.api.expiry)
    expires_ms: int = 0
    # why this round waits without using an attempt, when it does: "breaker" (every provider's
    # breaker open) or "no_account" (none usable for its tenant); says where an expiry found it
    held: str = ""
    # its channel and priority, as the counters' facets name them: read several times per
    # delivery, so made once (an enum's ``.value`` is a Python-level property)
    kind: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", (self.type.value, self.priority.value))

    @property
    def lane(self) -> Lane:
        return self.priority.lane

    def expired(self, now_ms: int) -> bool:
        """Whether its validity ended at or before ``now_ms`` (epoch milliseconds)."""
        return 0 < self.expires_ms <= now_ms

    def replayed(self) -> DeliveryJob:
        """A dead-lettered job given a fresh set of attempts by an operator."""
        return replace(self, attempt=0, round=self.round + 1, retaken=False, held="")

    def next_attempt(self) -> DeliveryJob:
        """The same job, one attempt further on."""
        return replace(self, attempt=self.attempt + 1, retaken=False, held="")

    def parked(self, held: str = "breaker") -> DeliveryJob:
        """The same attempt, to be tried again after waiting for a provider (``held``: why)."""
        return replace(self, round=self.round + 1, held=held)

    def retake(self) -> DeliveryJob:
        """The same attempt under the next round, after its claimer was lost."""
        return replace(self, round=self.round + 1, retaken=True, held="")

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "notificationId": self.id,
                "tenantId": self.tenant_id,
                "type": self.type.value,
                "recipient": self.recipient,
                "subject": self.subject,
                "message": self.message,
                "priority": self.priority.value,
                "metadata": self.metadata,
                "retryCount": self.attempt,
                "maxRetries": self.max_retries,
                "acceptedMs": self.accepted_ms,
                "round": self.round,
                "retaken": self.retaken,
                "expiresMs": self.expires_ms,
                "heldBy": self.held,
            }
        )

    @classmethod
    def decode(cls, body: bytes) -> DeliveryJob:
        """Parse a message body; anything malformed raises PoisonMessage with the reason."""
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise PoisonMessage(f"body is not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise PoisonMessage("body is not a JSON object")
        try:
            metadata = raw.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise PoisonMessage("metadata is not an object")
            subject = raw.get("subject")
            return cls(
                id=_str(raw, "notificationId"),
                tenant_id=_str(raw, "tenantId"),
                type=Channel(raw["type"]),
                recipient=_str(raw, "recipient"),
                message=_str(raw, "message"),
                priority=Priority(raw["priority"]),
                subject=subject if isinstance(subject, str) else None,
                metadata=metadata,
                attempt=int(raw.get("retryCount", 0)),
                max_retries=int(raw.get("maxRetries", 3)),
                accepted_ms=int(raw.get("acceptedMs", 0)),
                round=int(raw.get("round", 0)),
                retaken=raw.get("retaken") is True,
                expires_ms=int(raw.get("expiresMs") or 0),
                held=str(raw.get("heldBy") or ""),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise PoisonMessage(f"malformed job: {exc!r}") from exc


def _str(raw: dict[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise PoisonMessage(f"{key} must be a non-empty string")
    return value
