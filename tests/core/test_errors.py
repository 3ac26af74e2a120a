"""wavecom.core.errors: one tree, split into what is retried (the broker or the database away,
a provider that may take it later) and what is not (a send that can never succeed, a bad
configuration, an undecodable message), with what each error carries."""

from __future__ import annotations

import pytest

from wavecom.core.errors import (
    BrokerUnavailable,
    DependencyUnavailable,
    MockRefused,
    Overloaded,
    PermanentProviderError,
    PoisonMessage,
    ProviderConfigError,
    ProviderError,
    PublishRejected,
    QueueMismatch,
    ReceiptInvalid,
    ReceiptRejected,
    SendDeferred,
    StoreUnavailable,
    TracingMisconfigured,
    TransientProviderError,
    WaveComError,
)

TRANSIENT = (
    BrokerUnavailable,
    PublishRejected,
    StoreUnavailable,
    TransientProviderError,
    SendDeferred,
)
PERMANENT = (
    PermanentProviderError,
    PoisonMessage,
    ProviderConfigError,
    MockRefused,
    QueueMismatch,
    TracingMisconfigured,
    ReceiptRejected,
    ReceiptInvalid,
)


def _retried(error: type[Exception]) -> bool:
    """How the system sorts an error: the worker and the API catch ``DependencyUnavailable``
    (a dependency away: tried again) and the pipeline ``TransientProviderError`` (a retry
    round); anything else of the tree is final."""
    return issubclass(error, DependencyUnavailable | TransientProviderError)


@pytest.mark.parametrize("error", TRANSIENT)
def test_transient_errors_are_retried(error: type[WaveComError]) -> None:
    assert issubclass(error, WaveComError)
    assert _retried(error)
    assert not issubclass(error, PermanentProviderError)


@pytest.mark.parametrize("error", PERMANENT)
def test_permanent_errors_are_not(error: type[WaveComError]) -> None:
    assert issubclass(error, WaveComError)
    assert not _retried(error)


def test_a_provider_s_failure_is_either_transient_or_permanent_never_both() -> None:
    assert issubclass(TransientProviderError, ProviderError)
    assert issubclass(PermanentProviderError, ProviderError)
    assert not issubclass(PermanentProviderError, TransientProviderError)
    assert not issubclass(TransientProviderError, PermanentProviderError)
    # a deferred send is retried like any transient one (the breaker tells them apart)
    assert issubclass(SendDeferred, TransientProviderError)
    # a broker nack is the broker being unavailable for that publish
    assert issubclass(PublishRejected, BrokerUnavailable)
    assert issubclass(BrokerUnavailable, DependencyUnavailable)
    assert issubclass(StoreUnavailable, DependencyUnavailable)
    assert issubclass(MockRefused, ProviderConfigError)


def test_what_each_error_carries() -> None:
    deferred = SendDeferred("slow down", provider="textwave", retry_after_s=7.5)
    assert (str(deferred), deferred.provider, deferred.retry_after_s) == (
        "slow down",
        "textwave",
        7.5,
    )
    assert TransientProviderError("timeout").retry_after_s is None
    assert TransientProviderError("timeout").provider == ""
    assert PermanentProviderError("invalid number", provider="mailer").provider == "mailer"
    assert Overloaded("busy").retry_after_s == 1
    assert Overloaded("busy", retry_after_s=3).retry_after_s == 3
    invalid = ReceiptInvalid("MessageSid is missing", field="MessageSid")
    assert (str(invalid), invalid.field) == ("MessageSid is missing", "MessageSid")
    assert ReceiptInvalid("unreadable").field is None
