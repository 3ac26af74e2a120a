"""The driver factory builds each driver from an account's settings and credentials, and says
which field is wrong without ever repeating a value."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from wavecom.core.constants import Channel
from wavecom.core.errors import ProviderConfigError
from wavecom.providers.drivers import build_driver
from wavecom.providers.fcm import FcmProvider
from wavecom.providers.mock import MockProvider
from wavecom.providers.smtp import SmtpProvider
from wavecom.providers.twilio import TwilioProvider
from wavecom.providers.webhook import WebhookProvider

SID = "AC" + "0" * 32
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
EC_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


async def test_each_driver_is_built_from_its_settings() -> None:
    built = [
        build_driver("m", Channel.SMS, "mock", {"latencyMs": 0}, {}, send_rate=5),
        build_driver(
            "s",
            Channel.EMAIL,
            "smtp",
            {"host": "smtp.example.com", "from_address": "otp@bank.example"},
            {"username": "u", "password": "p"},
        ),
        build_driver(
            "t",
            Channel.SMS,
            "twilio",
            {"fromNumber": "+15005550006"},
            {"accountSid": SID, "authToken": "tok"},
        ),
        build_driver(
            "w", Channel.PUSH, "webhook", {"url": "https://gw.example/h"}, {"secret": SECRET}
        ),
    ]
    assert [type(p) for p in built] == [MockProvider, SmtpProvider, TwilioProvider, WebhookProvider]
    assert built[0].send_rate == 5  # the account's cap, not the fake provider's own limit
    assert [p.channel for p in built] == [Channel.SMS, Channel.EMAIL, Channel.SMS, Channel.PUSH]
    for p in built:
        await p.close()


@pytest.mark.parametrize(
    ("driver", "channel", "settings", "credentials", "error"),
    [
        ("sendgrid", Channel.EMAIL, {}, {}, "unknown driver; one of mock, smtp"),
        ("smtp", Channel.SMS, {}, {}, "cannot deliver SMS"),
        (
            "smtp",
            Channel.EMAIL,
            {"host": "h", "fromAddress": "a@b.example", "port": "x"},
            {},
            "settings.port: Input should be a valid integer",
        ),
        (
            "smtp",
            Channel.EMAIL,
            {"host": "h", "fromAddress": "a@b.example", "security": "ssl"},
            {},
            "settings.security: Input should be 'tls', 'starttls' or 'none'",
        ),
        (
            "smtp",
            Channel.EMAIL,
            {"host": "h", "fromAddress": "a@b.example"},
            {"password": "hunter2-secret"},
            "credentials: Value error, give both username and password",
        ),
        (
            "smtp",
            Channel.EMAIL,
            {"host": "h", "fromAddress": "a@b.example", "caCert": "-----BEGIN nonsense"},
            {},
            "settings.caCert: Value error, not a PEM bundle",
        ),
        (
            "twilio",
            Channel.SMS,
            {},
            {"authToken": "hunter2-secret"},
            "credentials.accountSid: Field required",
        ),
        (
            "twilio",
            Channel.SMS,
            {"fromNumber": "+1", "messagingServiceSid": "MG" + "0" * 32},
            {"accountSid": SID, "authToken": "t"},
            "give exactly one of fromNumber and messagingServiceSid",
        ),
        (
            "webhook",
            Channel.SMS,
            {"url": "ftp://x"},
            {"secret": SECRET},
            "settings.url: URL scheme",
        ),
        (
            "webhook",
            Channel.SMS,
            {"url": "https://gw.example"},
            {"secret": "whsec_hunter2-secret!!"},
            "credentials.secret: Value error, the secret is not base64",
        ),
        (
            "webhook",
            Channel.SMS,
            {"url": "https://gw.example"},
            {"secret": "whsec_" + base64.b64encode(b"hunter2-" * 2).decode()},
            "credentials.secret: Value error, the secret decodes to 16 bytes; "
            "Standard Webhooks asks for 24 to 64",
        ),
        (
            "webhook",
            Channel.SMS,
            {"url": "https://gw.example"},
            {"secret": "whsec_" + base64.b64encode(b"hunter2-" * 8 + b"!").decode()},
            "credentials.secret: Value error, the secret decodes to 65 bytes",
        ),
        (
            "fcm",
            Channel.PUSH,
            {},
            {"client_email": "a@b.example", "private_key": EC_PEM},
            "credentials.private_key: Value error, not an RSA private key",
        ),
        ("mock", Channel.SMS, {"latencyMs": -1}, {}, "settings.latencyMs: Input should be"),
        ("mock", Channel.SMS, {}, {"apiKey": "hunter2-secret"}, "credentials: the mock takes none"),
    ],
)
def test_a_bad_account_names_the_field_and_never_the_value(
    driver: str,
    channel: Channel,
    settings: dict[str, Any],
    credentials: dict[str, Any],
    error: str,
) -> None:
    with pytest.raises(ProviderConfigError, match=r"^provider 'acct'") as caught:
        build_driver("acct", channel, driver, settings, credentials)
    assert error in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None  # pydantic's own text would quote the input


async def test_fcm_needs_a_project_id_from_the_settings_or_the_key() -> None:
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    key = {"client_email": "a@b.example", "private_key": pem}
    with pytest.raises(ProviderConfigError, match="projectId"):
        build_driver("acct", Channel.PUSH, "fcm", {}, key)
    provider = build_driver("acct", Channel.PUSH, "fcm", {"projectId": "p"}, key)
    assert isinstance(provider, FcmProvider)
    await provider.close()
