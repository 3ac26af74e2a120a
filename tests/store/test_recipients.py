"""``wavecom.store.recipients`` on the real database: the recipient hash is keyed (HMAC-SHA256
under the installation's key, not a plain digest anyone can recompute), stable across processes
and spellings of one recipient, different between installations, and the only recipient data
the lookup index holds. The key is made once: processes starting together agree on one."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest

from tests.support.documents import doc
from wavecom.core.constants import INSTALLATION, NOTIFICATIONS
from wavecom.store import RecipientHasher, Store
from wavecom.store.indexes import BY_RECIPIENT
from wavecom.store.recipients import KEY_ID, normalised


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (" Ada@Example.COM ", "ada@example.com"),
        ("+2348012345678 ", "+2348012345678"),
        ("DeviceToken:AbC", "DeviceToken:AbC"),  # no @: case kept
    ],
)
def test_only_email_addresses_compare_without_case(given: str, expected: str) -> None:
    assert normalised(given) == expected


async def test_the_key_is_made_once_and_the_hash_is_its_hmac(store: Store) -> None:
    hasher = await store.recipient_hasher()
    stored = await store.db[INSTALLATION].find_one({"_id": KEY_ID})
    assert stored is not None
    key = bytes(stored["key"])
    assert len(key) == 32
    digest = hasher("+2348012345678")
    assert digest == hmac.new(key, b"+2348012345678", hashlib.sha256).hexdigest()[:32]
    assert digest != hashlib.sha256(b"+2348012345678").hexdigest()[:32]  # keyed, not plain
    assert len(digest) == 32
    assert set(digest) <= set("0123456789abcdef")
    # loaded again, the same key: nothing new written
    assert (await RecipientHasher.load(store.db[INSTALLATION]))("+2348012345678") == digest
    assert await store.db[INSTALLATION].count_documents({}) == 1


async def test_spellings_of_one_recipient_hash_alike_and_others_apart(store: Store) -> None:
    hasher = await store.recipient_hasher()
    assert hasher("Ada@Example.com") == hasher(" ada@example.COM")
    assert hasher("ada@example.com") != hasher("bob@example.com")
    assert hasher("+2348012345678") != hasher("+2348012345679")


async def test_processes_starting_together_agree_on_one_key(
    store: Store, other_store: Store
) -> None:
    hashers = await asyncio.gather(
        *(RecipientHasher.load(s.db[INSTALLATION]) for s in (store, other_store) for _ in range(3))
    )
    assert len({h("ada@example.com") for h in hashers}) == 1
    assert await store.db[INSTALLATION].count_documents({}) == 1


def test_installations_with_different_keys_hash_apart() -> None:
    a, b = RecipientHasher(b"a" * 32), RecipientHasher(b"b" * 32)
    assert a("ada@example.com") != b("ada@example.com")
    assert a("ada@example.com") == RecipientHasher(b"a" * 32)("ada@example.com")


async def test_the_recipient_index_holds_the_hash_never_the_recipient(store: Store) -> None:
    info = await store.db[NOTIFICATIONS].index_information()
    keys = [field for field, _ in info[BY_RECIPIENT]["key"]]
    assert keys == ["tenantId", "recipientHash", "createdAt"]
    assert not any("recipient" in [f for f, _ in i["key"]] for i in info.values())
    # a notification is found by the hash of its recipient, through that index
    hasher = await store.recipient_hasher()
    d = doc(1)
    d["recipientHash"] = hasher(d["recipient"])
    await store.notifications.insert([d])
    found = (
        await store.db[NOTIFICATIONS]
        .find({"tenantId": "acme", "recipientHash": hasher(f" {d['recipient']} ")})
        .hint(BY_RECIPIENT)
        .to_list(None)
    )
    assert [f["_id"] for f in found] == [d["_id"]]
