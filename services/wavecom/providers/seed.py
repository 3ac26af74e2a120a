"""The accounts of an empty development or test installation: PROVIDERS_<CHANNEL> (a JSON list
of mock accounts) or two healthy mock accounts per channel. Written once per channel; later
changes go through the operator or the admin CLI. Never in production: there the mock driver is
refused (:func:`wavecom.providers.accounts.refuse_mock`), and a channel waits, not ready, until
a real account is applied."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from wavecom.core.constants import Channel
from wavecom.core.errors import ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.providers.accounts import AccountSpec
from wavecom.providers.mock import MockProviderConfig
from wavecom.store import Store

_DEFAULTS: dict[Channel, tuple[str, str]] = {
    Channel.EMAIL: ("mailgrid", "postbox"),
    Channel.SMS: ("textwave", "smsly"),
    Channel.PUSH: ("pushfire", "beamer"),
}

_configs = TypeAdapter(list[MockProviderConfig])


def seed_configs(settings: Settings, channel: Channel) -> list[MockProviderConfig]:
    """The channel's seed: PROVIDERS_<CHANNEL> as a JSON list, or two healthy defaults."""
    raw = settings.providers_json(channel)
    if not raw:
        return [
            MockProviderConfig(name=name, seed=settings.provider_seed)
            for name in _DEFAULTS[channel]
        ]
    try:
        configs = _configs.validate_json(raw)
    except ValidationError as exc:
        raise ProviderConfigError(f"PROVIDERS_{channel.value} is not valid: {exc}") from exc
    if not configs:
        raise ProviderConfigError(f"PROVIDERS_{channel.value} names no provider")
    return configs


def seed_documents(settings: Settings, channel: Channel) -> list[dict[str, Any]]:
    """The seed as account documents, in failover order (priority 10, 20, ...)."""
    docs: list[dict[str, Any]] = []
    for i, cfg in enumerate(seed_configs(settings, channel)):
        mock = cfg.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        mock.pop("name", None)
        spec = AccountSpec(
            channel=channel,
            driver="mock",
            priority=10 * (i + 1),
            # the pipeline stays under the cap the mock enforces, as it would for a real one
            send_rate_per_second=cfg.rate_limit_per_s,
            settings=mock,
        )
        docs.append({"_id": cfg.name, **spec.document(), "credentials": None})
    return docs


async def seed(store: Store, settings: Settings, channel: Channel) -> bool:
    """Write the channel's seed if it never had accounts; True if it was written now (never in
    production)."""
    if settings.environment == "production":
        return False
    return await store.accounts.seed(channel.value, seed_documents(settings, channel))
