"""Build a provider account's driver from its ``driver`` name, settings and credentials.

A provider account names its driver (``mock``, ``smtp``, ``twilio``, ``fcm``, ``webhook``) and
holds the driver's settings and (decrypted) credentials as plain dicts; :func:`build_driver`
validates both against the driver's models and returns a :class:`Provider` ready to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from wavecom.core.constants import Channel
from wavecom.core.errors import ProviderConfigError
from wavecom.providers.base import Provider
from wavecom.providers.fcm import FcmCredentials, FcmProvider, FcmSettings
from wavecom.providers.mock import MockProvider, MockProviderConfig
from wavecom.providers.smtp import SmtpCredentials, SmtpProvider, SmtpSettings
from wavecom.providers.twilio import TwilioCredentials, TwilioProvider, TwilioSettings
from wavecom.providers.webhook import WebhookCredentials, WebhookProvider, WebhookSettings

_M = TypeVar("_M", bound=BaseModel)
_S = TypeVar("_S", bound=BaseModel)
_C = TypeVar("_C", bound=BaseModel)

# the channels each driver can deliver on
CHANNELS: dict[str, frozenset[Channel]] = {
    "mock": frozenset(Channel),
    "smtp": frozenset({Channel.EMAIL}),
    "twilio": frozenset({Channel.SMS}),
    "fcm": frozenset({Channel.PUSH}),
    "webhook": frozenset(Channel),
}


def build_driver(
    name: str,
    channel: Channel,
    driver: str,
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    send_rate: float = 0.0,
    timeout_s: float = 10.0,
    *,
    ledger_dir: str = "",
    public_base_url: str = "",
) -> Provider:
    """The driver for one account, or :class:`ProviderConfigError` naming each bad field.

    ``send_rate`` is the account's send-rate cap (sends a second, 0: none) that the pipeline
    enforces; ``timeout_s`` bounds each send. ``ledger_dir`` is only for the mock's ledger; a
    mock's own ``rateLimitPerSec`` setting is the limit of the provider it pretends to be.
    ``public_base_url``: where providers reach the API (PUBLIC_BASE_URL), for the Twilio
    driver's status callback URL.
    """
    where = f"provider {name!r} (driver {driver!r})"
    if driver not in CHANNELS:
        raise ProviderConfigError(f"{where}: unknown driver; one of {', '.join(CHANNELS)}")
    if channel not in CHANNELS[driver]:
        raise ProviderConfigError(f"{where}: cannot deliver {channel.value}")
    if timeout_s <= 0 or send_rate < 0:
        raise ProviderConfigError(f"{where}: timeout must be > 0 and send rate >= 0")

    try:
        match driver:
            case "smtp":
                return SmtpProvider(
                    name,
                    *_valid(SmtpSettings, SmtpCredentials, settings, credentials, where),
                    send_rate=send_rate,
                    timeout_s=timeout_s,
                )
            case "twilio":
                return TwilioProvider(
                    name,
                    *_valid(TwilioSettings, TwilioCredentials, settings, credentials, where),
                    send_rate=send_rate,
                    timeout_s=timeout_s,
                    public_base_url=public_base_url,
                )
            case "fcm":
                return FcmProvider(
                    name,
                    *_valid(FcmSettings, FcmCredentials, settings, credentials, where),
                    send_rate=send_rate,
                    timeout_s=timeout_s,
                )
            case "webhook":
                return WebhookProvider(
                    name,
                    channel,
                    *_valid(WebhookSettings, WebhookCredentials, settings, credentials, where),
                    send_rate=send_rate,
                    timeout_s=timeout_s,
                )
            case _:
                problems: list[str] = []
                if credentials:
                    problems.append("credentials: the mock takes none")
                config = _check(
                    MockProviderConfig, {**settings, "name": name}, "settings", problems
                )
                if config is None or problems:
                    raise ProviderConfigError(f"{where}: {'; '.join(problems)}")
                mock = MockProvider(channel, config, ledger_dir=ledger_dir)
                mock.send_rate = send_rate  # the pipeline's cap; rateLimitPerSec is the fake's
                return mock
    except ValueError as exc:  # a check across settings and credentials (fcm's project id)
        raise ProviderConfigError(f"{where}: {exc}") from None


def _valid(
    settings_model: type[_S],
    credentials_model: type[_C],
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    where: str,
) -> tuple[_S, _C]:
    """Both parts validated, or one error listing every problem in either."""
    problems: list[str] = []
    valid_settings = _check(settings_model, settings, "settings", problems)
    valid_credentials = _check(credentials_model, credentials, "credentials", problems)
    if valid_settings is None or valid_credentials is None:
        raise ProviderConfigError(f"{where}: {'; '.join(problems)}")
    return valid_settings, valid_credentials


def _check(model: type[_M], data: Mapping[str, Any], part: str, problems: list[str]) -> _M | None:
    """``data`` as ``model``, or None with each field and what is wrong (never the value)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        for e in exc.errors(include_url=False, include_input=False, include_context=False):
            field = ".".join([part, *(str(x) for x in e["loc"])])
            problems.append(f"{field}: {e['msg']}")
        return None
