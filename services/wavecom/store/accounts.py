"""Provider accounts as documents, and the one revision document the workers poll.

Every write to an account bumps its own ``revision`` and then the ``providers`` revision
document, in that order: a worker that reads the revision first and the accounts second may
see accounts newer than the revision it read, never older (it only reloads once more).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from wavecom.store.documents import Doc, utcnow

_REVISION_ID = "providers"
SEED_SOURCE = "seed"  # what the seed wrote may be taken over by any other source


class OwnedElsewhere(Exception):
    """The account exists and another source (an operator namespace, the admin CLI) owns it."""

    def __init__(self, name: str, owner: str) -> None:
        super().__init__(f"provider {name!r} is managed by {owner}")
        self.owner = owner


class ProviderAccounts:
    """The ``provideraccounts`` collection (``_id`` is the account's name) and its revision."""

    def __init__(self, accounts: AsyncCollection[Doc], revisions: AsyncCollection[Doc]) -> None:
        self.accounts = accounts
        self.revisions = revisions

    async def revision(self) -> int:
        """The configuration's revision: one cheap read by ``_id``."""
        doc = await self.revisions.find_one({"_id": _REVISION_ID}, {"revision": 1})
        return int(doc["revision"]) if doc else 0

    async def all(self, channel: str | None = None) -> list[Doc]:
        query: dict[str, Any] = {} if channel is None else {"channel": channel}
        return [d async for d in self.accounts.find(query).sort("_id", 1)]

    async def listed(self) -> list[dict[str, Any]]:
        """Every account as the API shows it: its fields, never its credentials."""
        out = []
        for d in await self.all():
            sealed = d.pop("credentials", None)
            name = d.pop("_id")
            updated = d.pop("updatedAt", None)
            out.append(
                {
                    "name": name,
                    **d,
                    "hasCredentials": sealed is not None,
                    "updatedAt": updated.isoformat() if updated else None,
                }
            )
        return out

    async def get(self, name: str) -> Doc | None:
        return await self.accounts.find_one({"_id": name})

    async def put(self, name: str, fields: Mapping[str, Any], source: str) -> Doc:
        """Create or replace the account's fields (revision + 1) unless another source owns it.

        A conditional update of an account of this source (or of the seed), else a unique
        insert (no upsert: FerretDB v2 answers a conflicting upsert with an internal error, not
        a duplicate key); an insert that collides means someone else owns that name, or a
        writer of this source was faster, and then the update is tried once more.
        """
        mine = {"_id": name, "source": {"$in": [source, SEED_SOURCE]}}
        change = {"$set": {**fields, "source": source, "updatedAt": utcnow()}}
        for _ in range(2):
            doc = await self.accounts.find_one_and_update(
                mine, {**change, "$inc": {"revision": 1}}, return_document=ReturnDocument.AFTER
            )
            if doc is None:
                doc = {"_id": name, **change["$set"], "revision": 1}
                try:
                    await self.accounts.insert_one(doc)
                except DuplicateKeyError:
                    owner = await self.accounts.find_one({"_id": name}, {"source": 1})
                    if owner is not None and owner.get("source") not in (source, SEED_SOURCE):
                        raise OwnedElsewhere(name, str(owner.get("source"))) from None
                    continue
            await self._bump()
            return doc
        raise OwnedElsewhere(name, "a concurrent writer")

    async def reseal(self, name: str, revision: int, credentials: Mapping[str, str]) -> bool:
        """Replace an account's sealed credentials if it is still at ``revision``."""
        res = await self.accounts.update_one(
            {"_id": name, "revision": revision},
            {
                "$set": {"credentials": dict(credentials), "updatedAt": utcnow()},
                "$inc": {"revision": 1},
            },
        )
        if res.modified_count:
            await self._bump()
        return bool(res.modified_count)

    async def remove(self, name: str, source: str | None = None) -> bool:
        """Delete the account (only if ``source`` owns it, when given)."""
        query: dict[str, Any] = {"_id": name}
        if source is not None:
            query["source"] = {"$in": [source, SEED_SOURCE]}
        res = await self.accounts.delete_one(query)
        if res.deleted_count:
            await self._bump()
        return bool(res.deleted_count)

    async def seed(self, channel: str, docs: Sequence[Mapping[str, Any]]) -> bool:
        """Give a channel its first accounts, once per installation; True if these were written.

        The channel is marked seeded in the revision document after its accounts are inserted,
        so a crash in between only means the next start seeds again (inserts of existing names
        are skipped); an operator who deletes every account later is not re-seeded.
        """
        marker = await self.revisions.find_one({"_id": _REVISION_ID, "seeded": channel})
        if marker is not None or await self.accounts.find_one({"channel": channel}, {"_id": 1}):
            return False
        now = utcnow()
        for d in docs:
            try:
                await self.accounts.insert_one(
                    {
                        **d,
                        "channel": channel,
                        "source": SEED_SOURCE,
                        "revision": 1,
                        "updatedAt": now,
                    }
                )
            except DuplicateKeyError:
                continue
        await self.revisions.update_one(
            {"_id": _REVISION_ID},
            {"$addToSet": {"seeded": channel}, "$inc": {"revision": 1}},
            upsert=True,
        )
        return True

    async def _bump(self) -> None:
        await self.revisions.update_one(
            {"_id": _REVISION_ID}, {"$inc": {"revision": 1}}, upsert=True
        )
