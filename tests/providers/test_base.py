"""``wavecom.providers.base``: what every driver offers the pipeline.

A send's idempotency key and remaining validity, the Provider protocol's default ``flush``
(a driver that buffers nothing inherits it), the settings models' two spellings, and the
error classes a driver raises: transient ones are retried (SendDeferred among them, though it
says nothing of the account), permanent ones are not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from wavecom.core.constants import Channel
from wavecom.core.errors import (
    PermanentProviderError,
    ProviderError,
    SendDeferred,
    TransientProviderError,
    WaveComError,
)
from wavecom.providers.base import DriverModel, Provider, Receipt, SendRequest


def request(**changes: object) -> SendRequest:
    fields: dict[str, object] = {
        "notification_id": "65f0c0ffee0000000000abcd",
        "attempt": 3,
        "channel": Channel.SMS,
        "recipient": "+2348012345678",
        "message": "Your code is 123456",
        **changes,
    }
    return SendRequest(**fields)  # type: ignore[arg-type]


def test_the_idempotency_key_is_the_notification_and_its_attempt() -> None:
    assert request().idempotency_key == "65f0c0ffee0000000000abcd:3"
    # a later round of the same attempt is recognised; the next attempt is a new send
    assert request(recovering=True).idempotency_key == request().idempotency_key
    assert request(attempt=4).idempotency_key != request().idempotency_key


def test_remaining_validity_is_none_without_an_expiry_and_never_negative() -> None:
    assert request().remaining_s() is None
    assert request(expires_at=datetime.now(UTC) - timedelta(minutes=5)).remaining_s() == 0.0
    left = request(expires_at=datetime.now(UTC) + timedelta(hours=1)).remaining_s()
    assert left is not None
    assert 0 < left <= 3600


class Quiet(Provider):
    """A driver that buffers nothing: it defines neither ``flush`` nor anything else optional."""

    def __init__(self) -> None:
        self.name = "quiet"
        self.channel = Channel.EMAIL
        self.send_rate = 0.0
        self.sent: list[SendRequest] = []

    async def send(self, request: SendRequest) -> Receipt:
        self.sent.append(request)
        return Receipt(provider=self.name, provider_message_id=f"m{len(self.sent)}")

    async def close(self) -> None:
        return


async def test_a_driver_that_buffers_nothing_inherits_a_flush_that_does_nothing() -> None:
    quiet = Quiet()
    receipt = await quiet.send(request(channel=Channel.EMAIL, recipient="a@bank.example"))
    assert receipt == Receipt(provider="quiet", provider_message_id="m1", repeated=False)
    assert Quiet.flush is Provider.flush
    quiet.flush()
    assert len(quiet.sent) == 1  # flushing sent nothing again


class Relay(DriverModel):
    from_address: str
    port: int = 25


def test_driver_settings_take_camel_or_snake_case_and_refuse_extras() -> None:
    assert Relay.model_validate({"fromAddress": "otp@bank.example"}).from_address == (
        "otp@bank.example"
    )
    assert Relay.model_validate({"from_address": "otp@bank.example", "port": 587}).port == 587
    with pytest.raises(ValidationError, match="hostname"):
        Relay.model_validate({"fromAddress": "otp@bank.example", "hostname": "x"})
    relay = Relay(from_address="otp@bank.example")
    with pytest.raises(ValidationError):
        relay.port = 2525  # type: ignore[misc]  # frozen: a driver's settings never change under it


def test_transient_errors_are_retried_permanent_ones_are_not() -> None:
    slow = SendDeferred("twilio: 429", provider="bank-sms", retry_after_s=30.0)
    down = TransientProviderError("twilio: 503", provider="bank-sms")
    bad = PermanentProviderError("twilio: invalid number", provider="bank-sms")
    for error in (slow, down, bad):
        assert isinstance(error, ProviderError)
        assert isinstance(error, WaveComError)
        assert error.provider == "bank-sms"
    # the pipeline retries every TransientProviderError: a deferral is one
    assert isinstance(slow, TransientProviderError)
    assert not isinstance(bad, TransientProviderError)
    assert not isinstance(down, SendDeferred | PermanentProviderError)
    assert slow.retry_after_s == 30.0
    assert down.retry_after_s is None
    assert str(bad) == "twilio: invalid number"
