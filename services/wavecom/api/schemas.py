"""Request and response schemas: the contract of seed 003, as clients see it."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from wavecom.core.constants import Channel, Priority, Status
from wavecom.core.settings import get_settings
from wavecom.store.expiries import MAX_TTL_S, Where

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
PUSH_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-:.]{16,4096}$")
MAX_SCHEDULE_AHEAD = timedelta(days=365)


def _json_number(value: Any) -> Any:
    """A JSON integer field takes a number only: pydantic's lax mode would also take `true`
    and `"5"`, which the schema (type integer) refuses, so a generated client and the server
    would disagree. 5.0 stays accepted, as JSON Schema counts it an integer."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number (an integer)")
    return value


# the validity of a notification, in whole seconds
TtlSeconds = Annotated[int, Field(ge=1, le=MAX_TTL_S), BeforeValidator(_json_number)]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


METADATA_KEY = r"^([^$.][^.]*)?$"  # not starting with $, no dot (MongoDB's field names)


def _nested(levels: int) -> dict[str, Any]:
    """The JSON Schema of an object's values when ``levels`` more levels may follow: a value,
    or an object or array of such values (metadata is at most five levels deep)."""
    if levels == 0:
        return {"additionalProperties": {"not": {"type": ["object", "array"]}}}
    inner = _nested(levels - 1)
    value = {
        "anyOf": [
            {"not": {"type": ["object", "array"]}},
            {"type": "object", "propertyNames": {"pattern": METADATA_KEY}, **inner},
            {"type": "array", "items": inner["additionalProperties"]},
        ]
    }
    return {"additionalProperties": value}


# what the schema says of metadata (the validator checks the same, and what no schema can say)
Metadata = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "propertyNames": {"pattern": METADATA_KEY}, **_nested(4)}),
]


# ttlSeconds and expiresAt exclude each other: said in the schema too, so a client generated
# from it (and a fuzzer) knows
_ONE_EXPIRY: dict[str, Any] = {"not": {"required": ["ttlSeconds", "expiresAt"]}}


