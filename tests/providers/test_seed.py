"""``wavecom.providers.seed``: the accounts of an empty development or test installation.

PROVIDERS_<CHANNEL> (a JSON list of mock accounts) or two healthy mocks per channel, in
failover order, written once per channel on the real database and never in production.
"""

from __future__ import annotations

import pytest

from tests.support.notifications import put_mock_account
from wavecom.core.constants import Channel
from wavecom.core.errors import ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.seed import seed, seed_configs, seed_documents
from wavecom.store import Store


def test_without_providers_json_each_channel_gets_two_healthy_mocks() -> None:
    settings = Settings(provider_seed=7)
    defaults = {c: [m.name for m in seed_configs(settings, c)] for c in Channel}
    assert defaults == {
        Channel.EMAIL: ["mailgrid", "postbox"],
        Channel.SMS: ["textwave", "smsly"],
        Channel.PUSH: ["pushfire", "beamer"],
    }
    for config in seed_configs(settings, Channel.SMS):
        assert config.seed == 7
        assert config.transient_failure_rate == config.permanent_failure_rate == 0.0


def test_the_seed_documents_are_mock_accounts_in_failover_order() -> None:
    settings = Settings(
        providers_sms='[{"name": "fast", "latencyMs": 1, "rateLimitPerSec": 40},'
        ' {"name": "slow", "latencyMs": 900}, {"name": "last"}]'
    )
    docs = seed_documents(settings, Channel.SMS)
    assert [d["_id"] for d in docs] == ["fast", "slow", "last"]
    assert [d["priority"] for d in docs] == [10, 20, 30]
    assert {d["driver"] for d in docs} == {"mock"}
    assert all(d["credentials"] is None for d in docs)
    fast = docs[0]
    assert fast["sendRatePerSecond"] == 40  # the pipeline keeps under the mock's own cap
    assert fast["settings"] == {"latencyMs": 1, "rateLimitPerSec": 40}  # no name, no defaults
    assert docs[2]["settings"] == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[]", "PROVIDERS_EMAIL names no provider"),
        ("{not json", "PROVIDERS_EMAIL is not valid"),
        ('[{"name": "x", "latencyMs": -1}]', "PROVIDERS_EMAIL is not valid"),
        ('[{"name": "x", "colour": "red"}]', "PROVIDERS_EMAIL is not valid"),
    ],
)
def test_a_bad_providers_json_is_refused_naming_the_variable(raw: str, message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        seed_documents(Settings(providers_email=raw), Channel.EMAIL)


async def test_production_is_never_seeded_even_with_providers_json(
    settings: Settings, store: Store
) -> None:
    production = settings.model_copy(
        update={"environment": "production", "providers_sms": '[{"name": "x"}]'}
    )
    assert not await seed(store, production, Channel.SMS)
    assert await store.accounts.all() == []
    # the same installation outside production is seeded
    assert await seed(store, production.model_copy(update={"environment": "test"}), Channel.SMS)
    assert [a.name for a in await accounts.list_accounts(store, Channel.SMS)] == ["x"]


async def test_the_seed_is_written_once_per_channel(
    store: Store, worker_settings: Settings
) -> None:
    settings = worker_settings
    assert await seed(store, settings, Channel.EMAIL)
    names = {a.name: a for a in await accounts.list_accounts(store, Channel.EMAIL)}
    assert list(names) == ["alpha", "beta"]  # the tests' PROVIDERS_EMAIL
    assert names["alpha"].spec.priority < names["beta"].spec.priority
    for name in names:
        await accounts.remove(store, name)
    assert not await seed(store, settings, Channel.EMAIL)  # emptied on purpose: stays empty
    assert await accounts.list_accounts(store, Channel.EMAIL) == []
    assert await seed(store, settings, Channel.SMS)
    await put_mock_account(store, "extra", Channel.PUSH)
    assert not await seed(store, settings, Channel.PUSH)  # it has an account already
