"""One exception tree for the whole system: transient errors are retried, permanent ones are not."""

from __future__ import annotations


class WaveComError(Exception):
    """Raised when anything in WaveCom fails; the base of every error below."""


class DependencyUnavailable(WaveComError):
    """Raised when the broker or the database cannot be reached or does not confirm in time."""


class BrokerUnavailable(DependencyUnavailable):
    """Raised when RabbitMQ is unreachable, or a publish is not confirmed within its timeout."""


class PublishRejected(BrokerUnavailable):
    """Raised when RabbitMQ nacks a publish (for example a full queue with reject-publish)."""


class Overloaded(WaveComError):
    """This API process has more work than it can finish in time: refused, nothing stored
    (503 with Retry-After; see wavecom.api.admission)."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueMismatch(WaveComError):
    """Raised at start-up when a queue exists with another type or other arguments than this
    configuration declares (RabbitMQ refuses to redeclare it); the message says what to do."""


class StoreUnavailable(DependencyUnavailable):
    """Raised when the database is unreachable or a write times out."""


class PoisonMessage(WaveComError):
    """Raised when a queued message cannot be decoded; it is dead-lettered with this reason."""


class ProviderError(WaveComError):
    """Raised when a provider does not deliver; ``provider`` names it."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class TransientProviderError(ProviderError):
    """Raised when a send may succeed later: timeout, connection error, 5xx, a refused login.
    The account's breaker counts it: it may be the account that fails."""

    def __init__(
        self, message: str, *, provider: str = "", retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, provider=provider)
        self.retry_after_s = retry_after_s


class SendDeferred(TransientProviderError):
    """Raised when a send may succeed later and the answer says nothing of the account's
    health: the provider asks to slow down (HTTP 429, FCM's ``QUOTA_EXCEEDED`` for one device)
    or one mailbox cannot take it now (SMTP 450/452 to RCPT TO). Retried like any transient
    error, after its Retry-After; the account's breaker does not count it, so one busy device
    or one 429 never moves a healthy account's traffic elsewhere."""


class PermanentProviderError(ProviderError):
    """Raised when a send can never succeed: invalid recipient, other 4xx. Fails at once."""


class ProviderConfigError(WaveComError):
    """Raised when a provider account's driver, settings or credentials are not valid.

    The message names the account and each bad field, never a value: values may be secrets.
    """


class MockRefused(ProviderConfigError):
    """Raised when a mock provider account is applied or loaded with ENVIRONMENT=production:
    a mock marks notifications SENT and delivers nothing. The message names the account."""


class TracingMisconfigured(WaveComError):
    """Raised at start-up when the OTEL_* variables ask for an exporter this build does not
    have (OTLP over gRPC, say); the message says what to set instead."""


class ReceiptRejected(WaveComError):
    """Raised when a provider receipt is unsigned or its signature does not verify with the
    account's secret (or names no account that takes receipts): a 401, nothing changed."""


class ReceiptInvalid(WaveComError):
    """Raised when a signed provider receipt cannot be read (a field missing, a format this
    endpoint does not take): a 400 naming the field, nothing changed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
