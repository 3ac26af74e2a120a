"""Fixtures the driver tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import fcm as fcm_kit
from tests.support import smtp as smtp_kit
from tests.support import twilio as twilio_kit
from tests.support import webhook as webhook_kit
from wavecom.providers.base import Provider

# the fake providers' fixtures, defined beside their servers in tests/support
google, keys, google_driver = fcm_kit.google, fcm_kit.keys, fcm_kit.google_driver
tls, servers, providers = smtp_kit.tls, smtp_kit.servers, smtp_kit.providers
twilio = twilio_kit.twilio
gateway = webhook_kit.gateway


@pytest.fixture
async def made() -> AsyncIterator[list[Provider]]:
    providers: list[Provider] = []
    yield providers
    for p in providers:
        await p.close()
