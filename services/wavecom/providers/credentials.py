"""Provider credentials encrypted at rest: AES-256-GCM, the account's name as associated data.

The key comes from settings (``CREDENTIALS_KEY``, 32 bytes in base64, named by
``CREDENTIALS_KEY_ID``); a second key (``CREDENTIALS_PREVIOUS_KEY`` / ``_ID``) is accepted for
reading while a rotation is under way: ``python -m wavecom.admin providers rotate`` re-encrypts
every account with the current key. Decrypted credentials live only in a worker's memory.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wavecom.core.errors import ProviderConfigError
from wavecom.core.settings import Settings

_NONCE_BYTES = 12


def decode_key(value: str, what: str) -> bytes:
    """A 256-bit key from its base64 text, or a clear error (never the value)."""
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderConfigError(f"{what} is not base64") from None
    if len(key) != 32:
        raise ProviderConfigError(f"{what} must be 32 bytes (AES-256), not {len(key)}")
    return key


class Cipher:
    """Encrypts with the current key; decrypts with whichever key id a sealed value names."""

    def __init__(self, keys: Mapping[str, bytes], current: str | None) -> None:
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current = current

    @classmethod
    def of(cls, settings: Settings) -> Cipher:
        keys: dict[str, bytes] = {}
        current = settings.credentials_key.get_secret_value()
        previous = settings.credentials_previous_key.get_secret_value()
        if current:
            keys[settings.credentials_key_id] = decode_key(current, "CREDENTIALS_KEY")
        if previous:
            keys[settings.credentials_previous_key_id] = decode_key(
                previous, "CREDENTIALS_PREVIOUS_KEY"
            )
        return cls(keys, settings.credentials_key_id if current else None)

    def seal(self, account: str, credentials: Mapping[str, Any]) -> dict[str, str]:
        """``credentials`` as a document that names its key: ``{keyId, nonce, ciphertext}``."""
        if self.current is None:
            raise ProviderConfigError(
                f"provider {account!r} has credentials but CREDENTIALS_KEY is not set: "
                "nothing is stored unencrypted"
            )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current].encrypt(
            nonce, orjson.dumps(dict(credentials)), account.encode()
        )
        return {
            "keyId": self.current,
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed).decode(),
        }

    def open(self, account: str, sealed: Mapping[str, str]) -> dict[str, Any]:
        """The credentials again; :class:`ProviderConfigError` if no key opens them."""
        key = self._keys.get(sealed.get("keyId", ""))
        if key is None:
            raise ProviderConfigError(
                f"provider {account!r}: its credentials are sealed with key id "
                f"{sealed.get('keyId')!r}, which is neither CREDENTIALS_KEY_ID nor "
                "CREDENTIALS_PREVIOUS_KEY_ID"
            )
        try:
            plain = key.decrypt(
                base64.b64decode(sealed["nonce"]),
                base64.b64decode(sealed["ciphertext"]),
                account.encode(),
            )
        except (InvalidTag, KeyError, binascii.Error, ValueError):
            raise ProviderConfigError(
                f"provider {account!r}: its credentials do not open with key id "
                f"{sealed.get('keyId')!r} (tampered with, or sealed for another account)"
            ) from None
        value = orjson.loads(plain)
        if not isinstance(value, dict):
            raise ProviderConfigError(f"provider {account!r}: its credentials are not a mapping")
        return value

    def is_current(self, sealed: Mapping[str, str]) -> bool:
        return sealed.get("keyId") == self.current