class _NotificationFields(BaseModel):
    """What every channel's notification has; each channel's model adds its recipient."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_ONE_EXPIRY
    )

    message: str = Field(min_length=1, max_length=5000)
    priority: Priority = Priority.MEDIUM
    metadata: Metadata | None = Field(
        default=None,
        description="Free-form object, 5 levels deep at most, keys neither starting with `$` "
        "nor holding `.` (both stated here); and, which JSON Schema cannot state: at most "
        "8 KiB as JSON, integers within 64 bits, no NUL or lone surrogate in any string",
    )
    scheduledAt: datetime | None = Field(
        default=None,
        description="Deliver at this time (ISO 8601 with a timezone, **in the future**, at "
        "most a year ahead: a rule JSON Schema cannot state); the notification is SCHEDULED "
        "until then",
    )
    ttlSeconds: TtlSeconds | None = Field(
        default=None,
        description="Seconds it stays valid, counted from when it is due (now, or "
        "`scheduledAt`): not handed to a provider by then, it becomes EXPIRED and is never "
        "sent late. Not together with `expiresAt` (a 400 naming both). Without either, the "
        "tenant's default for the channel applies, if it set one",
    )
    expiresAt: datetime | None = Field(
        default=None,
        description="Not to be handed to a provider after this time (ISO 8601 with a "
        "timezone), else EXPIRED. Rules JSON Schema cannot state: **in the future**, after "
        "`scheduledAt` when given, and at most 604800 s (7 days) after it is due; not together "
        "with `ttlSeconds`",
    )
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@#-]*$",
        description="Your own id for this notification (an order, a login attempt), unique "
        "within your tenant: a second create with it is a 409 REFERENCE_CONFLICT naming the "
        "first, and `GET /api/notifications?reference=` finds it",
    )

    @field_validator("recipient", "subject", "message", check_fields=False)
    @classmethod
    def _normalised(cls, v: str | None) -> str | None:
        return None if v is None else normalised(v)

    @field_validator("metadata")
    @classmethod
    def _metadata_bounded(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        settings = get_settings()
        for text in _strings(v):
            normalised(text)  # no NUL, no lone surrogate, in keys and values
        if not _finite(v):  # 1e999 parses as infinity; no database stores it
            raise ValueError("numbers must be finite")
        if not _int64(v):  # BSON (and orjson) stop at 64-bit integers
            raise ValueError("integers must fit in 64 bits (-2^63 to 2^63-1)")
        if len(orjson.dumps(v)) > settings.max_metadata_bytes:
            raise ValueError(f"must be at most {settings.max_metadata_bytes} bytes as JSON")
        if _depth(v) > settings.max_metadata_depth:
            raise ValueError(f"must be at most {settings.max_metadata_depth} levels deep")
        if any(k.startswith("$") or "." in k for k in _keys(v)):
            raise ValueError("keys must not start with '$' or contain '.'")
        return v

    @field_validator("scheduledAt")
    @classmethod
    def _future(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        if v.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2030-01-01T09:00:00Z")
        now = datetime.now(UTC)
        if v <= now:
            raise ValueError("must be in the future")
        if v - now > MAX_SCHEDULE_AHEAD:
            raise ValueError("must be at most 365 days ahead")
        return v.astimezone(UTC)

    @field_validator("expiresAt")
    @classmethod
    def _valid_until(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        if v is None:
            return v
        if info.data.get("ttlSeconds") is not None:
            raise ValueError("give either ttlSeconds or expiresAt, not both")
        if v.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2030-01-01T09:05:00Z")
        now = datetime.now(UTC)
        if v <= now:
            raise ValueError("must be in the future")
        scheduled: datetime | None = info.data.get("scheduledAt")
        if scheduled is not None and v <= scheduled:
            raise ValueError("must be after scheduledAt")
        if v - (scheduled or now) > timedelta(seconds=MAX_TTL_S):
            raise ValueError(
                f"must be at most {MAX_TTL_S} s (7 days) after it is due (now or scheduledAt)"
            )
        return v.astimezone(UTC)

    def expiry(self, now: datetime, default_ttl_s: int | None = None) -> datetime | None:
        """When it stops being valid: ``expiresAt``, else ``ttlSeconds`` (or the tenant's
        default for its channel) after it is due; None when nothing sets one."""
        if self.expiresAt is not None:
            return self.expiresAt
        ttl = self.ttlSeconds if self.ttlSeconds is not None else default_ttl_s
        if not ttl:
            return None
        return (self.scheduledAt or now) + timedelta(seconds=ttl)


def _recipient(rule: re.Pattern[str], max_length: int, description: str) -> Any:
    """A recipient field whose format the schema states with the same expression the
    validator checks (the schema's ``pattern``; the validator's message names the channel)."""
    return Field(
        min_length=1,
        max_length=max_length,
        description=description,
        json_schema_extra={"pattern": rule.pattern},
    )


def _check(value: str, rule: re.Pattern[str], message: str) -> str:
    if not rule.match(value):
        raise ValueError(message)
    return value


class EmailCreate(_NotificationFields):
    """An e-mail."""

    model_config = ConfigDict(
        json_schema_extra={
            **_ONE_EXPIRY,
            "examples": [
                {
                    "type": "EMAIL",
                    "recipient": "user@example.com",
                    "subject": "Welcome to WaveCom",
                    "message": "Thank you for signing up!",
                    "priority": "HIGH",
                    "metadata": {"userId": "12345", "campaign": "onboarding"},
                }
            ],
        }
    )

    type: Literal[Channel.EMAIL] = Field(description="Delivery channel")
    recipient: str = _recipient(EMAIL_RE, 254, "An e-mail address")
    subject: str = Field(min_length=1, max_length=998, description="Required for EMAIL")

    @field_validator("recipient")
    @classmethod
    def _email(cls, v: str) -> str:
        return _check(v, EMAIL_RE, "must be a valid e-mail address for EMAIL")


class SmsCreate(_NotificationFields):
    """A text message."""

    type: Literal[Channel.SMS] = Field(description="Delivery channel")
    recipient: str = _recipient(E164_RE, 16, "An E.164 phone number such as +2348012345678")
    subject: str | None = Field(default=None, min_length=1, max_length=998)

    @field_validator("recipient")
    @classmethod
    def _phone(cls, v: str) -> str:
        return _check(v, E164_RE, "must be an E.164 phone number (e.g. +2348012345678) for SMS")


class PushCreate(_NotificationFields):
    """A push notification to one device."""

    type: Literal[Channel.PUSH] = Field(description="Delivery channel")
    recipient: str = _recipient(
        PUSH_TOKEN_RE, 4096, "A device token of 16-4096 characters [A-Za-z0-9_-:.]"
    )
    subject: str | None = Field(default=None, min_length=1, max_length=998)

    @field_validator("recipient")
    @classmethod
    def _token(cls, v: str) -> str:
        return _check(
            v,
            PUSH_TOKEN_RE,
            "must be a device token of 16-4096 characters [A-Za-z0-9_-:.] for PUSH",
        )


# one notification to deliver: a union told apart by ``type``, so a client generated from the
# OpenAPI spec validates each channel's recipient format and subject rule as the server does
NotificationCreate = Annotated[EmailCreate | SmsCreate | PushCreate, Field(discriminator="type")]
NOTIFICATION_CREATE_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"$ref": f"#/components/schemas/{m.__name__}"} for m in (EmailCreate, SmsCreate, PushCreate)
    ],
    "discriminator": {
        "propertyName": "type",
        "mapping": {
            c.value: f"#/components/schemas/{m.__name__}"
            for c, m in (
                (Channel.EMAIL, EmailCreate),
                (Channel.SMS, SmsCreate),
                (Channel.PUSH, PushCreate),
            )
        },
    },
}


def normalised(text: str) -> str:
    """Text as stored: NFC, and refused when it holds NUL or a lone surrogate (invalid UTF-8)."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it holds a lone surrogate)") from None
    return unicodedata.normalize("NFC", text)


