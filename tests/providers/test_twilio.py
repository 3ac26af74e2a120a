"""The Twilio driver against a local server that checks the request as Twilio documents it."""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from tests.support.servers import closed_port
from tests.support.twilio import FakeTwilio, driver, request, twilio_error
from wavecom.core.errors import PermanentProviderError, TransientProviderError
from wavecom.providers.base import Provider

SERVICE = "MG" + "fedcba9876543210" * 2


async def test_a_send_posts_the_documented_form_and_returns_the_sid(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    fake, base_url = twilio
    provider = driver(made, base_url)
    first = await provider.send(request(i=1))
    second = await provider.send(request(i=2))
    assert (first.provider, first.provider_message_id) == ("textwave", f"SM{1:032x}")
    assert second.provider_message_id == f"SM{2:032x}"
    assert fake.forms[0] == {
        "To": "+2348012345678",
        "Body": "Your code is 123456",
        "From": "+15005550006",
    }
    assert fake.peers[0] == fake.peers[1]  # one pooled connection, kept alive


async def test_a_messaging_service_can_be_the_sender(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    fake, base_url = twilio
    await driver(made, base_url, messagingServiceSid=SERVICE).send(request())
    assert fake.forms[0]["MessagingServiceSid"] == SERVICE
    assert "From" not in fake.forms[0]


async def test_429_is_transient_with_its_retry_after(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    fake, base_url = twilio
    limited = twilio_error(429, 20429, "Too Many Requests")
    limited.headers["Retry-After"] = "3"
    fake.replies.append(limited)
    with pytest.raises(TransientProviderError, match="HTTP 429, Twilio error 20429") as caught:
        await driver(made, base_url).send(request())
    assert caught.value.retry_after_s == 3.0


async def test_5xx_is_transient_and_an_http_date_retry_after_is_understood(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    fake, base_url = twilio
    unavailable = twilio_error(503, 20503, "Service Unavailable")
    unavailable.headers["Retry-After"] = email.utils.formatdate(time.time() + 120, usegmt=True)
    fake.replies += [unavailable, web.Response(status=500, text="<html>oops</html>")]
    provider = driver(made, base_url)
    with pytest.raises(TransientProviderError, match="HTTP 503") as caught:
        await provider.send(request())
    assert caught.value.retry_after_s is not None
    assert 115 < caught.value.retry_after_s <= 121
    with pytest.raises(TransientProviderError, match="HTTP 500") as caught:
        await provider.send(request())
    assert caught.value.retry_after_s is None


async def test_an_invalid_number_is_permanent_with_twilios_code_and_message(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    _, base_url = twilio
    with pytest.raises(PermanentProviderError) as caught:
        await driver(made, base_url).send(request("+15005550001"))
    assert "HTTP 400, Twilio error 21211" in str(caught.value)
    assert "is not a valid phone number" in str(caught.value)


async def test_refused_credentials_and_a_bad_sender_are_transient(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    fake, base_url = twilio
    with pytest.raises(TransientProviderError, match="HTTP 401, Twilio error 20003"):
        await driver(made, base_url, token="0" * 32).send(request())
    fake.replies.append(
        twilio_error(400, 21212, "The 'From' number +1 is not a valid phone number")
    )
    with pytest.raises(TransientProviderError, match="Twilio error 21212"):
        await driver(made, base_url).send(request())


async def test_a_slow_answer_times_out_as_transient(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    fake, base_url = twilio
    fake.hold = asyncio.Event()
    with pytest.raises(TransientProviderError, match="timed out"):
        await driver(made, base_url, timeout_s=0.3).send(request())


async def test_a_refused_connection_is_transient(made: list[Provider]) -> None:
    provider = driver(made, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(TransientProviderError, match="ConnectError"):
        await provider.send(request())


async def test_the_remaining_validity_goes_as_validity_period_clamped_to_twilios_bounds(
    twilio: tuple[FakeTwilio, str], made: list[Provider]
) -> None:
    fake, base_url = twilio
    provider = driver(made, base_url)
    now = datetime.now(UTC)
    for i, left in enumerate((timedelta(seconds=120), timedelta(days=2), timedelta(seconds=-5))):
        await provider.send(replace(request(i=i), expires_at=now + left))
    await provider.send(request(i=9))  # no expiry: Twilio's default (36000 s)
    periods = [form.get("ValidityPeriod") for form in fake.forms]
    assert periods[0] is not None
    assert 115 <= int(periods[0]) <= 120
    # more than Twilio takes is its maximum; under a second (already late here) its minimum
    assert periods[1:] == ["36000", "1", None]
