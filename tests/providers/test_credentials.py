"""Credentials sealed with AES-256-GCM: bound to their account, readable across a rotation."""

from __future__ import annotations

import base64
import os

import pytest

from wavecom.core.errors import ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.providers.credentials import Cipher, decode_key

CREDS = {"username": "ops", "password": "s3cret-value"}


def key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_sealed_credentials_open_only_for_their_account_and_hide_the_value() -> None:
    cipher = Cipher.of(Settings(credentials_key=key_text(), credentials_key_id="k1"))
    sealed = cipher.seal("mailgrid", CREDS)
    assert sealed["keyId"] == "k1"
    assert "s3cret-value" not in str(sealed)
    assert cipher.open("mailgrid", sealed) == CREDS
    with pytest.raises(ProviderConfigError, match="do not open") as err:
        cipher.open("postbox", sealed)  # copied onto another account: refused
    assert "s3cret" not in str(err.value)
    tampered = {**sealed, "ciphertext": base64.b64encode(b"x" * 40).decode()}
    with pytest.raises(ProviderConfigError, match="do not open"):
        cipher.open("mailgrid", tampered)


def test_a_rotation_reads_the_previous_key_and_seals_with_the_new_one() -> None:
    old, new = key_text(), key_text()
    before = Cipher.of(Settings(credentials_key=old, credentials_key_id="2026-01"))
    sealed = before.seal("textwave", CREDS)
    during = Cipher.of(
        Settings(
            credentials_key=new,
            credentials_key_id="2026-12",
            credentials_previous_key=old,
            credentials_previous_key_id="2026-01",
        )
    )
    assert during.open("textwave", sealed) == CREDS
    assert not during.is_current(sealed)
    resealed = during.seal("textwave", CREDS)
    assert resealed["keyId"] == "2026-12"
    assert during.is_current(resealed)
    after = Cipher.of(Settings(credentials_key=new, credentials_key_id="2026-12"))
    with pytest.raises(ProviderConfigError, match="neither"):
        after.open("textwave", sealed)


def test_nothing_is_sealed_without_a_key_and_bad_keys_are_refused() -> None:
    with pytest.raises(ProviderConfigError, match="CREDENTIALS_KEY is not set"):
        Cipher.of(Settings()).seal("mailgrid", CREDS)
    with pytest.raises(ProviderConfigError, match="32 bytes"):
        decode_key(base64.b64encode(b"short").decode(), "CREDENTIALS_KEY")
    with pytest.raises(ProviderConfigError, match="not base64"):
        decode_key("***", "CREDENTIALS_KEY")
    with pytest.raises(ValueError, match="must differ"):
        Settings(
            credentials_key=key_text(),
            credentials_previous_key=key_text(),
            credentials_key_id="k1",
            credentials_previous_key_id="k1",
        )
    assert "s3cret" not in repr(Settings(credentials_key=key_text()))
