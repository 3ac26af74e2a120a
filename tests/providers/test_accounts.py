"""Provider accounts as data, against the real database: validated before anything is written,
a revision per write, one owner per account, the seed once per installation."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from tests.support.notifications import put_mock_account
from wavecom.core.constants import Channel
from wavecom.core.errors import MockRefused, ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.providers.manifests import parse, secret_values
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


def test_manifests_resolve_their_secrets_and_refuse_what_they_do_not_take() -> None:
    password = base64.b64encode(b"pw").decode()
    text = f"""
apiVersion: notify.wavecom.io/v1alpha1
kind: NotificationProvider
metadata: {{name: relay}}
spec:
  channel: EMAIL
  driver: smtp
  priority: 10
  settings: {{host: smtp.bank.example, fromAddress: otp@bank.example}}
  credentialsSecretRef: {{name: smtp-creds}}
---
apiVersion: v1
kind: Secret
metadata: {{name: smtp-creds, labels: {{notify.wavecom.io/provider-credentials: "true"}}}}
data: {{password: {password}}}
stringData: {{username: ops}}
"""
    (resource,) = parse([text])
    assert resource.name == "relay"
    assert resource.spec.priority == 10
    assert resource.credentials == {"username": "ops", "password": "pw"}
    with pytest.raises(ProviderConfigError, match="'smtp-creds' is not in the files"):
        parse([text.split("---", maxsplit=1)[0]])
    with pytest.raises(ProviderConfigError, match=r"spec\.priority"):
        parse([text.replace("priority: 10", "priority: -1")])
    with pytest.raises(ProviderConfigError, match=r"spec\.channel"):
        parse([text.replace("channel: EMAIL", "channel: FAX")])
    with pytest.raises(ProviderConfigError, match=r"only notify\.wavecom\.io/v1alpha1"):
        parse(["apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"])
    with pytest.raises(ProviderConfigError, match="appears twice"):
        parse([text.split("---", maxsplit=1)[0], text.split("---", maxsplit=1)[0]])
    with pytest.raises(ProviderConfigError, match="not base64"):
        secret_values({"data": {"password": "***"}})


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