def _strings(value: Any) -> list[str]:
    """Every key and string value inside ``value``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _int64(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, dict):
        return all(_int64(v) for v in value.values())
    if isinstance(value, list):
        return all(_int64(v) for v in value)
    return True


def _keys(value: Any) -> list[str]:
    keys: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            keys.append(str(k))
            keys.extend(_keys(v))
    elif isinstance(value, list):
        for v in value:
            keys.extend(_keys(v))
    return keys


class BatchCreate(BaseModel):
    """Up to 1,000 notifications; each is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    notifications: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        json_schema_extra={"items": NOTIFICATION_CREATE_SCHEMA},
    )


# --- responses (documentation of what the routes return) ------------------------------------------


class LogPublic(BaseModel):
    id: str = Field(alias="_id")
    notificationId: str
    status: Status
    message: str
    timestamp: datetime
    metadata: dict[str, Any] | None = None
    traceId: str | None = Field(
        default=None, description="the step's trace (32 hex), when tracing is on"
    )


class ReceiptPublic(BaseModel):
    status: Status = Field(description="DELIVERED, UNDELIVERED, BOUNCED or COMPLAINED")
    at: datetime = Field(description="when the provider says it happened")
    code: str | None = Field(
        default=None, description="the provider's code: Twilio's ErrorCode, an SMTP status"
    )


class NotificationPublic(BaseModel):
    id: str = Field(alias="_id", description="24 hex characters")
    tenantId: str
    reference: str | None = None
    type: Channel
    recipient: str
    subject: str | None = None
    message: str
    status: Status
    priority: Priority
    retryCount: int
    maxRetries: int
    metadata: dict[str, Any] | None = None
    scheduledAt: datetime | None = None
    expiresAt: datetime | None = Field(
        default=None, description="not handed to a provider after this time (else EXPIRED)"
    )
    expiredAt: datetime | None = Field(default=None, description="when it became EXPIRED")
    expiredWhere: Where | None = Field(
        default=None, description="where it was when it expired (docs/expiry.md)"
    )
    nextAttemptAt: datetime | None = None
    sentAt: datetime | None = None
    failedAt: datetime | None = None
    error: str | None = None
    provider: str | None = None
    providerMessageId: str | None = None
    receipt: ReceiptPublic | None = Field(
        default=None,
        description="the latest provider receipt that moved it on (docs/receipts.md)",
    )
    processingTimeMs: int | None = None
    traceId: str | None = Field(
        default=None,
        description="the trace it was accepted (or last replayed) in (32 hex), when tracing is on",
    )
    createdAt: datetime
    updatedAt: datetime


class ErrorDetail(BaseModel):
    field: str | None = Field(description="Dotted path of the offending field, if any")
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody


# what a replay of dead letters (notifications' or callbacks') queued again
class ReplayResult(BaseModel):
    replayed: int
    ids: list[str]


