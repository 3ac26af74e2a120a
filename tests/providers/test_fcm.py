"""The FCM driver against a local FCM HTTP v1 endpoint and an OAuth2 token endpoint that checks
the service account's RS256-signed JWT with its public key."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.fcm import PROJECT, FakeGoogle, driver, fcm_error, request
from tests.support.servers import closed_port
from wavecom.core.errors import PermanentProviderError, TransientProviderError
from wavecom.providers.base import Provider


async def test_sends_share_one_token_and_return_the_message_name(
    google_driver: tuple[FakeGoogle, Provider],
) -> None:
    fake, provider = google_driver
    first = await provider.send(request(i=1))
    await provider.send(request(i=2))
    assert first.provider == "pushfire"
    assert first.provider_message_id == f"projects/{PROJECT}/messages/0:1%31bd1c9631bd1c96"
    assert len(fake.issued) == 1
    assert fake.messages[0] == {
        "token": "fcm-device-token-0001",
        "notification": {"title": "Sign-in code", "body": "Your code is 123456"},
        "data": {"userId": "12345", "count": "3"},
    }


async def test_concurrent_sends_wait_for_one_token_request(
    google_driver: tuple[FakeGoogle, Provider],
) -> None:
    fake, provider = google_driver
    await asyncio.gather(*(provider.send(request(i=i)) for i in range(5)))
    assert len(fake.issued) == 1
    assert len(fake.messages) == 5


async def test_a_token_near_expiry_is_refreshed(
    google: tuple[FakeGoogle, str],
    made: list[Provider],
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    fake, base_url = google
    fake.expires_in = 59  # less than the refresh margin: stale as soon as it arrives
    provider = driver(made, base_url, keys[0])
    await provider.send(request(i=1))
    await provider.send(request(i=2))
    assert fake.issued == ["ya29.test-token-1", "ya29.test-token-2"]


async def test_a_refused_token_is_dropped_and_the_send_transient(
    google_driver: tuple[FakeGoogle, Provider],
) -> None:
    fake, provider = google_driver
    await provider.send(request(i=1))
    fake.revoked.add(fake.issued[0])
    with pytest.raises(TransientProviderError, match="HTTP 401 UNAUTHENTICATED"):
        await provider.send(request(i=2))
    await provider.send(request(i=2))
    assert len(fake.issued) == 2


async def test_a_key_google_does_not_know_is_transient_and_sends_nothing(
    google: tuple[FakeGoogle, str],
    made: list[Provider],
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    fake, base_url = google
    with pytest.raises(TransientProviderError, match="HTTP 400 invalid_grant"):
        await driver(made, base_url, keys[1]).send(request())
    assert fake.messages == []


@pytest.mark.parametrize(
    "reply",
    [
        lambda: fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
        lambda: fcm_error(
            400,
            "INVALID_ARGUMENT",
            "The registration token is not a valid FCM registration token",
            "INVALID_ARGUMENT",
        ),
        lambda: fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value'"),
    ],
)
async def test_unregistered_and_invalid_are_permanent(
    google_driver: tuple[FakeGoogle, Provider],
    reply: Any,
) -> None:
    fake, provider = google_driver
    fake.replies.append(reply())
    with pytest.raises(PermanentProviderError, match=r"UNREGISTERED|INVALID_ARGUMENT"):
        await provider.send(request())


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [
        (429, "QUOTA_EXCEEDED", "10"),
        (503, "UNAVAILABLE", "5"),
        (500, "INTERNAL", None),
    ],
)
async def test_quota_unavailable_and_internal_are_transient_with_retry_after(
    google_driver: tuple[FakeGoogle, Provider],
    status: int,
    code: str,
    retry_after: str | None,
) -> None:
    fake, provider = google_driver
    answer = fcm_error(status, code, "try again", code)
    if retry_after:
        answer.headers["Retry-After"] = retry_after
    fake.replies.append(answer)
    with pytest.raises(TransientProviderError, match=f"HTTP {status} {code}") as caught:
        await provider.send(request())
    assert caught.value.retry_after_s == (float(retry_after) if retry_after else None)


async def test_a_slow_answer_times_out_as_transient(
    google: tuple[FakeGoogle, str],
    made: list[Provider],
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    fake, base_url = google
    fake.hold = asyncio.Event()
    with pytest.raises(TransientProviderError, match="timed out"):
        await driver(made, base_url, keys[0], timeout_s=0.3).send(request())


async def test_a_refused_connection_is_transient(
    made: list[Provider], keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    provider = driver(made, f"http://127.0.0.1:{closed_port()}", keys[0])
    with pytest.raises(TransientProviderError, match="ConnectError"):
        await provider.send(request())


async def test_the_remaining_validity_goes_as_android_ttl_and_apns_expiration(
    google_driver: tuple[FakeGoogle, Provider],
) -> None:
    fake, provider = google_driver
    expires = datetime.now(UTC) + timedelta(seconds=90)
    await provider.send(replace(request(i=1), expires_at=expires))
    far = datetime.now(UTC) + timedelta(days=40)  # beyond FCM's four weeks: capped
    await provider.send(replace(request(i=2), expires_at=far))
    await provider.send(request(i=3))  # no expiry: FCM's defaults, nothing sent
    first, second, endless = fake.messages
    assert 85 <= int(first["android"]["ttl"][:-1]) <= 90
    assert first["apns"] == {"headers": {"apns-expiration": str(int(expires.timestamp()) + 1)}}
    assert second["android"] == {"ttl": "2419200s"}
    assert "android" not in endless
    assert "apns" not in endless
