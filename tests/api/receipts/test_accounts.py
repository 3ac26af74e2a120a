"""``wavecom.api.receipts.accounts``: the account a receipt names, with its secrets open.

Accounts are read from the real database on every receipt: an enabled account of one of the
drivers comes with its settings and opened credentials; one that does not exist, is disabled,
has another driver, is unreadable or whose credentials do not open with this process's key is
refused like a wrong signature; a new revision (a rotated secret) counts at once, while the
same revision is opened only once; ``secret`` gives the first credential it names."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from pydantic import SecretStr

from wavecom.api.receipts.accounts import ReceiptAccount, ReceiptAccounts, secret
from wavecom.core.errors import ReceiptRejected
from wavecom.core.settings import Settings
from wavecom.providers.credentials import Cipher
from wavecom.store import Store

GATEWAY = {"channel": "SMS", "driver": "webhook", "settings": {"url": "https://gw.example/send"}}


def new_key() -> SecretStr:
    return SecretStr(base64.b64encode(os.urandom(32)).decode())


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"credentials_key": new_key()})


async def put(
    store: Store, settings: Settings, name: str, credentials: dict[str, Any] | None, **spec: Any
) -> None:
    sealed = Cipher.of(settings).seal(name, credentials) if credentials is not None else None
    await store.accounts.put(name, {**GATEWAY, **spec, "credentials": sealed}, "admin")


async def test_an_enabled_account_comes_with_its_credentials_open(
    store: Store, keyed: Settings
) -> None:
    await put(store, keyed, "bank-gw", {"secret": "whsec_abc"})
    got = await ReceiptAccounts(store, keyed).get("bank-gw", ("webhook",))
    assert got == ReceiptAccount(
        "bank-gw", "webhook", {"url": "https://gw.example/send"}, {"secret": "whsec_abc"}
    )


async def test_an_account_without_credentials_has_none(store: Store, keyed: Settings) -> None:
    await put(store, keyed, "bank-gw", None)
    got = await ReceiptAccounts(store, keyed).get("bank-gw", ("webhook",))
    assert got.credentials == {}


@pytest.mark.parametrize("case", ["missing", "disabled", "other driver", "unreadable"])
async def test_an_account_that_takes_no_receipts_is_refused(
    store: Store, keyed: Settings, case: str
) -> None:
    if case == "disabled":
        await put(store, keyed, "bank-gw", {"secret": "s"}, enabled=False)
    elif case == "other driver":
        await put(store, keyed, "bank-gw", {"secret": "s"}, driver="twilio")
    elif case == "unreadable":
        await put(store, keyed, "bank-gw", {"secret": "s"}, channel="FAX")
    with pytest.raises(ReceiptRejected, match="no webhook/mailgun account 'bank-gw'"):
        await ReceiptAccounts(store, keyed).get("bank-gw", ("webhook", "mailgun"))


async def test_credentials_sealed_with_another_key_are_refused(
    store: Store, keyed: Settings
) -> None:
    await put(store, keyed, "bank-gw", {"secret": "s"})
    elsewhere = keyed.model_copy(update={"credentials_key": new_key()})
    with pytest.raises(ReceiptRejected, match="do not open here"):
        await ReceiptAccounts(store, elsewhere).get("bank-gw", ("webhook",))


async def test_a_new_revision_counts_at_once_the_same_one_is_opened_once(
    store: Store, keyed: Settings
) -> None:
    accounts = ReceiptAccounts(store, keyed)
    await put(store, keyed, "bank-gw", {"secret": "old"})
    assert (await accounts.get("bank-gw", ("webhook",))).credentials == {"secret": "old"}
    # a cipher that opens nothing: the same revision still answers from what was opened
    accounts.cipher = Cipher.of(keyed.model_copy(update={"credentials_key": new_key()}))
    assert (await accounts.get("bank-gw", ("webhook",))).credentials == {"secret": "old"}
    accounts.cipher = Cipher.of(keyed)
    await put(store, keyed, "bank-gw", {"secret": "rotated"})
    assert (await accounts.get("bank-gw", ("webhook",))).credentials == {"secret": "rotated"}
    await store.accounts.remove("bank-gw")
    with pytest.raises(ReceiptRejected):
        await accounts.get("bank-gw", ("webhook",))


def test_the_secret_is_the_first_credential_named() -> None:
    account = ReceiptAccount("bank-gw", "webhook", {}, {"old": "", "secret": "s2", "n": 5})
    assert secret(account, "old", "secret") == "s2"
    assert secret(account, "secret", "old") == "s2"
    with pytest.raises(ReceiptRejected, match="has no old or n to verify with"):
        secret(account, "old", "n")
