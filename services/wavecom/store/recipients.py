"""Recipients as the indexes see them: a keyed hash, so no index holds personal data.

The support desk asks "what happened to this customer's OTP?": notifications are found by
recipient through ``recipientHash``, HMAC-SHA256 of the normalised recipient under a key made
once per installation (32 random bytes in the ``installation`` collection, written by
whichever process starts first: a unique insert decides). The index holds only
hashes; the document keeps the recipient itself, as it must to deliver. The key lives beside
the data it protects on purpose: whoever can read it can read the recipients anyway, and
nobody has to provision it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc

KEY_ID = "recipient-hash-key"


def normalised(recipient: str) -> str:
    """The form two spellings of one recipient share: e-mail addresses (the only recipients
    with an @: phone numbers and device tokens have none) compare without case."""
    recipient = recipient.strip()
    return recipient.lower() if "@" in recipient else recipient


class RecipientHasher:
    """``hasher(recipient)``: the hex digest the recipient index holds (128 bits)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, recipient: str) -> str:
        message = normalised(recipient).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    @classmethod
    async def load(cls, collection: AsyncCollection[Doc]) -> RecipientHasher:
        """The installation's key: read it, or make it if this is the first process."""
        try:
            doc = await collection.find_one({"_id": KEY_ID})
            if doc is None:
                # another process may make it first: then this insert fails and theirs is used
                with contextlib.suppress(DuplicateKeyError):
                    await collection.insert_one(
                        {"_id": KEY_ID, "key": Binary(secrets.token_bytes(32))}
                    )
                doc = await collection.find_one({"_id": KEY_ID})
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read the recipient-hash key: {exc}") from exc
        if doc is None:
            raise StoreUnavailable("the recipient-hash key was not written")
        return cls(bytes(doc["key"]))