class ReplayEnvelope(BaseModel):
    success: bool = True
    data: ReplayResult


class CreatedEnvelope(BaseModel):
    success: Literal[True] = True
    data: NotificationPublic
    message: str


class NotificationWithLogs(BaseModel):
    notification: NotificationPublic
    logs: list[LogPublic]


class NotificationEnvelope(BaseModel):
    success: Literal[True] = True
    data: NotificationWithLogs


class Pagination(BaseModel):
    currentPage: int
    totalPages: int
    totalItems: int
    totalItemsExact: bool = Field(
        description="false when more than totalItems match: a createdAt range is counted up "
        "to 10,000 (totalPages then covers those; later pages, or nextCursor, go on)",
    )
    itemsPerPage: int


class NotificationsPage(BaseModel):
    notifications: list[NotificationPublic]
    pagination: Pagination
    nextCursor: str | None = Field(
        default=None,
        description="Pass as `after` for the items older than the last one here (absent "
        "when this page was the last)",
    )


class PageEnvelope(BaseModel):
    success: Literal[True] = True
    data: NotificationsPage


class BatchItemResult(BaseModel):
    index: int
    success: bool
    data: NotificationPublic | None = None
    error: ErrorBody | None = None


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchItemResult]


class BatchEnvelope(BaseModel):
    success: Literal[True] = True
    data: BatchResult
    message: str


class ProviderHealth(BaseModel):
    channel: Channel
    state: Literal["closed", "half-open", "open"]
    workers: int


class SystemStats(BaseModel):
    total: int
    byStatus: dict[Status, int]
    byType: dict[Channel, int]
    byPriority: dict[Priority, int]
    queueDepth: dict[str, int]
    averageProcessingTime: float = Field(description="Mean processing time of sent ones, ms")
    successRate: float = Field(
        description="Percent of the notifications that ended that a provider took and did not "
        "report lost: (SENT + DELIVERED + COMPLAINED) / (SENT + DELIVERED + COMPLAINED + "
        "FAILED + UNDELIVERED + BOUNCED + EXPIRED); 100 when none ended. A complaint means it "
        "arrived; a SENT one without a receipt counts as a success (many providers report "
        "nothing); an EXPIRED one reached no one in time"
    )


class StatsEnvelope(BaseModel):
    success: Literal[True] = True
    data: SystemStats


class ChannelAccounts(BaseModel):
    """What a channel can deliver through, by its stored provider accounts."""

    usableAccounts: int = Field(
        description="enabled accounts; with ENVIRONMENT=production mock accounts are refused "
        "and not counted. 0: the channel's workers do not consume, its notifications wait"
    )
    mockOnly: bool = Field(
        description="every usable account is a mock (development and test only): "
        "notifications become SENT and reach no one"
    )


class Health(BaseModel):
    status: Literal["healthy", "unhealthy"] = Field(
        description="the API's own dependencies (503 when one is down); a channel without a "
        "usable account does not make the API unhealthy: it still accepts, the channel waits"
    )
    timestamp: datetime
    services: dict[str, Literal["connected", "disconnected"]]
    uptime: float
    channels: dict[Channel, ChannelAccounts] | None = Field(
        default=None, description="per channel; null while the database does not answer"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="plain sentences for an operator: a channel delivering only to mocks, a "
        "channel with no usable account, a mock account refused in production",
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


# every route that needs a key can answer these, in the error envelope
PROTECTED: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid input (field-level details)"),
    401: _error("Missing, malformed, unknown or revoked API key (WWW-Authenticate: Bearer)"),
    403: _error("The API key lacks the scope this endpoint needs"),
    429: _error("The API key's rate limit is exhausted (Retry-After, RateLimit-* headers)"),
    503: _error("Database or broker unavailable; nothing was accepted"),
}


class ReceiptOutcome(BaseModel):
    result: Literal["applied", "ignored", "held", "notFinal"] = Field(
        description="applied: the notification moved on; ignored: a repeat, or a state it may "
        "not leave; held (answered 202): no notification has this message id yet, the receipt "
        "is kept and applied when the send's outcome is stored (dropped, counted, if it never "
        "is); notFinal: a provider status before the end (queued, sent), nothing to do"
    )
    status: Status | None = Field(default=None, description="the status the receipt reports")


class ReceiptEnvelope(BaseModel):
    success: Literal[True] = True
    data: ReceiptOutcome
