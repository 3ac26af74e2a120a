"""Provider accounts as data, against the real database: validated before anything is written,
a revision per write, one owner per account, no mock in production (the seed is
tests/providers/test_seed.py's, the YAML tests/providers/test_manifests.py's)."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from wavecom.core.constants import Channel
from wavecom.core.errors import MockRefused, ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.providers.seed import seed
from wavecom.store import Store

CIPHER = Cipher({"k1": os.urandom(32)}, "k1")
SMTP = accounts.AccountSpec(
    channel=Channel.EMAIL,
    driver="smtp",
    settings={"host": "127.0.0.1", "port": 2525, "fromAddress": "otp@bank.example"},
    credentials_secret_ref=accounts.SecretRef(name="smtp-creds"),
)
SMTP_CREDS = {"username": "ops", "password": "pw-never-stored-plain"}


async def test_apply_seals_credentials_and_bumps_both_revisions(store: Store) -> None:
    start = await store.accounts.revision()
    first = await accounts.apply(
        store, CIPHER, "relay", SMTP, SMTP_CREDS, source="admin", environment="test"
    )
    assert first.revision == 1
    assert first.sealed is not None
    doc = await store.accounts.get("relay")
    assert doc is not None
    assert "pw-never-stored-plain" not in str(doc)
    assert CIPHER.open("relay", doc["credentials"]) == SMTP_CREDS
    again = await accounts.apply(
        store,
        CIPHER,
        "relay",
        SMTP.model_copy(update={"priority": 7}),
        SMTP_CREDS,
        source="admin",
        environment="test",
    )
    assert again.revision == 2
    assert again.spec.priority == 7
    assert await store.accounts.revision() == start + 2
    assert [a.name for a in await accounts.list_accounts(store, Channel.EMAIL)] == ["relay"]
    assert await accounts.list_accounts(store, Channel.SMS) == []


@pytest.mark.parametrize(
    ("name", "spec", "creds", "message"),
    [
        ("Relay_1", SMTP, SMTP_CREDS, "DNS label"),
        ("relay", SMTP, None, "was not resolved"),
        ("relay", SMTP, {"username": "ops"}, "credentials: .*username and password"),
        ("relay", SMTP, {**SMTP_CREDS, "apiKey": "x"}, "credentials.apiKey"),
        ("relay", SMTP.model_copy(update={"settings": {"port": 2525}}), SMTP_CREDS, "host"),
        ("relay", SMTP.model_copy(update={"channel": Channel.SMS}), SMTP_CREDS, "cannot deliver"),
    ],
)
async def test_a_bad_account_is_refused_with_its_field_and_nothing_is_written(
    store: Store, name: str, spec: accounts.AccountSpec, creds: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(ProviderConfigError, match=message) as err:
        await accounts.apply(store, CIPHER, name, spec, creds, source="admin", environment="test")
    assert "pw-never-stored-plain" not in str(err.value)
    assert await store.accounts.all() == []
    assert await store.accounts.revision() == 0


async def test_a_webhook_secret_outside_24_to_64_bytes_is_refused_naming_the_account(
    store: Store,
) -> None:
    spec = accounts.AccountSpec(
        channel=Channel.SMS,
        driver="webhook",
        settings={"url": "https://gw.bank.example/sms"},
        credentials_secret_ref=accounts.SecretRef(name="gw-creds"),
    )
    for size in (16, 23, 65):
        secret = "whsec_" + base64.b64encode(os.urandom(size)).decode()
        with pytest.raises(ProviderConfigError) as err:
            await accounts.apply(
                store,
                CIPHER,
                "sms-gw",
                spec,
                {"secret": secret},
                source="admin",
                environment="test",
            )
        assert str(err.value).startswith("provider 'sms-gw'")
        assert f"decodes to {size} bytes; Standard Webhooks asks for 24 to 64" in str(err.value)
        assert secret.removeprefix("whsec_") not in str(err.value)
    assert await store.accounts.all() == []
    for size in (24, 64):
        secret = "whsec_" + base64.b64encode(os.urandom(size)).decode()
        await accounts.apply(
            store, CIPHER, "sms-gw", spec, {"secret": secret}, source="admin", environment="test"
        )


async def test_an_account_has_one_owner_except_what_the_seed_wrote(
    store: Store, worker_settings: Settings
) -> None:
    assert await seed(store, worker_settings, Channel.EMAIL)
    seeded = {a.name: a for a in await accounts.list_accounts(store)}
    assert {a.source for a in seeded.values()} == {"seed"}
    # the operator takes over a seeded account; then the admin CLI cannot change it
    spec = seeded["alpha"].spec
    await accounts.apply(
        store, CIPHER, "alpha", spec, None, source="kubernetes:ns/alpha", environment="test"
    )
    with pytest.raises(accounts.AccountConflict, match="kubernetes:ns/alpha"):
        await accounts.apply(store, CIPHER, "alpha", spec, None, source="admin", environment="test")
    assert not await accounts.remove(store, "alpha", source="admin")
    assert await accounts.remove(store, "alpha", source="kubernetes:ns/alpha")
    assert "alpha" not in {a.name for a in await accounts.list_accounts(store)}


async def test_production_refuses_a_mock_by_name_and_seeds_nothing(
    settings: Settings, store: Store
) -> None:
    production = settings.model_copy(update={"environment": "production"})
    mock = accounts.AccountSpec(channel=Channel.SMS, driver="mock", enabled=False)
    with pytest.raises(MockRefused, match=r"'rehearsal'.*ENVIRONMENT=production"):
        await accounts.apply(
            store, CIPHER, "rehearsal", mock, None, source="admin", environment="production"
        )
    for channel in Channel:
        assert not await seed(store, production, channel)
    assert await store.accounts.all() == []
    assert await store.accounts.revision() == 0
    # a real driver is applied in production as anywhere
    await accounts.apply(
        store, CIPHER, "relay", SMTP, SMTP_CREDS, source="admin", environment="production"
    )
    assert [a.name for a in await accounts.list_accounts(store)] == ["relay"]
