"""Only account-wide failures open an account's breaker: a busy device or a 429 does not.

The pipeline's breaker with the real FCM and Twilio drivers against the local fakes: the error
tree says which answers are about the account (TransientProviderError) and which are about one
send or recipient (SendDeferred); the pipeline only counts the first kind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import fcm as fcm_kit
from tests.support import twilio as twilio_kit
from tests.support.fcm import FakeGoogle, fcm_error
from tests.support.twilio import FakeTwilio, twilio_error
from wavecom.core.constants import Channel, Priority, Status
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings
from wavecom.providers.base import Provider
from wavecom.providers.routes import RouteTable
from wavecom.worker.pipeline import Dispatcher


def job(channel: Channel, recipient: str, i: int) -> DeliveryJob:
    return DeliveryJob(
        id=f"{i:024x}",
        tenant_id="t",
        type=channel,
        recipient=recipient,
        message="Your code is 123456",
        priority=Priority.HIGH,
    )


@pytest.fixture
async def dispatchers() -> AsyncIterator[list[Dispatcher]]:
    made: list[Dispatcher] = []
    yield made
    for d in made:
        await d.table.close()


def dispatcher(made: list[Dispatcher], provider: Provider) -> Dispatcher:
    d = Dispatcher(RouteTable([provider], Settings(retry_jitter=0.0, breaker_fail_max=2)))
    made.append(d)
    return d


async def test_fcm_quota_exceeded_for_devices_leaves_the_breaker_closed_outages_open_it(
    google: tuple[FakeGoogle, str],
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    dispatchers: list[Dispatcher],
) -> None:
    fake, base_url = google
    d = dispatcher(dispatchers, fcm_kit.driver([], base_url, keys[0]))
    for i in range(5):  # more than breaker_fail_max devices over their message rate
        fake.replies.append(
            fcm_error(429, "RESOURCE_EXHAUSTED", "Device message rate exceeded", "QUOTA_EXCEEDED")
        )
        attempted = await d.deliver(job(Channel.PUSH, f"device-token-{i:04d}", i))
        assert attempted.outcome.status is Status.RETRYING
        assert "QUOTA_EXCEEDED" in (attempted.outcome.error or "")
    assert d.table.breaker_states() == {"pushfire": "closed"}
    sent = await d.deliver(job(Channel.PUSH, "device-token-9999", 99))
    assert sent.outcome.status is Status.SENT  # the account kept serving every other device
    for i in range(2):  # FCM itself failing is the account's problem: it opens
        fake.replies.append(fcm_error(503, "UNAVAILABLE", "The service is unavailable"))
        await d.deliver(job(Channel.PUSH, f"device-token-1{i:03d}", 100 + i))
    assert d.table.breaker_states() == {"pushfire": "open"}


async def test_twilio_429s_leave_the_breaker_closed_5xx_open_it(
    twilio: tuple[FakeTwilio, str], dispatchers: list[Dispatcher]
) -> None:
    fake, base_url = twilio
    d = dispatcher(dispatchers, twilio_kit.driver([], base_url))
    for i in range(5):
        fake.replies.append(twilio_error(429, 20429, "Too Many Requests"))
        attempted = await d.deliver(job(Channel.SMS, f"+23480123456{i:02d}", i))
        assert attempted.outcome.status is Status.RETRYING
        assert "Twilio error 20429" in (attempted.outcome.error or "")
    assert d.table.breaker_states() == {"textwave": "closed"}
    sent = await d.deliver(job(Channel.SMS, "+2348012345699", 99))
    assert sent.outcome.status is Status.SENT
    for i in range(2):
        fake.replies.append(web.Response(status=503, text="Service Unavailable"))
        await d.deliver(job(Channel.SMS, f"+23480123457{i:02d}", 100 + i))
    assert d.table.breaker_states() == {"textwave": "open"}
