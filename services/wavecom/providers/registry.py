"""Build each channel's provider accounts, in failover order, from settings."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from wavecom.constants import Channel
from wavecom.errors import WaveComError
from wavecom.providers.mock import MockProvider, MockProviderConfig
from wavecom.settings import Settings

_DEFAULTS: dict[Channel, tuple[str, str]] = {
    Channel.EMAIL: ("mailgrid", "postbox"),
    Channel.SMS: ("textwave", "smsly"),
    Channel.PUSH: ("pushfire", "beamer"),
}

_configs = TypeAdapter(list[MockProviderConfig])


def provider_configs(settings: Settings, channel: Channel) -> list[MockProviderConfig]:
    """The channel's accounts: PROVIDERS_<CHANNEL> as a JSON list, or two healthy defaults."""
    raw = settings.providers_json(channel)
    if not raw:
        return [
            MockProviderConfig(name=name, seed=settings.provider_seed)
            for name in _DEFAULTS[channel]
        ]
    try:
        configs = _configs.validate_json(raw)
    except ValidationError as exc:
        raise WaveComError(f"PROVIDERS_{channel.value} is not valid: {exc}") from exc
    if not configs:
        raise WaveComError(f"PROVIDERS_{channel.value} names no provider")
    return configs


def build_providers(settings: Settings, channel: Channel) -> list[MockProvider]:
    return [
        MockProvider(channel, cfg, ledger_dir=settings.ledger_dir)
        for cfg in provider_configs(settings, channel)
    ]
