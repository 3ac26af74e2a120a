"""Enums and every broker/database name shared by the API and the workers."""

from __future__ import annotations

import math
import re
from enum import StrEnum


class Channel(StrEnum):
    """A delivery channel; one worker deployment per channel."""

    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"

    @property
    def slug(self) -> str:
        return self.value.lower()


class Priority(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def lane(self) -> Lane:
        return Lane.HIGH if self in (Priority.HIGH, Priority.CRITICAL) else Lane.STANDARD


class Status(StrEnum):
    """A notification's state. The delivery pipeline ends at SENT, FAILED, CANCELLED or
    EXPIRED; a provider's receipt may then move a SENT one on to one of ``RECEIPT_STATUSES``
    (never backwards, never out of FAILED, CANCELLED or EXPIRED)."""

    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    RETRYING = "RETRYING"
    SENT = "SENT"  # a provider accepted it
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"  # its validity ended before a provider took it: never sent late
    DELIVERED = "DELIVERED"  # the provider reported it reached the handset, inbox or device
    UNDELIVERED = "UNDELIVERED"  # the provider gave up after accepting it
    BOUNCED = "BOUNCED"  # an email hard bounce
    COMPLAINED = "COMPLAINED"  # an email its recipient reported as spam

    @property
    def terminal(self) -> bool:
        """Nothing delivers it again: the pipeline is done with it (receipts may follow SENT)."""
        return self in TERMINAL


TERMINAL = frozenset(
    {
        Status.SENT,
        Status.FAILED,
        Status.CANCELLED,
        Status.EXPIRED,
        Status.DELIVERED,
        Status.UNDELIVERED,
        Status.BOUNCED,
        Status.COMPLAINED,
    }
)
# what a provider's receipt may move a SENT notification to
RECEIPT_STATUSES = frozenset(
    {Status.DELIVERED, Status.UNDELIVERED, Status.BOUNCED, Status.COMPLAINED}
)
# accepted by a provider: SENT and everything a receipt moves it to
ACCEPTED_BY_PROVIDER = frozenset({Status.SENT} | RECEIPT_STATUSES)


class QueueType(StrEnum):
    """How the lane, delay and dead-letter queues are declared (setting QUEUE_TYPE)."""

    QUORUM = "quorum"  # replicated over the cluster's nodes (Raft): survives losing a node
    CLASSIC = "classic"  # on one node only: for a single development node


class Lane(StrEnum):
    """CRITICAL and HIGH ride the high lane, MEDIUM and LOW the standard lane."""

    HIGH = "high"
    STANDARD = "standard"


# --- RabbitMQ -----------------------------------------------------------------------------------

WORK_EXCHANGE = "wavecom.work"  # topic: "<channel>.<lane>" and "delay.<ms>.<channel>.<lane>"
DELAY_EXCHANGE = "wavecom.delay"  # topic: "delay.<ms>.#" -> the delay queue of that rung
DLX_EXCHANGE = "wavecom.dlx"  # fanout -> the dead-letter queue
DLQ = "wavecom.dlq"
EVENTS_EXCHANGE = "wavecom.events"  # topic: "<tenant>" -> status changes, for the live streams

# Retry delays snap to this ladder of delay queues (ms). Each queue has one fixed TTL, so its
# messages expire in arrival order and none waits behind a longer one (no head-of-line
# blocking). Rungs are a factor sqrt(2) apart, from 250 ms to about 12 minutes.
DELAY_LADDER_MS: tuple[int, ...] = tuple(round(250 * 2 ** (k / 2)) for k in range(0, 24))


def snap_to_ladder(delay_ms: float) -> int:
    """The delay-queue rung nearest to ``delay_ms`` (nearest in ratio, so jitter survives)."""
    wanted = max(delay_ms, 1.0)
    return min(DELAY_LADDER_MS, key=lambda rung: abs(math.log(rung / wanted)))


def lane_queue(channel: Channel, lane: Lane) -> str:
    """The work queue of one channel and lane, e.g. ``wavecom.email.high``."""
    return f"wavecom.{channel.slug}.{lane.value}"


def lane_key(channel: Channel, lane: Lane) -> str:
    """Routing key of first deliveries to a lane queue."""
    return f"{channel.slug}.{lane.value}"


def delay_queue(rung_ms: int) -> str:
    return f"wavecom.delay.{rung_ms}ms"


def delay_key(rung_ms: int, channel: Channel, lane: Lane) -> str:
    """Routing key of a delayed message; it keeps it when it dead-letters back to work."""
    return f"delay.{rung_ms}.{channel.slug}.{lane.value}"


ALL_LANE_QUEUES: tuple[str, ...] = tuple(lane_queue(c, lane) for c in Channel for lane in Lane)

# --- MongoDB ------------------------------------------------------------------------------------

NOTIFICATIONS = "notifications"
STATS = "stats"
SCHEDULE = "schedule"  # SCHEDULED notifications until they are due
OUTBOX = "outbox"  # stored notifications until the broker confirmed their publish
IDEMPOTENCY = "idempotency"
PROVIDERS = "providers"  # circuit breaker states reported by the workers
API_KEYS = "apikeys"  # API keys: only their hashes
TENANTS = "tenants"  # per-tenant settings (rate limits)
QUOTAS = "quotas"  # rate-limit state: one GCRA document per API key
PROVIDER_ACCOUNTS = "provideraccounts"  # provider accounts: driver, settings, sealed credentials
REVISIONS = "revisions"  # one document per configuration that workers watch (providers)
LEASES = "leases"  # one document per singleton job (the sweeper): who runs it, until when
INSTALLATION = "installation"  # values made once per installation (the recipient-hash key)
RECEIPTS = "receipts"  # provider receipts that came before the outcome naming their id

# --- tenants and API keys -------------------------------------------------------------------------


class Scope(StrEnum):
    """What an API key may do."""

    SEND = "send"  # create, batch, cancel
    READ = "read"  # get, list, stats, live events
    ADMIN = "admin"  # dead letters, replay, providers, keys, reconcile


_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def valid_tenant(tenant: str) -> bool:
    return _TENANT.fullmatch(tenant) is not None
